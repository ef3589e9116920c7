/**
 * npm run bench:job — a whole job through real processes: a Temporal dev server, the emulator and a worker (each its
 * own process, so each one's memory is measured alone). Runs the sizes in BENCH_JOB_SIZES (default 10,000, 100,000
 * and 1,000,000 requests) and prints duration, peak RSS and CPU per size, and what the job cost in Temporal actions
 * (per job and per chunk) and, with BENCH_JOB_STORAGE=s3, in S3 requests and bytes. docs/scaling.md is written
 * from its figures. Then the worker's peak RSS across sizes against the goal: under 300 MB at every size and
 * within 15% of each other (flat memory means the peak barely moves).
 *
 *   BENCH_JOB_SIZES=100000          requests per job, comma-separated
 *   BENCH_JOB_STORAGE=local | s3    s3: input, output and the job folder in a bucket of a moto server
 *   BENCH_JOB_CHUNK=10000           requests per chunk (default 100,000, the API's most per batch)
 *   BENCH_WORKER_MEMORY=1           also what the worker's memory was made of at its peak (scripts/memory-probe.cts)
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../client/ports.js';
import { startMotoServer, type MotoServer } from '../client/provision/moto-server.js';
import { s3Client, s3SettingsFromEnv } from '../storage/s3-client.js';
import { cpuSeconds, memoryAtPeak, peakRssMb, startBenchTemporal, startCli, startBenchWorker } from './bench-stack.js';
import { activityTimes, printActivities, rssTimeline } from './job-timeline.js';
import { temporalCostOf } from './temporal-actions.js';

const SIZES = (process.env.BENCH_JOB_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const WORKER_GOAL_MB = 300;
const SPREAD_GOAL = 0.15;
const STORAGE = process.env.BENCH_JOB_STORAGE ?? 'local';
if (STORAGE !== 'local' && STORAGE !== 's3') throw new Error(`BENCH_JOB_STORAGE is local or s3, not ${STORAGE}`);
const CHUNK = process.env.BENCH_JOB_CHUNK ? Number(process.env.BENCH_JOB_CHUNK) : undefined;
const BUCKET = 'cb-bench';

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

/** The S3 counters of a worker's /metrics (storage/s3-traffic.ts). */
async function s3Traffic(metricsUrl: string) {
  const text = await (await fetch(metricsUrl)).text();
  const byOperation: Record<string, number> = {};
  let sent = 0;
  let received = 0;
  for (const m of text.matchAll(/^claude_batch_storage_requests_total\{operation="(\w+)"\} (\S+)$/gm))
    byOperation[m[1]!] = Number(m[2]);
  for (const m of text.matchAll(/^claude_batch_storage_bytes_total\{direction="(\w+)"\} (\S+)$/gm))
    if (m[1] === 'sent') sent = Number(m[2]);
    else if (m[1] === 'received') received = Number(m[2]);
  const requests = Object.values(byOperation).reduce((a, b) => a + b, 0);
  return { requests, byOperation, sent, received };
}

/**
 * What the job left in the bucket, in MB by kind: the bytes sent and received are multiples of these (each file
 * is written once and read by a few activities), so they say where the traffic comes from.
 */
