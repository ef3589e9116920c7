/**
 * npm run bench:estimate — how close the pre-submission estimate comes to the bill, on a realistic job: synthetic
 * support tickets sharing one long cached system prompt (examples/support-tickets.ts), split into several batches.
 * Real processes as in bench:job (a Temporal dev server, the emulator, a worker). Per size in BENCH_ESTIMATE_SIZES
 * (default 2,000 and 20,000 tickets) it runs the dry-run `estimateJob`, then the real `batchJob` on the same input,
 * and compares the run's estimate (measured by its pilot) with the emulator's bill for the batches (its own price list)
 * and with the job's report; the dry run's (output assumed) is printed beside it.
 *
 * BENCH_ESTIMATE_CHUNK sets the requests per batch (default: a quarter of the size, so every size has 4 batches);
 * BENCH_ESTIMATE_TIME_SCALE the emulator's virtual seconds per real second (default 60).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { writeTicketJob, ticketRequest } from '../examples/support-tickets.js';
import type { Estimate } from '../shared/estimate.js';
import type { JobReportSummary } from '../shared/job-types.js';
import { promptTokensOf, type TokenTotals } from '../shared/pricing.js';
import type { JobReport } from '../shared/report.js';
import type { EstimateJobResult } from '../workflows/estimate-job.js';
import { startBenchTemporal, startCli, startBenchWorker } from './bench-stack.js';

const SIZES = (process.env.BENCH_ESTIMATE_SIZES ?? '2000,20000').split(',').map(Number);
const CHUNK = process.env.BENCH_ESTIMATE_CHUNK ? Number(process.env.BENCH_ESTIMATE_CHUNK) : undefined;
const TIME_SCALE = process.env.BENCH_ESTIMATE_TIME_SCALE ?? '60';
const INPUT_GOAL = 0.05;

const CLASSES: { key: keyof TokenTotals; label: string }[] = [
  { key: 'input', label: 'uncached input' },
  { key: 'cacheWrite5m', label: '5m cache writes' },
  { key: 'cacheWrite1h', label: '1h cache writes' },
  { key: 'cacheRead', label: 'cache reads' },
  { key: 'output', label: 'output' },
];

/** The slice of the emulator's /_emulator/stats this benchmark reads (test/helpers/emulator.ts has all of it). */
interface BatchBill {
  billed: {
    batch: { succeeded: number; usd: number; tokens: Record<string, Partial<TokenTotals>> };
    sync: { requests: number; usd: number };
  };
  batches: { created: number };
}

function sumTokens(byModel: Record<string, Partial<TokenTotals>>): TokenTotals {
  const sum: TokenTotals = { input: 0, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 };
  for (const t of Object.values(byModel)) for (const { key } of CLASSES) sum[key] += t[key] ?? 0;
  return sum;
}

const localPath = (uri: string) => (uri.startsWith('file://') ? fileURLToPath(uri) : uri);

