import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchJob } from '../../workflows/index.js';
import { statusQuery } from '../../workflows/messages.js';
import type { ChunkOutcome } from '../../shared/job-types.js';
import { startTestEmulator, TEST_KEY, type EmulatorHarness } from '../helpers/emulator.js';
import {
  assertExactOutput,
  downloadedLines,
  idsOf,
  jobDir,
  readOutput,
  readReport,
  writeJobInput,
} from '../helpers/jobs.js';
import { spawnWorker, type Spawned } from '../helpers/processes.js';
import { startDevServer } from '../helpers/temporal.js';
import { until } from '../helpers/wait.js';

/** Every file under a folder, recursively. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });

describe('crashes: SIGKILL the worker process at each step; a new worker finishes, nothing is paid twice', () => {
  let env: TestWorkflowEnvironment;
  const outputs: string[] = [];
  const dirs: string[] = [];
  before(async () => {
    env = await startDevServer();
  });
  after(() => env?.teardown());

  /** One job with its own emulator and a worker process that can be killed and replaced. */
  async function crashJob(
    name: string,
    options: { requests: number; chunk: number; setup?: (em: EmulatorHarness) => Promise<void>; timeScale?: number },
  ) {
    const em = await startTestEmulator({ timeScale: options.timeScale ?? 3600 });
    await options.setup?.(em);
    const dir = jobDir();
    dirs.push(dir);
    const taskQueue = `crash-${name}`;
    const startWorker = (): Promise<Spawned> =>
      spawnWorker({ temporalAddress: env.address, taskQueue, apiKey: TEST_KEY, anthropicUrl: em.url, root: dir });
    const output = path.join(dir, 'out.jsonl');
    const handle = await env.client.workflow.start(batchJob, {
      taskQueue,
      workflowId: `crash-${name}`,
      args: [
        {
          input: writeJobInput(dir, options.requests, name),
          output,
          chunk: { maxRequests: options.chunk },
          poll: { initial: '1s', max: '2s' },
          heartbeatTimeout: '3s',
          // The kills aim at the batch path's steps; the pilot's synchronous answers have their own tests.
          pilot: false,
        },
      ],
    });
    return { em, dir, output, handle, startWorker };
  }

  async function finishAndCheck(
    job: Awaited<ReturnType<typeof crashJob>>,
    workers: Spawned[],
    requests: number,
    name: string,
    chunks: number,
  ) {
    const replacement = await job.startWorker();
    workers.push(replacement);
    await job.handle.result();
    assertExactOutput(readOutput(job.output), idsOf(requests, name));
    const stats = await job.em.stats();
    assert.equal(stats.batches.created, chunks, 'the ledger shows no batch created twice');
    outputs.push(...workers.map((w) => w.output()));
    for (const w of workers) await w.kill();
    await job.em.close();
    return stats;
  }

  it('during submit: the create happened, its answer never reached the dead worker', async () => {
    const job = await crashJob('submit', {
      requests: 2000,
      chunk: 1000,
      setup: (em) => em.setFaults({ http: [{ endpoint: 'create', delayAfterMs: 5000, times: 1 }] }),
    });
    const first = await job.startWorker();
    await until(async () => (await job.em.stats()).batches.created === 1, 'the first create');
    await first.kill('SIGKILL');
    await finishAndCheck(job, [first], 2000, 'submit', 2);
    assert.equal(
      readReport(job.output).rounds[0]!.batches.filter((b) => b.adopted).length,
      1,
      'the orphaned batch was adopted, not created again',
    );
  });

  it('during polling', async () => {
    // Batches that only end when the test moves the emulator's clock: the kill surely lands while polling.
    const job = await crashJob('poll', {
      requests: 1500,
      chunk: 1000,
      timeScale: 1,
      setup: async (em) =>
        void (await em.admin('PUT', '/_emulator/processing', { baseLatencyMs: 10 * 3600_000, perRequestMs: 0 })),
    });
    const first = await job.startWorker();
    await until(async () => {
      const s = await job.handle.query(statusQuery).catch(() => null);
      // Both batches exist and are polled: moving the clock then ends them all.
      return !!s && s.chunks.length === 2 && s.chunks.every((c) => c.status === 'in_progress' && c.lastPollAt);
    }, 'both batches being polled');
    await first.kill('SIGKILL');
    await job.em.advance(11 * 3600);
    await finishAndCheck(job, [first], 1500, 'poll', 2);
  });

  it('during fetch: the download resumes where the dead worker left it', async () => {
    const job = await crashJob('fetch', {
      requests: 10_000,
      chunk: 10_000,
      setup: (em) => em.setFaults({ resultsLinesPerSecond: 2500 }),
    });
    const first = await job.startWorker();
    const partial = () =>
      downloadedLines(path.join(job.dir, 'data', 'jobs', 'crash-fetch', 'rounds', '0'))['r0-c0001'] ?? 0;
    await until(() => partial() > 2000, 'a download in progress');
    await first.kill('SIGKILL');
    await job.em.setFaults({});
    await finishAndCheck(job, [first], 10_000, 'fetch', 1);
    const outcome = JSON.parse(
      readFileSync(
        path.join(job.dir, 'data', 'jobs', 'crash-fetch', 'rounds', '0', 'outcomes', 'r0-c0001.json'),
        'utf8',
      ),
    ) as ChunkOutcome;
    assert.ok(outcome.resumedFromLine >= 2000, `resumed from line ${outcome.resumedFromLine}`);
  });

  it('when the emulator loses the answer to a create', async () => {
    const job = await crashJob('lost', {
      requests: 1000,
      chunk: 500,
      setup: (em) => em.setFaults({ createResponseLost: 1 }),
    });
    await finishAndCheck(job, [], 1000, 'lost', 2);
    assert.equal(readReport(job.output).rounds[0]!.batches.filter((b) => b.adopted).length, 1);
  });

  it('a worker stops gracefully on SIGTERM: drained, exit code 0 (so an orchestrator can roll it)', async () => {
    const w = await spawnWorker({ temporalAddress: env.address, taskQueue: 'crash-sigterm', apiKey: TEST_KEY });
    assert.equal(await w.kill('SIGTERM'), 0, w.output());
    assert.match(w.output(), /state: 'DRAINED'/);
  });

  it('never lets the API key into history, logs, the output or the report', async () => {
    for (const id of ['crash-submit', 'crash-poll', 'crash-fetch', 'crash-lost']) {
      for (const workflowId of [id, `${id}/r0-c0001`]) {
        const history = JSON.stringify(await env.client.workflow.getHandle(workflowId).fetchHistory());
        assert.ok(history.length > 1000);
        assert.ok(!history.includes(TEST_KEY), `history of ${workflowId}`);
      }
    }
    assert.ok(outputs.length >= 5 && outputs.join('').includes('claude-batch worker'), 'worker logs were captured');
    for (const log of outputs) assert.ok(!log.includes(TEST_KEY), 'worker logs');
    const files = dirs.flatMap(filesUnder);
    assert.ok(files.some((f) => f.endsWith('.report.md')) && files.some((f) => f.endsWith('out.jsonl')));
    for (const file of files) assert.ok(!readFileSync(file, 'utf8').includes(TEST_KEY), file);
  });
});