async function storedMb(client: S3Client, jobId: string): Promise<Record<string, number>> {
  const kinds: Record<string, number> = {};
  let token: string | undefined;
  do {
    const res = await client.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${jobId}/`, ContinuationToken: token }),
    );
    for (const o of res.Contents ?? []) {
      const key = o.Key!.slice(jobId.length + 1);
      const kind = key.startsWith('jobs/')
        ? (/\/rounds\/\d+\/([^/]+)\//.exec(key)?.[1] ?? key.split('/').slice(0, 2).join('/'))
        : key;
      kinds[kind] = (kinds[kind] ?? 0) + (o.Size ?? 0) / 1e6;
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return kinds;
}

interface S3Bench {
  moto: MotoServer;
  client: S3Client;
}

async function run(env: TestWorkflowEnvironment, n: number, s3: S3Bench | null) {
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
  const jobId = `bench-job-${STORAGE}-${n}-${CHUNK ?? 100_000}`;
  const taskQueue = `bench-${STORAGE}-${n}-${CHUNK ?? 100_000}`;
  const prefix = `s3://${BUCKET}/${jobId}`;
  const metricsPort = await freePort();
  const worker = await startBenchWorker({
    temporal: env.address,
    taskQueue,
    anthropicUrl: url,
    dir,
    env: {
      // In both modes, so that their CPU and memory compare (the endpoint and the SDK's exporter cost a little).
      CLAUDE_BATCH_METRICS_PORT: String(metricsPort),
      ...(s3
        ? {
            ...s3.moto.env,
            CLAUDE_BATCH_STORAGE: `${prefix}/jobs`,
            CLAUDE_BATCH_ALLOWED_ROOTS: `${dir}:s3://${BUCKET}`,
          }
        : {}),
    },
  });
  try {
    const local = path.join(dir, 'input.jsonl');
    await writeInput(local, n);
    let input = local;
    let output = path.join(dir, 'out.jsonl');
    if (s3) {
      input = `${prefix}/in.jsonl`;
      output = `${prefix}/out.jsonl`;
      await new Upload({
        client: s3.client,
        params: { Bucket: BUCKET, Key: `${jobId}/in.jsonl`, Body: createReadStream(local) },
      }).done();
    }
    const rss = rssTimeline(worker.child.pid!);
    const started = performance.now();
    const result = (await env.client.workflow.execute('batchJob', {
      taskQueue,
      workflowId: jobId,
      args: [
        {
          input,
          output,
          poll: { initial: '2s', max: '5s' },
          approval: { thresholdUsd: 1e6 },
          ...(CHUNK ? { chunk: { maxRequests: CHUNK } } : {}),
        },
      ],
    })) as { lines: number };
    const seconds = (performance.now() - started) / 1000;
    rss.stop();
    if (result.lines !== n) throw new Error(`expected ${n} output lines, got ${result.lines}`);
    const workerCpu = cpuSeconds(worker.child.pid!);
    const workerMb = peakRssMb(worker.child.pid!);
    const emulatorMb = peakRssMb(emulator.child.pid!);
    const traffic = await s3Traffic(`http://127.0.0.1:${metricsPort}/metrics`);
    const stored = s3 ? await storedMb(s3.client, jobId) : {};
    // The job, its chunks (ids under the job's) and the workspace's submitter, which only this job used.
    const temporal = await temporalCostOf(
      env.client,
      (id) => id === jobId || id.startsWith(`${jobId}/`) || id.startsWith('claude-batch-submitter-'),
    );
    // Activity times are from the job's start, which is about when sampling started.
    const activities = (await activityTimes(env.client, jobId)).map((a) => ({ ...a, highMb: rss.at(0, a.last) }));
    const memory = memoryAtPeak(dir);
    return {
      n,
      seconds,
      workerMb,
      idleMb: rss.firstMb,
      emulatorMb,
      workerCpu,
      temporal,
      traffic,
      stored,
      activities,
      memory,
    };
  } finally {
    worker.child.kill('SIGINT');
    emulator.child.kill();
    await Promise.all([once(worker.child, 'exit'), once(emulator.child, 'exit')]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const list = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');

let s3: S3Bench | null = null;
const env = await startBenchTemporal();
try {
  if (STORAGE === 's3') {
    const moto = await startMotoServer();
    const client = s3Client(s3SettingsFromEnv(moto.env), {
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    s3 = { moto, client };
  }
  console.log(
    `job benchmark (dev server, emulator process, worker process; storage ${STORAGE === 's3' ? 'S3 (moto)' : 'local files'}; ${fmt(CHUNK ?? 100_000)} requests per chunk)`,
  );
  const workerMb: number[] = [];
  for (const n of SIZES) {
    const r = await run(env, n, s3);
    workerMb.push(r.workerMb);
    const t = r.temporal;
    console.log(
      `  ${fmt(r.n).padStart(9)} requests: ${r.seconds.toFixed(1)} s (${fmt(r.n / r.seconds)} requests/s end to end), worker peak RSS ${r.workerMb.toFixed(0)} MB, emulator peak RSS ${r.emulatorMb.toFixed(0)} MB, worker CPU ${r.workerCpu.toFixed(1)} s (${((r.workerCpu / r.n) * 100_000).toFixed(1)} s per 100,000 requests)`,
    );
    if (r.memory) console.log(`             the worker ${r.memory}`);
    console.log(`             activities (seconds after the job started; the idle worker ${r.idleMb.toFixed(0)} MB):`);
    printActivities(r.activities, '               ');
    console.log(
      `             Temporal: ${t.workflows} workflows (${Object.values(t.byType).reduce((a, b) => a + b.runs, 0)} runs), ${fmt(t.events)} history events, ${fmt(t.actions)} actions (${t.retries} activity retries); heartbeats recorded ≈ ${fmt(t.heartbeats)} (estimate, ${fmt(t.activitySeconds, 1)} activity-seconds)`,
    );
    console.log(`             actions by kind: ${list(t.byKind)}`);
    const chunk = t.byType.batchChunk;
    for (const [type, c] of Object.entries(t.byType))
      console.log(
        `             ${type}: ${c.workflows} workflows, ${c.runs} runs, ${fmt(c.events)} events, ${fmt(c.actions)} actions${type === 'batchChunk' ? ` (${fmt(c.actions / c.workflows, 1)} per chunk)` : ''}: ${list(c.byKind)}`,
      );
    if (chunk)
      console.log(
        `             per chunk: ${fmt(chunk.actions / chunk.workflows, 1)} actions in its own history; the rest of the job ${fmt(t.actions - chunk.actions)} (${chunk.workflows} chunks)`,
      );
    if (s3) {
      const { traffic: x } = r;
      console.log(
        `             S3: ${fmt(x.requests)} requests (${(x.requests / (r.n / 1000)).toFixed(2)} per 1,000 job requests; ${list(x.byOperation)}), ${fmt(x.sent / 1e6, 1)} MB sent, ${fmt(x.received / 1e6, 1)} MB received (${fmt(x.sent / r.n)} B sent and ${fmt(x.received / r.n)} B received per job request)`,
      );
      const stored = Object.entries(r.stored).sort((a, b) => b[1] - a[1]);
      console.log(
        `             stored in the bucket: ${stored.map(([k, mb]) => `${k} ${mb.toFixed(1)} MB`).join(', ')}`,
      );
    }
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
  s3?.client.destroy();
  await s3?.moto.stop();
  await env.teardown();
}
