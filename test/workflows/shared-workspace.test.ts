import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { batchJob } from '../../workflows/index.js';
import { statusQuery, type JobStatusView } from '../../workflows/messages.js';
import type { Faults } from '../../emulator/faults.js';
import { roundUsd } from '../../shared/pricing.js';
import type { JobReport } from '../../shared/report.js';
import { startTestEmulator, TEST_KEY, type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, readReport, writeJobInput } from '../helpers/jobs.js';
import { spawnWorker, type Spawned } from '../helpers/processes.js';
import { startDevServer } from '../helpers/temporal.js';
import { until } from '../helpers/wait.js';

const CHUNK = 300;
const CHUNKS_PER_JOB = 2;
const REQUESTS = CHUNK * CHUNKS_PER_JOB;
const LIST_LAG_MS = 1500;
/** Longer than the list lag, or reconciliation could miss a batch that exists and create it again. */
const RECONCILE_SETTLE = '3s';
/** Long enough to SIGKILL the worker while the answers to the second creates are still held back. */
const CREATE_ANSWER_DELAY_MS = 5000;
const JOB_TIMEOUT_MS = 45_000;
/** Well under LIST_LAG_MS, well over the time the foreign client takes to create its look-alike. */
const JOB_STAGGER_MS = 400;

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

interface ResultLine {
  custom_id: string;
  result: Record<string, unknown>;
}

interface Job {
  prefix: string;
  workflowId: string;
  output: string;
}

/** One chunk submission of a job and the batch it ended up with (from the status view, else the report). */
interface Submission {
  job: string;
  round: number;
  chunkId: string;
  status: string;
  batchId: string | null;
  error?: string;
}

