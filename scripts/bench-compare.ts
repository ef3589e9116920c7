/**
 * npm run bench:compare — claude-batch against the script a competent engineer would write instead
 * (scripts/hand-written-batch.ts, the official SDK only), on the same emulator settings, in one run.
 *
 * One Temporal dev server for the run. Per scenario — BENCH_COMPARE_SIZES requests (default 100,000 and 300,000) in
 * batches of BENCH_COMPARE_CHUNK (default 100,000: one batch, then three) — and per contender, a fresh emulator
 * process (time scale 3600, 1 ms per request, as bench:job), so neither finds the other's batches, cache or queue:
 *  - the script runs as its own process; its wall time is from spawn to exit;
 *  - claude-batch runs as `claude-batch run … --yes --no-pilot` (a CLI process) against a `claude-batch worker`
 *    process on a fresh task queue; its wall time is from the CLI's spawn to its exit. The worker is started (and
 *    ready) before the clock starts: it is a long-running service, not part of one job.
 * The script creates every batch at once; claude-batch is told (`--max-queued`) that the organization's queue
 * limit admits them, as it must be for the script not to be refused (its default of 100,000 would make it create
 * each next batch once one has ended). Both poll every second. The pilot (20 synchronous requests measuring output for the estimate) is off, since the
 * script has none; validation and the estimate stay on — they are part of what claude-batch is.
 *
 * Requests are ~1.6 KB: a shared system prompt marked cacheable (as a real job would; at this length it is below
 * every model's minimum cacheable prefix, so the API caches nothing — the size and shape are what matter here)
 * and a short ticket. Both outputs must have exactly one line per request.
 *
 * Peak RSS is the kernel's high-water mark (VmHWM). A process that exits takes its /proc entry with it, so the
 * script and the CLI are sampled every 50 ms while they run (the mark only rises, so the last sample is within 50 ms
 * of the end — after the results are written); the worker stays up and is read after the CLI exits.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { packageRoot } from '../config/load.js';
import { ticketText } from '../examples/support-tickets.js';
import { cli, cpuSeconds, peakRssMb, startBenchTemporal, startCli, startBenchWorker } from './bench-stack.js';
import { activityTimes, printActivities, rssTimeline } from './job-timeline.js';

const SIZES = (process.env.BENCH_COMPARE_SIZES ?? '100000,300000').split(',').map(Number);
const CHUNK = Number(process.env.BENCH_COMPARE_CHUNK ?? 100_000);
const GOAL_ONE_BATCH = 1.2;
const GOAL_SEVERAL = 1.0;
const GOAL_WORKER_MB = 300;
const API_KEY = 'sk-ant-bench';
/**
 * What claude-batch may keep waiting in the API's processing queue (`--max-queued`): as the script sends every batch
 * at once, the job is told the organization's queue admits them all (the job's default, 100,000, is the lowest
 * tier's limit; the script would be refused past an org's limit, the job waits instead). BENCH_COMPARE_QUEUE sets it.
 */
const QUEUE = (n: number) => Number(process.env.BENCH_COMPARE_QUEUE ?? Math.max(100_000, n));
const script = path.join(packageRoot, 'dist', 'scripts', 'hand-written-batch.js');

const SYSTEM = [
  'You are a support triage assistant for Acme Cloud.',
  'Classify the ticket. Answer with one of: billing, bug, feature_request, account, shipping, other. Reply with the label only.',
  ...Array.from(
    { length: 9 },
    (_, i) =>
      `Rule ${i + 1}: route tickets by their main intent; when several apply, prefer the one the customer asks to be fixed first.`,
  ),
].join('\n');

function request(i: number) {
  return {
    custom_id: `ticket-${String(i).padStart(7, '0')}`,
    params: {
      model: 'claude-haiku-4-5',
      max_tokens: 16,
      system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral', ttl: '1h' } }],
      messages: [{ role: 'user', content: `Ticket #${i} from the web form. ${ticketText(i)}` }],
    },
  };
}

async function writeInput(file: string, n: number): Promise<void> {
  const out = createWriteStream(file);
  for (let i = 0; i < n; i++) if (!out.write(JSON.stringify(request(i)) + '\n')) await once(out, 'drain');
  out.end();
  await once(out, 'close');
}

