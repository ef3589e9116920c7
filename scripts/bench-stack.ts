/**
 * What the benchmarks share: the real `claude-batch` binary started as its own process (so each one's memory is
 * measured alone), its peak RSS, and a Temporal dev server from the provisioned CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { packageRoot } from '../config/load.js';
import { temporalCli } from '../client/provision/temporal-binaries.js';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

export const cli = path.join(packageRoot, 'dist', 'client', 'cli.js');

/** The most memory the process has held so far (Linux: VmHWM). */
export function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
}

/** CPU seconds (user + system) a live process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz on Linux)
}

/** Runs `claude-batch <args>` and resolves once its output matches `ready`; rejects if it exits first. */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  nodeArgs: string[] = [],
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [...nodeArgs, cli, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = out.match(ready);
      if (m) resolve({ child, match: m });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${out}`)));
  });
}

/**
 * The malloc settings of the Docker image (its Dockerfile's `ENV MALLOC_…` line), which a worker's memory depends on:
 * the benchmarks measure the worker as the image runs it. BENCH_WORKER_MALLOC=glibc runs it with glibc's defaults.
 */
function imageMallocEnv(): Record<string, string> {
  if (process.env.BENCH_WORKER_MALLOC === 'glibc') return {};
  const dockerfile = readFileSync(path.join(packageRoot, 'Dockerfile'), 'utf8');
  return Object.fromEntries([...dockerfile.matchAll(/^ENV (MALLOC_\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/**
 * A `claude-batch worker` process for a benchmark: on `taskQueue` of `temporal`, against the emulator at
 * `anthropicUrl`, its data dir under `dir` (which it may read and write), with the image's malloc settings; `env`
 * adds or overrides settings. With BENCH_WORKER_CPU_PROF=<dir>, the worker writes a V8 CPU profile there when it
 * stops (where its time goes); BENCH_WORKER_NODE_OPTIONS gives the worker alone NODE_OPTIONS (e.g. a heap limit, as
 * a small container would set); with BENCH_WORKER_MEMORY=1 it runs scripts/memory-probe.cts (`memoryAtPeak`).
 */
export function startBenchWorker(o: {
  temporal: string;
  taskQueue: string;
  anthropicUrl: string;
  dir: string;
  apiKey?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  return startCli(
    ['worker'],
    {
      ...imageMallocEnv(),
      TEMPORAL_ADDRESS: o.temporal,
      CLAUDE_BATCH_TASK_QUEUE: o.taskQueue,
      ANTHROPIC_API_KEY: o.apiKey ?? 'sk-ant-bench',
      ANTHROPIC_BASE_URL: o.anthropicUrl,
      CLAUDE_BATCH_DATA_DIR: path.join(o.dir, 'data'),
      CLAUDE_BATCH_ALLOWED_ROOTS: o.dir,
      ...workerNodeOptions(o.dir),
      ...o.env,
    },
    /task queue/,
    process.env.BENCH_WORKER_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_WORKER_CPU_PROF}`] : [],
  );
}

function workerNodeOptions(dir: string): NodeJS.ProcessEnv {
  const options = [process.env.BENCH_WORKER_NODE_OPTIONS ?? ''];
  if (process.env.BENCH_WORKER_MEMORY)
    options.push(`--require ${path.join(packageRoot, 'dist', 'scripts', 'memory-probe.cjs')}`);
  const joined = options.join(' ').trim();
  return {
    ...(joined ? { NODE_OPTIONS: joined } : {}),
    ...(process.env.BENCH_WORKER_MEMORY ? { MEMORY_PROBE_OUT: path.join(dir, 'memory-peak.json') } : {}),
  };
}

/** What a worker's memory was made of at its highest (BENCH_WORKER_MEMORY=1), as one line; null without the probe. */
export function memoryAtPeak(dir: string): string | null {
  let peak: Record<string, number>;
  try {
    peak = JSON.parse(readFileSync(path.join(dir, 'memory-peak.json'), 'utf8')) as Record<string, number>;
  } catch {
    return null;
  }
  const mb = (k: string) => `${(peak[k] ?? NaN).toFixed(0)} MB`;
  return (
    `at its highest (${mb('rss')}, ${peak.seconds?.toFixed(1)} s after it started): files mapped ${mb('files')}, ` +
    `main-thread heap ${mb('mainHeap')} (young generation ${mb('mainYoung')}), buffers ${mb('buffers')}, ` +
    `workflow thread's heap ${mb('workflowThreads')}, other native memory ${mb('otherNative')}`
  );
}

/** A dev server with the job's search attributes, quiet SDK logs. */
export function startBenchTemporal(): Promise<TestWorkflowEnvironment> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalCli().path }, searchAttributes: SEARCH_ATTRIBUTES },
  });
}