describe('two jobs on one workspace, next to a foreign tool creating batches of the same size', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  const workers: Spawned[] = [];
  before(async () => {
    env = await startDevServer();
    em = await startTestEmulator({ timeScale: 3600 });
  });
  after(async () => {
    for (const w of workers) await w.kill('SIGKILL');
    await em?.close();
    await env?.teardown();
  });

  it('each chunk gets exactly its own batch: lost creates, list lag, a worker killed mid-submit, foreign look-alikes', async () => {
    const root = jobDir();
    const taskQueue = 'shared-workspace';
    const startWorker = async (): Promise<Spawned> => {
      const w = await spawnWorker({
        temporalAddress: env.address,
        taskQueue,
        apiKey: TEST_KEY,
        anthropicUrl: em.url,
        root,
        env: { CLAUDE_BATCH_RECONCILE_SETTLE: RECONCILE_SETTLE },
      });
      workers.push(w);
      return w;
    };

    await em.setFaults({
      // A job submits one chunk at a time, so the first two creates are the first chunk of each job.
      createResponseLost: 2,
      listLagMs: LIST_LAG_MS,
      shuffleResults: true,
      foreignClient: { everyCreates: 1, requests: CHUNK, delayMs: 0 },
      // Lost answers are never sent, so this holds back only the answers to the second chunks' creates.
      http: [{ endpoint: 'create', delayAfterMs: CREATE_ANSWER_DELAY_MS }],
    });
    const ours = async () => {
      const s = await em.stats();
      return s.batches.created - s.batches.foreign;
    };

    const first = await startWorker();
    const jobs: Job[] = ['sa', 'sb'].map((prefix) => ({
      prefix,
      workflowId: `shared-${prefix}`,
      output: path.join(root, `${prefix}-out.jsonl`),
    }));
    const start = (job: Job) =>
      env.client.workflow.start(batchJob, {
        taskQueue,
        workflowId: job.workflowId,
        args: [
          {
            input: writeJobInput(root, REQUESTS, job.prefix, `${job.prefix}.jsonl`),
            output: job.output,
            chunk: { maxRequests: CHUNK },
            poll: { initial: '1s', max: '2s' },
            heartbeatTimeout: '3s',
          },
        ],
      });
    // Started together, the two first creates race the foreign batch that follows the first of them, and the
    // order decides whether the weakness shows. Staggered by less than the list lag, the order is fixed: ours of
    // the first job, its foreign look-alike, then ours of the second job, whose intent was recorded while both
    // earlier batches were still missing from the list.
    const handles = [await start(jobs[0]!)];
    await new Promise((r) => setTimeout(r, JOB_STAGGER_MS));
    handles.push(await start(jobs[1]!));

    // A second chunk's create comes only after its job's first chunk reconciled; kill while its answer is held back.
    await until(async () => (await ours()) >= CHUNKS_PER_JOB + 1, 'a create of a second chunk');
    await until(async () => (await ours()) >= 2 * CHUNKS_PER_JOB, 'both second creates', 1500).catch(() => {});
    const oursAtKill = await ours();
    await first.kill('SIGKILL');
    await em.admin('PATCH', '/_emulator/faults', { http: [] });
    await startWorker();

    await within(
      Promise.all(handles.map((h) => h.result())),
      JOB_TIMEOUT_MS,
      'the two jobs after the worker was replaced',
    );

    // The setup did what it claims.
    const stats = await em.stats();
    const faults = (await (await em.admin('GET', '/_emulator/faults')).json()) as Faults;
    assert.equal(faults.createResponseLost, 0, 'the emulator dropped the answers to two creates');
    assert.ok(oursAtKill > CHUNKS_PER_JOB, `the worker was killed after a second create (${oursAtKill} of ours)`);
    assert.ok(stats.batches.foreign >= 2, `the foreign client created ${stats.batches.foreign} batches`);

    // Who owns each batch in the ledger, by the custom_ids its results carry.
    const batches = new Map<string, MessageBatch>();
    const owner = new Map<string, string>();
    const results = new Map<string, ResultLine[]>();
    for (const entry of stats.batches.list) {
      const b = await em.client.messages.batches.retrieve(entry.id);
      batches.set(entry.id, b);
      const lines: ResultLine[] = [];
      for await (const line of await em.client.messages.batches.results(entry.id))
        lines.push(line as unknown as ResultLine);
      results.set(entry.id, lines);
      const prefixes = new Set(lines.map((l) => l.custom_id.split('-')[0]));
      owner.set(
        entry.id,
        entry.foreign ? 'foreign' : prefixes.size === 1 ? [...prefixes][0]! : [...prefixes].join('+'),
      );
    }
    const foreignIds = new Set(stats.batches.list.filter((b) => b.foreign).map((b) => b.id));
    const ourIds = stats.batches.list.filter((b) => !b.foreign).map((b) => b.id);
    const describeBatch = (id: string | null) => (id === null ? 'no batch' : `${id} (${owner.get(id) ?? 'unknown'})`);

    const reports = new Map<string, JobReport>();
    const submissions: Submission[] = [];
    for (const job of jobs) {
      const report = readReport(job.output);
      reports.set(job.prefix, report);
      const status: JobStatusView = await env.client.workflow.getHandle(job.workflowId).query(statusQuery);
      assert.equal(status.phase, 'completed', `job ${job.prefix} completed`);
      const named = new Map(
        report.rounds.flatMap((r) => r.batches.map((b) => [`${r.round}/${b.chunkId}`, b.batchId] as const)),
      );
      for (const c of status.chunks) {
        submissions.push({
          job: job.prefix,
          round: c.ref.round,
          chunkId: c.ref.id,
          status: c.status,
          batchId: c.batchId ?? named.get(`${c.ref.round}/${c.ref.id}`) ?? null,
          ...(c.error ? { error: c.error } : {}),
        });
      }
      for (const [key, id] of named) {
        const chunkBatch = submissions.find((s) => s.job === job.prefix && `${s.round}/${s.chunkId}` === key)?.batchId;
        assert.equal(id, chunkBatch, `job ${job.prefix}: its report and its status agree on the batch of ${key}`);
      }
    }
    const summary = submissions
      .map(
        (s) =>
          `  ${s.job} r${s.round}/${s.chunkId} ${s.status} → ${describeBatch(s.batchId)}${s.error ? ` [${s.error}]` : ''}`,
      )
      .join('\n');

    // No chunk took a foreign batch for its own.
    const adoptedForeign = submissions.filter((s) => s.batchId !== null && foreignIds.has(s.batchId));
    assert.deepEqual(
      adoptedForeign.map((s) => `${s.job} ${s.chunkId} → ${s.batchId}`),
      [],
      `a chunk adopted a batch of the foreign client (same request count) as its own:\n${summary}`,
    );
    // One batch of ours per chunk submission: none created twice, none shared by two chunks.
    const used = submissions.map((s) => s.batchId);
    assert.ok(
      used.every((id): id is string => id !== null),
      `every chunk names the batch it used:\n${summary}`,
    );
    assert.equal(
      new Set(used).size,
      used.length,
      `no batch is used by two chunks (of one job or of both):\n${summary}`,
    );
    for (const s of submissions)
      assert.equal(
        owner.get(s.batchId!),
        s.job,
        `chunk ${s.job} ${s.chunkId} used a batch that carries job ${owner.get(s.batchId!)}'s requests:\n${summary}`,
      );
    assert.equal(
      ourIds.length,
      submissions.length,
      `exactly one non-foreign batch per chunk submission; ours in the ledger: ${ourIds.map(describeBatch).join(', ')}:\n${summary}`,
    );
    assert.deepEqual(
      [...used].sort(),
      [...ourIds].sort(),
      `the jobs used exactly the non-foreign batches:\n${summary}`,
    );

    // Nobody touched the foreign tool's batches.
    for (const id of foreignIds) {
      const b = batches.get(id)!;
      assert.equal(b.cancel_initiated_at, null, `foreign batch ${id} was not canceled`);
      assert.equal(b.request_counts.canceled, 0, `foreign batch ${id} has no canceled requests`);
      assert.equal(b.processing_status, 'ended', `foreign batch ${id} ran to its end`);
    }

    // Each output line is the emulator's last answer to that request.
    const finalAnswer = new Map<string, ResultLine>();
    const byCreation = [...ourIds].sort(
      (a, b) => Date.parse(batches.get(a)!.created_at) - Date.parse(batches.get(b)!.created_at),
    );
    for (const id of byCreation) for (const line of results.get(id)!) finalAnswer.set(line.custom_id, line);
    for (const job of jobs) {
      assertExactOutput(readOutput(job.output), idsOf(REQUESTS, job.prefix));
      const lines = readFileSync(job.output, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ResultLine);
      const wrong = lines.filter((l) => {
        const expected = finalAnswer.get(l.custom_id);
        try {
          assert.deepEqual(l.result, expected?.result);
          return false;
        } catch {
          return true;
        }
      });
      assert.equal(
        wrong.length,
        0,
        `job ${job.prefix}: ${wrong.length} output lines differ from the emulator's answer, e.g. ${JSON.stringify(wrong[0])}`,
      );
    }

    // Each report's cost is the emulator's bill for that job's own batches.
    for (const job of jobs) {
      const own = stats.batches.list.filter((b) => owner.get(b.id) === job.prefix);
      const billed = roundUsd(own.reduce((sum, b) => sum + (b.billed?.usd ?? 0), 0));
      const reported = reports.get(job.prefix)!.actual.costUsd;
      assert.ok(
        Math.abs(reported - billed) <= 1e-9,
        `job ${job.prefix}: report says $${reported}, the emulator billed $${billed} for ${own.map((b) => b.id).join(', ')}`,
      );
    }

    // The lost answers were recovered by reconciliation, not by creating again.
    const adopted = [...reports.values()]
      .flatMap((r) => r.rounds.flatMap((round) => round.batches))
      .filter((b) => b.adopted);
    assert.ok(
      adopted.length >= 2,
      `the reports show ${adopted.length} adopted batches (2 lost answers, 1 killed worker)`,
    );
  });
});
