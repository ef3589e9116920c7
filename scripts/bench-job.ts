/**
 * npm run bench:job — a whole job through real processes: a Temporal dev server, the emulator and a worker (each its
 * own process, so each one's memory is measured alone). Runs the sizes in BENCH_JOB_SIZES (default 10,000, 100,000
 * and 1,000,000 requests) and prints duration and peak RSS per size, then the worker's peak RSS across sizes against
 * the goal: under 300 MB at every size and within 15% of each other (flat memory means the peak barely moves).
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { peakRssMb, startBenchTemporal, startCli } from './bench-stack.js';
import { temporalCostOf } from './temporal-actions.js';

/** CPU seconds (user + system) a live process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz on Linux)
}

const SIZES = (process.env.BENCH_JOB_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const WORKER_GOAL_MB = 300;
const SPREAD_GOAL = 0.15;

async function writeInput(file: string, n: number): Promise<void> {
  const out = createWriteStream(file);
  for (let i = 0; i < n; i++) {
    const line = JSON.stringify({
      custom_id: `r-${i}`,
      params: {
        model: 'claude-haiku-4-5',
        max_tokens: 8,
        messages: [{ role: 'user', content: `Classify review ${i}. Answer with one of: good, bad.` }],
      },
    });
    if (!out.write(line + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

async function run(env: TestWorkflowEnvironment, n: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'cb-benchjob-'));
  const emulator = await startCli(
    [
      'emulator',
      '--port',
      '0',
      '--data-dir',
      path.join(dir, 'emulator'),
      '--time-scale',
      '3600',
      '--per-request',
      '1ms',
    ],
    {},
    /listening on (\S+)/,
  );
  const url = emulator.match[1]!;
  const taskQueue = `bench-${n}`;
  const worker = await startCli(
    ['worker'],
    {
      TEMPORAL_ADDRESS: env.address,
      CLAUDE_BATCH_TASK_QUEUE: taskQueue,
      ANTHROPIC_API_KEY: 'sk-ant-bench',
      ANTHROPIC_BASE_URL: url,
      CLAUDE_BATCH_DATA_DIR: path.join(dir, 'data'),
      CLAUDE_BATCH_ALLOWED_ROOTS: dir,
    },
    /task queue/,
  );
  try {
    const input = path.join(dir, 'input.jsonl');
    await writeInput(input, n);
    const started = performance.now();
    const result = (await env.client.workflow.execute('batchJob', {
      taskQueue,
      workflowId: `bench-job-${n}`,
      args: [
        {
          input,
          output: path.join(dir, 'out.jsonl'),
          poll: { initial: '2s', max: '5s' },
          approval: { thresholdUsd: 1e6 },
        },
      ],
    })) as { lines: number };
    const seconds = (performance.now() - started) / 1000;
    if (result.lines !== n) throw new Error(`expected ${n} output lines, got ${result.lines}`);
    const workerCpu = cpuSeconds(worker.child.pid!);
    const workerMb = peakRssMb(worker.child.pid!);
    const emulatorMb = peakRssMb(emulator.child.pid!);
    const jobId = `bench-job-${n}`;
    // The job, its chunks (ids under the job's) and the workspace's submitter, which only this job used.
    const temporal = await temporalCostOf(
      env.client,
      (id) => id === jobId || id.startsWith(`${jobId}/`) || id.startsWith('claude-batch-submitter-'),
    );
    return { n, seconds, workerMb, emulatorMb, workerCpu, temporal };
  } finally {
    worker.child.kill('SIGINT');
    emulator.child.kill();
    await Promise.all([once(worker.child, 'exit'), once(emulator.child, 'exit')]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const env = await startBenchTemporal();
try {
  console.log('job benchmark (dev server, emulator process, worker process; 100,000 requests per batch)');
  const workerMb: number[] = [];
  for (const n of SIZES) {
    const r = await run(env, n);
    workerMb.push(r.workerMb);
    console.log(
      `  ${r.n.toLocaleString('en-US').padStart(9)} requests: ${r.seconds.toFixed(1)} s (${Math.round(r.n / r.seconds).toLocaleString('en-US')} requests/s end to end), worker peak RSS ${r.workerMb.toFixed(0)} MB, emulator peak RSS ${r.emulatorMb.toFixed(0)} MB, worker CPU ${r.workerCpu.toFixed(1)} s`,
    );
    console.log(
      `             Temporal: ${r.temporal.workflows} workflow runs, ${r.temporal.events} history events, ${r.temporal.actions} actions (${r.temporal.retries} activity retries)`,
    );
  }
  // Flat memory: the worker's peak must not grow with the job, so the highest and lowest peaks are compared.
  const max = Math.max(...workerMb);
  const min = Math.min(...workerMb);
  const spread = max / min - 1;
  const met = max < WORKER_GOAL_MB && spread <= SPREAD_GOAL;
  console.log(
    `  worker peak RSS per size: ${SIZES.map((n, i) => `${n.toLocaleString('en-US')}: ${workerMb[i]!.toFixed(0)} MB`).join(', ')}; ` +
      `spread (max/min − 1) ${(100 * spread).toFixed(1)}% (goal < ${WORKER_GOAL_MB} MB at every size, within ${100 * SPREAD_GOAL}%: ${met ? 'met' : 'MISSED'})`,
  );
} finally {
  await env.teardown();
}