async function run(env: TestWorkflowEnvironment, n: number) {
  const chunk = CHUNK ?? Math.ceil(n / 4);
  const dir = mkdtempSync(path.join(tmpdir(), 'cb-benchestimate-'));
  // The emulator's default processing model (60 s per batch plus 20 ms per request, ±25%), only sped up: how far
  // apart in virtual time the batches run is what decides whether a later batch still finds the prefix cached.
  const emulator = await startCli(
    ['emulator', '--port', '0', '--data-dir', path.join(dir, 'emulator'), '--time-scale', TIME_SCALE],
    {},
    /listening on (\S+)/,
  );
  const url = emulator.match[1]!;
  const taskQueue = `bench-estimate-${n}`;
  const worker = await startBenchWorker({ temporal: env.address, taskQueue, anthropicUrl: url, dir });
  try {
    const input = path.join(dir, 'tickets.jsonl');
    await writeTicketJob(input, n);
    const job = {
      input,
      output: path.join(dir, 'results.jsonl'),
      chunk: { maxRequests: chunk },
      poll: { initial: '2s', max: '5s' },
      approval: { preApproved: true },
    };
    const started = performance.now();
    const dry = (await env.client.workflow.execute('estimateJob', {
      taskQueue,
      workflowId: `bench-estimate-dry-${n}`,
      args: [job],
    })) as EstimateJobResult;
    if (!dry.estimate) throw new Error('the dry run returned no estimate');
    const summary = (await env.client.workflow.execute('batchJob', {
      taskQueue,
      workflowId: `bench-estimate-job-${n}`,
      args: [job],
    })) as JobReportSummary;
    const seconds = (performance.now() - started) / 1000;
    if (summary.lines !== n) throw new Error(`expected ${n} output lines, got ${summary.lines}`);
    const res = await fetch(`${url}/_emulator/stats`);
    if (!res.ok) throw new Error(`emulator stats: ${res.status} ${await res.text()}`);
    const stats = (await res.json()) as BatchBill;
    const report = JSON.parse(readFileSync(localPath(summary.reportJsonUri), 'utf8')) as JobReport;
    if (!report.estimate) throw new Error('the job reported no estimate');
    // The run's own estimate (after its pilot) covers the batches' requests: it is what the batch bill is set against.
    return { n, chunk, seconds, dry: dry.estimate, estimate: report.estimate, chunks: dry.chunks, stats, report };
  } finally {
    worker.child.kill('SIGINT');
    emulator.child.kill();
    await Promise.all([once(worker.child, 'exit'), once(emulator.child, 'exit')]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const num = (x: number) => Math.round(x).toLocaleString('en-US');
const usd = (x: number) => `$${x.toFixed(4)}`;
// A near-miss of a few tokens in millions must not print as "0.00%".
const pct = (share: number) => {
  const p = 100 * share;
  return `${p !== 0 && Math.abs(p) < 0.01 ? p.toPrecision(2) : p.toFixed(2)}%`;
};
const diff = (expected: number, actual: number) =>
  actual === 0 ? (expected === 0 ? '—' : 'n/a (billed 0)') : pct((expected - actual) / actual);

function print(r: Awaited<ReturnType<typeof run>>): void {
  const e: Estimate = r.estimate;
  const billed = sumTokens(r.stats.billed.batch.tokens);
  const billedUsd = r.stats.billed.batch.usd;
  const worstUsd = e.worst?.batchUsd ?? NaN;
  const inside = billedUsd >= 0 && billedUsd <= worstUsd;
  const maxTokens = ticketRequest(0).params.max_tokens;
  console.log(
    `\n${r.n.toLocaleString('en-US')} tickets, ${r.chunks} chunk(s) of up to ${r.chunk.toLocaleString('en-US')} ` +
      `(${r.stats.batches.created} batches created, ${r.stats.billed.batch.succeeded.toLocaleString('en-US')} succeeded), ` +
      `${r.seconds.toFixed(1)} s for dry run + job`,
  );
  const p = e.pilot;
  console.log(
    `  estimate: ${e.method}${e.method === 'sample' ? ` of ${e.sampleSize}` : ''}, inputErrorBound ±${pct(e.inputErrorBound)}, ` +
      (p
        ? `outputRatio ${e.outputRatio.toFixed(4)} measured by a pilot of ${p.answered} (±${pct(p.outputErrorBound)}; pilot ${usd(p.costUsd)} synchronous, ${r.stats.billed.sync.requests} messages billed ${usd(r.stats.billed.sync.usd)})`
        : `outputRatio ${e.outputRatio} (no pilot: output assumed at ${e.outputRatio} × max_tokens ${maxTokens} per request)`),
  );
  const range = e.expectedRange;
  if (range)
    console.log(
      `  95% range of the expected cost: ${usd(range.lowUsd)}–${usd(range.highUsd)}; billed inside it: ${billedUsd >= range.lowUsd && billedUsd <= range.highUsd ? 'yes' : 'no'}`,
    );
  console.log(
    `  dry run (no pilot, output assumed at ${r.dry.outputRatio} × max_tokens): expected ${usd(r.dry.batchUsd)} for all ${r.n.toLocaleString('en-US')} requests, ` +
      `against ${usd(billedUsd + r.stats.billed.sync.usd * 0.5)} billed for them at batch prices (${(r.dry.batchUsd / (billedUsd + r.stats.billed.sync.usd * 0.5)).toFixed(3)}×)`,
  );
  if (e.cacheAssumption) console.log(`  cache assumption: ${e.cacheAssumption}`);
  console.log(
    `  cost of the batches (batch prices): expected ${usd(e.batchUsd)}   worst ${usd(worstUsd)}   billed ${usd(billedUsd)} ` +
      `(report, pilot included: ${usd(r.report.actual.costUsd)} = bill ${usd(billedUsd + r.stats.billed.sync.usd)})`,
  );
  console.log(
    `  actual inside the range [0, worst]: ${inside ? 'yes' : 'NO'}   expected/billed ${(e.batchUsd / billedUsd).toFixed(3)}`,
  );
  const w = [18, 13, 13, 13, 13, 15];
  const row = (cells: string[]) =>
    console.log('  ' + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' '));
  row(['tokens', 'expected', 'worst', 'billed', 'report', 'expected vs billed']);
  for (const { key, label } of CLASSES)
    row([
      label,
      num(e.tokens[key]),
      num(e.worst?.tokens[key] ?? NaN),
      num(billed[key]),
      num(r.report.actual.tokens[key]),
      diff(e.tokens[key], billed[key]),
    ]);
  const expectedInput = promptTokensOf(e.tokens);
  const billedInput = promptTokensOf(billed);
  row([
    'input, all classes',
    num(expectedInput),
    num(e.worst ? promptTokensOf(e.worst.tokens) : NaN),
    num(billedInput),
    num(promptTokensOf(r.report.actual.tokens)),
    diff(expectedInput, billedInput),
  ]);
  const off = Math.abs(expectedInput - billedInput) / billedInput;
  console.log(
    `  expected uncached+cached input vs billed input tokens: ${diff(expectedInput, billedInput)} ` +
      `(${expectedInput - billedInput >= 0 ? '+' : ''}${num(expectedInput - billedInput)} tokens) ` +
      `(goal ±${100 * INPUT_GOAL}%: ${off <= INPUT_GOAL ? 'met' : 'MISSED'})`,
  );
}

const env = await startBenchTemporal();
try {
  console.log(
    `estimate vs bill (dev server, emulator process at time scale ${TIME_SCALE}, worker process; support tickets with a shared 1h-cached system prompt)`,
  );
  for (const n of SIZES) print(await run(env, n));
} finally {
  await env.teardown();
}