/** Exactly one line per request: n lines, n distinct custom_ids, each one of the input's. */
async function checkOutput(file: string, n: number, who: string): Promise<void> {
  const seen = new Set<string>();
  let lines = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line === '') continue;
    lines++;
    const id = (JSON.parse(line) as { custom_id: string }).custom_id;
    const index = Number(id.slice('ticket-'.length));
    if (!id.startsWith('ticket-') || !(index >= 0 && index < n)) throw new Error(`${who}: unknown custom_id ${id}`);
    seen.add(id);
  }
  if (lines !== n || seen.size !== n)
    throw new Error(`${who}: expected ${n} lines, one per request; got ${lines} lines, ${seen.size} distinct ids`);
}

interface Timed {
  seconds: number;
  peakMb: number;
  /** Output lines, each with the seconds since spawn when it arrived. */
  log: { at: number; line: string }[];
}

/** Runs a node script as its own process, timing it from spawn to exit and sampling its peak RSS while it runs. */
function runTimed(args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let peakMb = 0;
  const sample = () => {
    try {
      // An exited process not yet reaped (a zombie) has a status without VmHWM: NaN, skipped.
      const now = peakRssMb(child.pid!);
      if (Number.isFinite(now)) peakMb = Math.max(peakMb, now);
    } catch {
      // Reaped between samples: the last one stands.
    }
  };
  const sampler = setInterval(sample, 50);
  const log: Timed['log'] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (d: Buffer) => {
      const at = (performance.now() - started) / 1000;
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop()!;
      for (const line of parts) log.push({ at, line });
      // Read once more the moment anything is printed: the closing line comes just before exit.
      sample();
    });
  }
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      clearInterval(sampler);
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0)
        reject(new Error(`${path.basename(args[0]!)} exited ${code}:\n${log.map((l) => l.line).join('\n')}`));
      else resolve({ seconds, peakMb, log });
    });
  });
}

function startEmulator(dir: string) {
  return startCli(
    ['emulator', '--port', '0', '--data-dir', dir, '--time-scale', '3600', '--per-request', '1ms'],
    {},
    /listening on (\S+)/,
  );
}

async function runScript(dir: string, input: string) {
  const emulator = await startEmulator(path.join(dir, 'emulator-script'));
  try {
    const output = path.join(dir, 'script-out.jsonl');
    const run = await runTimed(
      [script, '--input', input, '--output', output, '--base-url', emulator.match[1]!, '--max-requests', String(CHUNK)],
      { ANTHROPIC_API_KEY: API_KEY },
    );
    return { ...run, output, emulatorCpu: cpuSeconds(emulator.child.pid!) };
  } finally {
    emulator.child.kill();
    await once(emulator.child, 'exit');
  }
}

async function runClaudeBatch(env: TestWorkflowEnvironment, dir: string, input: string, n: number) {
  const emulator = await startEmulator(path.join(dir, 'emulator-cb'));
  const taskQueue = `bench-compare-${n}`;
  const jobId = `bench-compare-${n}`;
  const worker = await startBenchWorker({
    temporal: env.address,
    taskQueue,
    anthropicUrl: emulator.match[1]!,
    dir,
    apiKey: API_KEY,
  });
  try {
    const output = path.join(dir, 'cb-out.jsonl');
    // The worker's high-water mark over time (from before the job, so the idle worker's own size is the first
    // figure): which step of the job raises it.
    const rss = rssTimeline(worker.child.pid!);
    const workerCpuBefore = cpuSeconds(worker.child.pid!);
    const run = await runTimed(
      [
        cli,
        'run',
        input,
        '--out',
        output,
        '--job-id',
        jobId,
        '--yes',
        '--no-pilot',
        '--chunk-size',
        String(CHUNK),
        '--poll-initial',
        '1s',
        '--poll-max',
        '1s',
        '--max-queued',
        String(QUEUE(n)),
      ],
      { TEMPORAL_ADDRESS: env.address, CLAUDE_BATCH_TASK_QUEUE: taskQueue },
    );
    rss.stop();
    const emulatorCpu = cpuSeconds(emulator.child.pid!);
    const workerCpu = cpuSeconds(worker.child.pid!) - workerCpuBefore;
    const workerMb = peakRssMb(worker.child.pid!);
    const activities = await activityTimes(env.client, jobId);
    // The job starts about when the CLI's first line says so; activity times are from the job's start.
    const jobAt = run.log.find((l) => l.line.startsWith('started job'))?.at ?? 0;
    return {
      ...run,
      output,
      emulatorCpu,
      workerCpu,
      workerMb,
      idleMb: rss.firstMb,
      activities: activities.map((a) => ({ ...a, highMb: rss.at(jobAt, a.last) })),
    };
  } finally {
    worker.child.kill('SIGINT');
    emulator.child.kill();
    await Promise.all([once(worker.child, 'exit'), once(emulator.child, 'exit')]);
  }
}

