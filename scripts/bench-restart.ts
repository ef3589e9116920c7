/**
 * npm run bench:restart — how long a job stands still when its worker dies. For each phase (submit, poll, fetch,
 * finalize) a job runs on a worker process that is SIGKILLed mid-phase; a new worker process is started at once,
 * and the bench measures the time until the job makes progress again: the batch recorded as submitted, the next
 * poll or results download reaching the emulator, the output in place. Everything is a real process (a Temporal
 * dev server, the emulator, the workers), and the job keeps its default heartbeat timeout. The workers keep their
 * defaults too, among them the minute a lost create waits before reconciling (CLAUDE_BATCH_RECONCILE_SETTLE, which
 * the workers take from this process's environment). BENCH_RESTART_PHASES picks phases (default: all four).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { packageRoot } from '../config/load.js';
import { startBenchTemporal } from './bench-stack.js';
import { JobInputSchema } from '../shared/job-input.js';
import type { FaultsInput } from '../emulator/faults.js';
import { workerConfigFromEnv } from '../worker/config.js';
import { until } from '../test/helpers/wait.js';
import { downloadedLines } from '../test/helpers/jobs.js';

const PHASES = ['submit', 'poll', 'fetch', 'finalize'] as const;
type Phase = (typeof PHASES)[number];
const wanted = (process.env.BENCH_RESTART_PHASES ?? PHASES.join(',')).split(',') as Phase[];
const cli = path.join(packageRoot, 'dist', 'client', 'cli.js');
const API_KEY = 'sk-ant-bench-restart';
/** How long a restart may take before the bench gives up on it. */
const PROGRESS_TIMEOUT_MS = 5 * 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves at the first line matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<void>;
}

const children = new Set<ChildProcess>();
// A bench that fails midway must not leave workers running against the next one.
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function start(args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string) => void): Proc {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let partialLine = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    const text = d.toString();
    out += text;
    if (onLine) {
      const lines = (partialLine + text).split('\n');
      partialLine = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    }
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      children.delete(child);
      resolve();
    }),
  );
  return {
    child,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out waiting for ${pattern}:\n${out}`)), timeoutMs);
        const check = () => {
          const m = out.match(pattern);
          if (m) done(null, m);
        };
        const onClose = () => done(new Error(`${args[0]} exited before printing ${pattern}:\n${out}`));
        const done = (err: Error | null, m?: RegExpMatchArray) => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('close', onClose);
          if (err) reject(err);
          else resolve(m!);
        };
        listeners.add(check);
        child.once('close', onClose);
        check();
      });
    },
  };
}

/** An API call the emulator logged (`--log`), at the emulator's own wall-clock time. */
interface ApiCall {
  at: number;
  method: string;
  url: string;
}

interface Emulator {
  url: string;
  calls: ApiCall[];
  admin(method: string, route: string, body?: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

async function startEmulator(dir: string, baseLatency: string): Promise<Emulator> {
  const calls: ApiCall[] = [];
  const proc = start(
    [
      'emulator',
      ...['--port', '0', '--data-dir', path.join(dir, 'emulator'), '--time-scale', '1'],
      ...['--base-latency', baseLatency, '--per-request', '0ms', '--spread', '0', '--log'],
    ],
    {},
    (line) => {
      if (!line.startsWith('{')) return;
      try {
        const entry = JSON.parse(line) as { time: number; msg: string; req?: { method: string; url: string } };
        if (entry.msg === 'incoming request' && entry.req && entry.req.url.startsWith('/v1/'))
          calls.push({ at: entry.time, method: entry.req.method, url: entry.req.url });
      } catch {
        // Not a log line.
      }
    },
  );
  const url = (await proc.waitFor(/listening on (http:\/\/\S+)/))[1]!;
  const admin = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${url}${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`emulator ${method} ${route}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  return {
    url,
    calls,
    admin,
    stop: async () => {
      proc.child.kill('SIGTERM');
      await proc.exited;
    },
  };
}

function writeInput(file: string, n: number): void {
  const lines: string[] = [];
  for (let i = 0; i < n; i++)
    lines.push(
      JSON.stringify({
        custom_id: `r-${i}`,
        params: {
          model: 'claude-haiku-4-5',
          max_tokens: 8,
          messages: [{ role: 'user', content: `Classify review ${i}. Answer with one of: good, bad.` }],
        },
      }),
    );
  writeFileSync(file, lines.join('\n') + '\n');
}

