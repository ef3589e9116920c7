/**
 * npm run bench:emulator — a 100,000-request (~100 MB) batch through the emulator, run as its own process so its
 * memory is measured alone. Prints create time, processing time, results streamed per second and peak RSS.
 * Goals: ≥ 20,000 result lines/s, peak RSS < 300 MB.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { packageRoot } from '../config/load.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 100_000);
const PAD = 'lorem ipsum dolor sit amet '.repeat(34); // ~1 KB per request

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function main() {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'cb-bench-'));
  const child = spawn(
    process.execPath,
    [
      path.join(packageRoot, 'dist/client/cli.js'),
      'emulator',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--base-latency',
      '1s',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', () => reject(new Error(`emulator exited: ${out}`)));
  });
  const client = new Anthropic({ apiKey: 'bench', baseURL: url, maxRetries: 0, timeout: 600_000 });
  try {
    const requests = Array.from({ length: REQUESTS }, (_, i) => ({
      custom_id: `bench-${i}`,
      params: {
        model: 'claude-haiku-4-5',
        max_tokens: 64,
        system: 'Classify the text. Answer with one of: spam, ham.',
        messages: [{ role: 'user' as const, content: `Message ${i}: ${PAD}` }],
      },
    }));
    const bodyMb = Buffer.byteLength(JSON.stringify({ requests })) / 1e6;

    let t = performance.now();
    const batch = await client.messages.batches.create({ requests });
    const createS = (performance.now() - t) / 1000;

    t = performance.now();
    await fetch(`${url}/_emulator/clock/advance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seconds: 3600 }),
    });
    const ended = await client.messages.batches.retrieve(batch.id);
    const processS = (performance.now() - t) / 1000;
    if (ended.processing_status !== 'ended') throw new Error('batch did not end');

    t = performance.now();
    let lines = 0;
    for await (const _line of await client.messages.batches.results(batch.id)) lines++;
    const streamS = (performance.now() - t) / 1000;
    if (lines !== REQUESTS) throw new Error(`expected ${REQUESTS} result lines, got ${lines}`);

    const rss = peakRssMb(child.pid!);
    console.log(
      `emulator benchmark: ${REQUESTS.toLocaleString('en-US')} requests, ${bodyMb.toFixed(1)} MB create body`,
    );
    console.log(`  create (upload + validate + store):  ${createS.toFixed(2)} s`);
    console.log(`  processing (results generated):      ${processS.toFixed(2)} s`);
    console.log(
      `  results streamed through the SDK:    ${Math.round(lines / streamS).toLocaleString('en-US')} lines/s (${streamS.toFixed(2)} s)   goal ≥ 20,000`,
    );
    console.log(`  emulator peak RSS:                   ${rss.toFixed(0)} MB   goal < 300 MB`);
  } finally {
    child.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
