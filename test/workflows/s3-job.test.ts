import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchJob } from '../../workflows/index.js';
import type { ChunkOutcome, JobReportSummary } from '../../shared/job-types.js';
import type { JobReport } from '../../shared/report.js';
import { startTestEmulator, TEST_KEY, type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, shortRequest, type OutputLine } from '../helpers/jobs.js';
import { spawnCli, spawnWorker, type Spawned } from '../helpers/processes.js';
import { startS3, type S3Harness } from '../helpers/s3.js';
import { startDevServer } from '../helpers/temporal.js';
import { until } from '../helpers/wait.js';

const FAST_POLL = { initial: '1s', max: '2s' };
const parse = (jsonl: string): OutputLine[] =>
  jsonl
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutputLine);
const inputOf = (n: number, prefix: string) =>
  idsOf(n, prefix)
    .map((_, i) => JSON.stringify(shortRequest(i, prefix)) + '\n')
    .join('');

describe('jobs with input, output and job folders in S3 (moto), run by worker processes on a Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  let s3: S3Harness;
  const workers: Spawned[] = [];
  const dirs: string[] = [];

  before(async () => {
    [env, em, s3] = await Promise.all([startDevServer(), startTestEmulator(), startS3('cb-jobs')]);
  });
  after(async () => {
    for (const w of workers) await w.kill('SIGKILL');
    await em?.close();
    await s3?.stop();
    await env?.teardown();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const bucket = () => s3.bucket;
  const uri = (key: string) => `s3://${bucket()}/${key}`;
  /** Every key under a prefix (all pages). */
  async function keysUnder(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const res = await s3.client.send(
        new ListObjectsV2Command({ Bucket: bucket(), Prefix: prefix, ContinuationToken: token }),
      );
      keys.push(...(res.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : [])));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }
  const outcomesOf = async (jobId: string) =>
    Promise.all(
      (await keysUnder(`jobs/jobs/${jobId}/rounds/0/outcomes/`)).map(
        async (k) => JSON.parse(await s3.get(k)) as ChunkOutcome,
      ),
    );

  /** A worker process with its own local data dir, and only S3 in common with any other. */
  async function startWorker(taskQueue: string): Promise<{ worker: Spawned; root: string }> {
    const root = mkdtempSync(path.join(tmpdir(), 'cb-s3-worker-'));
    dirs.push(root);
    const worker = await spawnWorker({
      temporalAddress: env.address,
      taskQueue,
      apiKey: TEST_KEY,
      anthropicUrl: em.url,
      env: {
        ...s3.env,
        CLAUDE_BATCH_DATA_DIR: path.join(root, 'data'),
        CLAUDE_BATCH_STORAGE: uri('jobs'),
        // A local root and the bucket, `:`-separated (the `:` of s3:// is not a separator).
        CLAUDE_BATCH_ALLOWED_ROOTS: `${root}:s3://${bucket()}`,
        CLAUDE_BATCH_RECONCILE_SETTLE: '1s',
        // The workspace's submitter workflow runs on the task queue of the job that started it: one per test.
        CLAUDE_BATCH_WORKSPACE: taskQueue,
      },
    });
    workers.push(worker);
    return { worker, root };
  }

  let finished: { jobId: string; root: string; output: string } | undefined;

  it('reads s3://…/in.jsonl, keeps its job folder in S3, writes s3://…/out.jsonl and its report', async () => {
    const n = 3000;
    const taskQueue = `s3-job-${Date.now()}`;
    const { worker, root } = await startWorker(taskQueue);
    await s3.put('in.jsonl', inputOf(n, 's3'));
    // Two downloads break off midway: they resume from the parts already committed to S3.
    await em.setFaults({ resultsCutoff: { afterLines: 400, times: 2 } });
    const jobId = 's3-job';
    const handle = await env.client.workflow.start(batchJob, {
      taskQueue,
      workflowId: jobId,
      args: [
        {
          input: uri('in.jsonl'),
          output: uri('out.jsonl'),
          chunk: { maxRequests: 1000 },
          poll: FAST_POLL,
        } as never,
      ],
    });
    const result = (await handle.result()) as JobReportSummary;
    await em.setFaults({});
    assert.equal(result.lines, n);
    assert.equal(result.outputUri, uri('out.jsonl'));
    assert.equal(result.reportMarkdownUri, uri('out.report.md'));

    const output = await s3.get('out.jsonl');
    assertExactOutput(parse(output), idsOf(n, 's3'));
    const report = JSON.parse(await s3.get('out.report.json')) as JobReport;
    assert.equal(report.outcomes.succeeded, n);
    assert.match(await s3.get('out.report.md'), /succeeded/);

    const keys = await keysUnder(`jobs/jobs/${jobId}/`);
    for (const k of ['manifest.json', 'rounds/0/chunks/r0-c0001.jsonl', 'rounds/0/results/r0-c0003.jsonl'])
      assert.ok(keys.includes(`jobs/jobs/${jobId}/${k}`), `${k} is in the job folder in S3 (${keys.join(', ')})`);
    assert.deepEqual(
      keys.filter((k) => k.includes('/download/')),
      [],
      'no download part is left',
    );
    const all = await outcomesOf(jobId);
    // 3,000 requests: a pilot of 20 is answered through the Messages API first, its parts and results in S3 too.
    const pilot = all.filter((o) => o.via === 'sync');
    assert.deepEqual(
      pilot.map((o) => [o.chunkId, o.outcomes]),
      [['r0-pilot', { succeeded: 20 }]],
    );
    assert.ok(keys.includes(`jobs/jobs/${jobId}/rounds/0/results/r0-pilot.jsonl`));
    const outcomes = all.filter((o) => o.via !== 'sync');
    assert.equal(outcomes.length, 3);
    assert.ok(
      outcomes.some((o) => o.resumedFromLine > 0),
      `a cut-off download resumed from its parts in S3 (${outcomes.map((o) => o.resumedFromLine).join(', ')})`,
    );
    assert.ok(!existsSync(path.join(root, 'data', 'jobs')), 'nothing of the job on the worker’s disk');
    await worker.kill();
    finished = { jobId, root, output };
  });

  it('`results` works from a process that has only the bucket and Temporal: no worker, no worker files', async () => {
    assert.ok(finished, 'the job of the previous test finished');
    // The worker is gone and so is everything on its disk.
    rmSync(finished.root, { recursive: true, force: true });
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'cb-s3-client-'));
    dirs.push(elsewhere);
    const cliEnv = {
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: 'default',
      CLAUDE_BATCH_DATA_DIR: path.join(elsewhere, 'data'),
      ...s3.env,
    };
    const toStdout = spawnCli(['results', finished.jobId, '--out', '-'], cliEnv, elsewhere);
    let stdout = '';
    toStdout.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    assert.equal(await toStdout.exited, 0, toStdout.output());
    assert.equal(stdout, finished.output, 'the JSONL from S3, exactly, and nothing else on stdout');

    const toFile = spawnCli(['results', finished.jobId, '--out', 'copy.jsonl'], cliEnv, elsewhere);
    assert.equal(await toFile.exited, 0, toFile.output());
    assert.equal(readFileSync(path.join(elsewhere, 'copy.jsonl'), 'utf8'), finished.output);
    assert.match(toFile.output(), /^wrote 3,000 result lines to copy\.jsonl \(succeeded 3,000\)$/m);
    assert.match(toFile.output(), new RegExp(`^report: s3://${bucket()}/out\\.report\\.md$`, 'm'));

    // Without the bucket's settings the CLI says what is missing, in one line.
    const noS3 = spawnCli(['results', finished.jobId, '--out', '-'], { ...cliEnv, S3_ENDPOINT: 'http://127.0.0.1:9' });
    assert.notEqual(await noS3.exited, 0);
    assert.match(noS3.output(), /could not read the results file s3:\/\//);
    assert.doesNotMatch(noS3.output(), /^\s+at /m, 'no stack trace');
  });

  it('two workers with different data dirs share the task queue and S3: one is SIGKILLed mid-download, the other finishes exactly', async () => {
    const n = 4000;
    const taskQueue = `s3-pair-${Date.now()}`;
    const jobId = 's3-pair';
    await s3.put('pair/in.jsonl', inputOf(n, 'pair'));
    const createdBefore = (await em.stats()).batches.created;
    // Slow downloads (10 s a chunk): the second worker starts and the first is killed while its parts grow in S3.
    await em.setFaults({ resultsLinesPerSecond: 200 });
    const a = await startWorker(taskQueue);
    const handle = await env.client.workflow.start(batchJob, {
      taskQueue,
      workflowId: jobId,
      args: [
        {
          input: uri('pair/in.jsonl'),
          output: uri('pair/out.jsonl'),
          chunk: { maxRequests: 2000 },
          poll: FAST_POLL,
          heartbeatTimeout: '3s',
        } as never,
      ],
    });
    // Only A runs so far: parts in S3 are its downloads.
    await until(
      async () => ((await keysUnder(`jobs/jobs/${jobId}/rounds/0/download/`)).length >= 2 ? true : null),
      'download parts of the first worker in S3',
      60_000,
      200,
    );
    const b = await startWorker(taskQueue);
    await a.worker.kill('SIGKILL');
    await em.setFaults({});
    const result = (await handle.result()) as JobReportSummary;
    assert.equal(result.lines, n);
    assertExactOutput(parse(await s3.get('pair/out.jsonl')), idsOf(n, 'pair'));
    assert.equal((await em.stats()).batches.created - createdBefore, 2, 'two batches, none created twice');
    const outcomes = await outcomesOf(jobId);
    assert.ok(
      outcomes.some((o) => o.resumedFromLine > 0),
      `the second worker resumed the first one's download from S3 (${outcomes.map((o) => o.resumedFromLine).join(', ')})`,
    );
    assert.ok(!existsSync(path.join(b.root, 'data', 'jobs')), 'the survivor kept nothing of the job on its disk');
    await b.worker.kill();
  });
});