interface Scenario {
  requests: number;
  /** Processing time of every batch (at wall speed): long ones stay open, short ones end at once. */
  baseLatency: string;
  faults: FaultsInput;
  /** Resolves at the moment to kill: the phase's work is in flight. */
  killMoment(ctx: Ctx): Promise<void>;
  /** Resolves with what showed the job moving again, once it did (after `since`). */
  progress(ctx: Ctx, since: number): Promise<{ at: number; what: string }>;
}

interface Ctx {
  em: Emulator;
  dataDir: string;
  output: string;
  jobId: string;
  job: WorkflowHandle;
}

const pendingActivities = async (handle: WorkflowHandle) =>
  ((await handle.describe()).raw.pendingActivities ?? [])
    .filter((a) => a.lastStartedTime) // picked up by a worker, not waiting for one
    .map((a) => a.activityType?.name);

const callsSince = (em: Emulator, since: number, match: (c: ApiCall) => boolean) =>
  em.calls.find((c) => c.at >= since && match(c)) ?? null;

const isRetrieve = (c: ApiCall) => c.method === 'GET' && /^\/v1\/messages\/batches\/[^/?]+$/.test(c.url);
const isResults = (c: ApiCall) => c.method === 'GET' && /^\/v1\/messages\/batches\/[^/?]+\/results/.test(c.url);

const SCENARIOS: Record<Phase, Scenario> = {
  // The create is carried out and its answer held back: the worker dies between the two.
  submit: {
    requests: 1000,
    baseLatency: '10h',
    faults: { http: [{ endpoint: 'create', delayAfterMs: 600_000 }] },
    killMoment: async (ctx) => {
      await until(async () => {
        const stats = (await ctx.em.admin('GET', '/_emulator/stats')) as { batches: { created: number } };
        return stats.batches.created === 1 ? true : null;
      }, 'the create');
    },
    progress: async (ctx) => {
      const record = path.join(ctx.dataDir, 'jobs', ctx.jobId, 'rounds', '0', 'submit', 'r0-c0001.batch.json');
      await until(() => (existsSync(record) ? true : null), 'the batch recorded', PROGRESS_TIMEOUT_MS);
      const at = Date.now();
      const { adopted } = JSON.parse(readFileSync(record, 'utf8')) as { adopted: boolean };
      const stats = (await ctx.em.admin('GET', '/_emulator/stats')) as { batches: { created: number } };
      if (!adopted || stats.batches.created !== 1)
        throw new Error(`submit: adopted ${adopted}, ${stats.batches.created} batches created`);
      return { at, what: 'the batch recorded as submitted (adopted, not created again)' };
    },
  },
  // Batches stay open: the worker dies in the durable sleep between two polls.
  poll: {
    requests: 1000,
    baseLatency: '10h',
    faults: {},
    killMoment: async (ctx) => {
      await until(() => (ctx.em.calls.filter(isRetrieve).length >= 2 ? true : null), 'two polls');
      const last = ctx.em.calls.filter(isRetrieve).at(-1)!.at;
      // Past the workflow task that follows the poll: the kill lands in the sleep.
      await sleep(Math.max(0, last + 300 - Date.now()));
    },
    progress: async (ctx, since) => {
      const call = await until(() => callsSince(ctx.em, since, isRetrieve), 'the next poll', PROGRESS_TIMEOUT_MS);
      return { at: call.at, what: 'the next poll reached the API' };
    },
  },
  // A slow download: the worker dies with part of the results on disk.
  fetch: {
    requests: 20_000,
    baseLatency: '1s',
    faults: { resultsLinesPerSecond: 1000 },
    killMoment: async (ctx) => {
      const round = path.join(ctx.dataDir, 'jobs', ctx.jobId, 'rounds', '0');
      await until(
        () => (Object.values(downloadedLines(round)).some((n) => n > 3000) ? true : null),
        'a download under way',
      );
    },
    progress: async (ctx, since) => {
      const call = await until(() => callsSince(ctx.em, since, isResults), 'a new download', PROGRESS_TIMEOUT_MS);
      return { at: call.at, what: 'a new results download started (resuming)' };
    },
  },
  // Finalize writes 20,000 output lines: the worker dies while it runs.
  finalize: {
    requests: 20_000,
    baseLatency: '1s',
    faults: {},
    killMoment: async (ctx) => {
      await until(
        async () => ((await pendingActivities(ctx.job)).includes('finalizeJob') ? true : null),
        'finalize running',
      );
      if (existsSync(ctx.output)) throw new Error('finalize: the output was in place before the kill');
    },
    progress: async (ctx) => {
      await until(() => (existsSync(ctx.output) ? true : null), 'the output', PROGRESS_TIMEOUT_MS);
      return { at: Date.now(), what: 'the output written' };
    },
  },
};