const s = (x: number) => `${x.toFixed(1)} s`;
const mb = (x: number) => `${x.toFixed(0)} MB`;
const met = (ok: boolean) => (ok ? 'met' : 'MISSED');

async function scenario(env: TestWorkflowEnvironment, n: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'cb-benchcompare-'));
  try {
    const input = path.join(dir, 'requests.jsonl');
    await writeInput(input, n);
    const kb = statSync(input).size / n / 1000;
    const batches = Math.ceil(n / CHUNK);
    const hand = await runScript(dir, input);
    await checkOutput(hand.output, n, 'script');
    const cb = await runClaudeBatch(env, dir, input, n);
    await checkOutput(cb.output, n, 'claude-batch');
    const ratio = cb.seconds / hand.seconds;
    const goal = batches === 1 ? GOAL_ONE_BATCH : GOAL_SEVERAL;
    console.log(
      `\n${n.toLocaleString('en-US')} requests (${kb.toFixed(2)} KB each) in ${batches} batch(es) of up to ${CHUNK.toLocaleString('en-US')}; both outputs one line per request`,
    );
    console.log(`  script:       ${s(hand.seconds)}, peak RSS ${mb(hand.peakMb)}`);
    console.log(
      `  claude-batch: ${s(cb.seconds)}, worker peak RSS ${mb(cb.workerMb)} (goal < ${GOAL_WORKER_MB} MB: ${met(cb.workerMb < GOAL_WORKER_MB)}), CLI peak RSS ${mb(cb.peakMb)}`,
    );
    console.log(
      `  ratio claude-batch / script: ${ratio.toFixed(2)} (goal ≤ ${goal.toFixed(1)}: ${met(ratio <= goal)})`,
    );
    // The emulator is one Node process, so its work is done one thing at a time: a run cannot be shorter than the
    // CPU time the emulator spends on it, and the worker's CPU shares the machine's cores with it.
    console.log(
      `  CPU: the API emulator ${s(hand.emulatorCpu)} in the script's run, ${s(cb.emulatorCpu)} in claude-batch's; claude-batch's worker ${s(cb.workerCpu)}`,
    );
    if (batches > 1)
      console.log(
        `  claude-batch ran with --max-queued ${QUEUE(n).toLocaleString('en-US')} (the organization's batch queue limit${QUEUE(n) >= n ? ', here one that admits every batch at once, as the script assumes' : ''})`,
      );
    // Where each one spends its time: the script's own lines, and the CLI's progress lines (phases as the job
    // reports them), each stamped with the seconds since that process started.
    console.log('  script timeline:');
    for (const l of hand.log) console.log(`    ${l.at.toFixed(1).padStart(6)} s  ${l.line}`);
    console.log('  claude-batch timeline (CLI output):');
    for (const l of cb.log) if (l.line.trim()) console.log(`    ${l.at.toFixed(1).padStart(6)} s  ${l.line}`);
    console.log(
      `  claude-batch activities (from the job's Temporal histories; seconds after the job started; the idle worker: ${mb(cb.idleMb)}):`,
    );
    printActivities(cb.activities);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const env = await startBenchTemporal();
try {
  console.log(
    'claude-batch vs a hand-written SDK script (dev server; a fresh emulator per contender at time scale 3600, 1 ms per request; both poll every 1 s; claude-batch with --no-pilot, validation and estimate on, its worker started before the clock)',
  );
  for (const n of SIZES) await scenario(env, n);
} finally {
  await env.teardown();
}