interface Row {
  phase: Phase;
  killToReady: number;
  readyToProgress: number;
  killToProgress: number;
  what: string;
}

async function measure(env: TestWorkflowEnvironment, phase: Phase, scenario: Scenario): Promise<Row> {
  const dir = mkdtempSync(path.join(tmpdir(), `cb-benchrestart-${phase}-`));
  const dataDir = path.join(dir, 'data');
  const em = await startEmulator(dir, scenario.baseLatency);
  const workers: Proc[] = [];
  const taskQueue = `bench-restart-${phase}-${Date.now()}`;
  const startWorker = async () => {
    const w = start(['worker'], {
      TEMPORAL_ADDRESS: env.address,
      CLAUDE_BATCH_TASK_QUEUE: taskQueue,
      ANTHROPIC_API_KEY: API_KEY,
      ANTHROPIC_BASE_URL: em.url,
      CLAUDE_BATCH_DATA_DIR: dataDir,
      CLAUDE_BATCH_ALLOWED_ROOTS: dir,
    });
    workers.push(w);
    await w.waitFor(/claude-batch worker: task queue/);
    return w;
  };
  try {
    await em.admin('PUT', '/_emulator/faults', scenario.faults);
    await startWorker();
    const input = path.join(dir, 'input.jsonl');
    writeInput(input, scenario.requests);
    const output = path.join(dir, 'out.jsonl');
    const jobId = `bench-restart-${phase}-${Date.now()}`;
    const job = await env.client.workflow.start('batchJob', {
      taskQueue,
      workflowId: jobId,
      args: [
        {
          input,
          output,
          chunk: { maxRequests: scenario.requests },
          // Short polls, so that a poll that is due shows the restart, not the poll interval. No heartbeatTimeout:
          // the default applies.
          poll: { initial: '1s', max: '2s' },
          approval: { thresholdUsd: 1e6 },
        },
      ],
    });
    const ctx: Ctx = { em, dataDir, output, jobId, job };
    await scenario.killMoment(ctx);
    const killedAt = Date.now();
    workers.at(-1)!.child.kill('SIGKILL');
    await startWorker();
    const readyAt = Date.now();
    const { at, what } = await scenario.progress(ctx, killedAt);
    // Chunk workflows outlive their job (parent-close policy ABANDON): end both.
    for (const id of [jobId, `${jobId}/r0-c0001`])
      await env.client.workflow
        .getHandle(id)
        .terminate('benchmark over')
        .catch(() => undefined);
    return {
      phase,
      killToReady: readyAt - killedAt,
      readyToProgress: at - readyAt,
      killToProgress: at - killedAt,
      what,
    };
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await em.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const unknown = wanted.filter((p) => !PHASES.includes(p));
if (unknown.length > 0) throw new Error(`BENCH_RESTART_PHASES: unknown phase(s) ${unknown.join(', ')}`);
const { heartbeatTimeout } = JobInputSchema.parse({ input: 'in.jsonl', output: 'out.jsonl' });
// The workers' setting, as they will read it from the environment they inherit.
const { reconcileSettleMs } = workerConfigFromEnv({ ...process.env, ANTHROPIC_API_KEY: API_KEY });
console.log(
  `restart benchmark: SIGKILL the worker mid-phase, start a new one at once (job heartbeat timeout ` +
    `${heartbeatTimeout}, worker reconcile settle ${s(reconcileSettleMs)}, polls every 1-2 s)`,
);

const env = await startBenchTemporal();
try {
  const rows: Row[] = [];
  for (const phase of wanted) {
    const row = await measure(env, phase, SCENARIOS[phase]);
    console.log(`  ${phase}: ${s(row.killToProgress)} from the kill to progress (${row.what})`);
    rows.push(row);
  }
  const header = ['phase', 'kill → worker ready', 'worker ready → progress', 'kill → progress', 'progress seen'];
  const table = [
    header,
    ...rows.map((r) => [r.phase, s(r.killToReady), s(r.readyToProgress), s(r.killToProgress), r.what]),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  console.log('');
  for (const [i, row] of table.entries()) {
    console.log(`  ${row.map((cell, j) => cell.padEnd(widths[j]!)).join('  ')}`.trimEnd());
    if (i === 0) console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  }
  const worst = Math.max(...rows.map((r) => r.killToProgress));
  console.log(`\n  slowest: ${s(worst)} (goal: under 60 s) ${worst < 60_000 ? 'ok' : 'MISSED'}`);
} finally {
  await env.teardown();
}
