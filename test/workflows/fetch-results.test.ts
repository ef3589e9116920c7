import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { ActivityDeps } from '../../activities/deps.js';
import { activityDeps } from '../../worker/create-worker.js';
import { testWorkerConfig } from '../helpers/temporal.js';
import { fetchActivities, RESULTS_FULL_ATTEMPTS } from '../../activities/fetch.js';
import { finalizeActivities } from '../../activities/finalize.js';
import { retryRoundActivities } from '../../activities/retry-round.js';
import type { ChunkOutcome, ChunkRef } from '../../shared/job-types.js';
import { collect, request, startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';

type Request = ReturnType<typeof request>;
interface Line {
  custom_id: string;
  result: { type: string; error?: { error?: { type: string } } };
}

const ids = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${prefix}-${from + i}`);
const readLines = (file: string): Line[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
const sorted = (xs: string[]) => [...xs].sort();

/** Asserts the error is an ApplicationFailure of `type`, retryable or not as told. */
const failure = (type: string, nonRetryable: boolean) => (err: unknown) => {
  assert.ok(err instanceof ApplicationFailure, `an ApplicationFailure, not ${String(err)}`);
  assert.equal(err.type, type, err.message);
  assert.equal(err.nonRetryable, nonRetryable, `nonRetryable of ${err.message}`);
  return true;
};

describe('fetchResults: resumes by custom_id, retries short downloads, never writes a foreign or duplicate line', () => {
  let em: EmulatorHarness;
  let root: string;
  let deps: ActivityDeps;
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);

  before(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    em = await startTestEmulator();
    root = mkdtempSync(path.join(tmpdir(), 'cb-fetch-'));
    const dataDir = path.join(root, 'data');
    // Built exactly as the worker builds them, against the emulator over HTTP.
    deps = activityDeps(testWorkerConfig(em.url, { dataDir, allowedRoots: [root], reconcileSettleMs: 0 }));
  });
  afterEach(() => assert.deepEqual(crashes, [], 'no uncaught exception or unhandled rejection'));
  after(async () => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    await em?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** A job folder with one chunk file listing `reqs` (round `round`). */
  function chunkOf(job: string, reqs: Request[], round = 0): { jobDir: string; chunk: ChunkRef } {
    const jobDir = path.join(root, 'data', 'jobs', job);
    const id = `r${round}-c0001`;
    const file = path.join(jobDir, 'rounds', String(round), 'chunks', `${id}.jsonl`);
    mkdirSync(path.dirname(file), { recursive: true });
    const body = reqs.map((r) => JSON.stringify(r) + '\n').join('');
    writeFileSync(file, body);
    return {
      jobDir: pathToFileURL(jobDir).href,
      chunk: { id, round, index: 0, uri: pathToFileURL(file).href, requests: reqs.length, bytes: body.length },
    };
  }

  const fileOf = (uri: string) => fileURLToPath(uri);
  const resultsFile = (jobDir: string, chunk: ChunkRef) =>
    path.join(fileOf(jobDir), 'rounds', String(chunk.round), 'results', `${chunk.id}.jsonl`);
  /** The folder of a download's committed parts (activities/download-parts.ts): `000001.jsonl`, … */
  const partsDir = (jobDir: string, chunk: ChunkRef) =>
    path.join(fileOf(jobDir), 'rounds', String(chunk.round), 'download', chunk.id);
  /** The lines of every committed part, in order. */
  const partLines = (jobDir: string, chunk: ChunkRef): Line[] =>
    readdirSync(partsDir(jobDir, chunk))
      .filter((n) => /^\d{6}\.jsonl$/.test(n))
      .sort()
      .flatMap((n) => readLines(path.join(partsDir(jobDir, chunk), n)));

  /** A batch of `reqs` on the emulator, ended. */
  async function endedBatch(reqs: Request[]): Promise<string> {
    const created = await em.client.messages.batches.create({ requests: reqs });
    await em.advance(3600);
    for (let i = 0; (await em.client.messages.batches.retrieve(created.id)).processing_status !== 'ended'; i++) {
      if (i > 100) throw new Error(`batch ${created.id} did not end`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return created.id;
  }

  /** One attempt of the activity, as Temporal would run it; heartbeats are collected into `beats`. */
  async function attempt(
    args: { jobDir: string; chunk: ChunkRef; batchId: string },
    n: number,
    beats: Record<string, number>[] = [],
  ): Promise<ChunkOutcome> {
    // Failed attempts are expected here: only errors are worth printing.
    const env = new MockActivityEnvironment({ attempt: n }, { logger: new DefaultLogger('ERROR') });
    env.on('heartbeat', (d: Record<string, number>) => beats.push(d));
    return env.run(fetchActivities(deps).fetchResults, args);
  }

  /** Nothing but the final files is left in the round's folders (no temp file, no download part). */
  function assertNoTempFiles(jobDir: string) {
    const dir = path.join(fileOf(jobDir), 'rounds');
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)],
      );
    const stray = walk(dir).filter((f) => /\/download\/|\.(download|partial-[\w-]+|tmp-\d+)$/.test(f));
    assert.deepEqual(stray, [], 'no temp file is left behind');
  }

  it('resumes from a partial file in another order than the new stream: each result once', async () => {
    const reqs = ids('res', 60).map((id) => request(id));
    const { jobDir, chunk } = chunkOf('resume', reqs);
    const batchId = await endedBatch(reqs);
    const api = await collect(await em.client.messages.batches.results(batchId));
    // Dead attempts got 25 results — in another order than this download will send them — in two parts, the
    // second with half of one more line (what a store without atomic parts could leave) and one line twice.
    const earlier = api.slice(-25).reverse();
    const dir = partsDir(jobDir, chunk);
    mkdirSync(dir, { recursive: true });
    const jsonl = (ls: typeof api) => ls.map((l) => JSON.stringify(l) + '\n').join('');
    writeFileSync(path.join(dir, '000001.jsonl'), jsonl(earlier.slice(0, 10)));
    writeFileSync(
      path.join(dir, '000002.jsonl'),
      jsonl([earlier[3]!, ...earlier.slice(10)]) + JSON.stringify(api[0]).slice(0, 40),
    );

    const beats: Record<string, number>[] = [];
    const outcome = await attempt({ jobDir, chunk, batchId }, 2, beats);
    assert.equal(outcome.resumedFromLine, 25, 'the 25 complete lines were kept');
    const got = readLines(resultsFile(jobDir, chunk));
    assert.deepEqual(sorted(got.map((l) => l.custom_id)), sorted(ids('res', 60)), 'every request exactly once');
    assert.deepEqual(
      got.slice(0, 25).map((l) => l.custom_id),
      earlier.map((l) => l.custom_id),
      'the kept lines stay as they were',
    );
    const byId = new Map(api.map((l) => [l.custom_id, l]));
    for (const line of got) assert.deepEqual(line, JSON.parse(JSON.stringify(byId.get(line.custom_id))));
    assert.equal(outcome.requests, 60);
    assert.equal(outcome.outcomes.succeeded, 60);
    assert.equal(outcome.retryUri, null);
    assert.ok(
      beats.some((b) => 'kept' in b && !('received' in b)) && beats.some((b) => 'received' in b),
      'heartbeats while reading the kept parts and while downloading',
    );
    assert.ok(
      beats.every((b) => Object.values(b).every((v) => typeof v === 'number')),
      'heartbeat details are counts',
    );
    assertNoTempFiles(jobDir);
  });

  it('a cut-off stream is a retryable failure; the next attempt completes exactly', async () => {
    const reqs = ids('cut', 300).map((id) => request(id));
    const { jobDir, chunk } = chunkOf('cutoff', reqs);
    const batchId = await endedBatch(reqs);
    await em.setFaults({ resultsCutoff: { afterLines: 100 } });
    await assert.rejects(attempt({ jobDir, chunk, batchId }, 1), failure('ResultsIncomplete', false));
    assert.equal(partLines(jobDir, chunk).length, 100, 'the complete lines stay for the next attempt');
    assert.ok(!existsSync(resultsFile(jobDir, chunk)), 'nothing is final yet');

    const beats: Record<string, number>[] = [];
    const outcome = await attempt({ jobDir, chunk, batchId }, 2, beats);
    assert.equal(outcome.resumedFromLine, 100);
    const got = readLines(resultsFile(jobDir, chunk)).map((l) => l.custom_id);
    assert.equal(got.length, 300);
    assert.deepEqual(sorted(got), sorted(ids('cut', 300)));
    assert.ok(
      beats.some((b) => b.written === 300),
      'the download heartbeats its progress to the end',
    );
    assertNoTempFiles(jobDir);
  });

  it('errors of the SDK (404 right after the end, connection resets) fail the attempt normally', async () => {
    const reqs = ids('err', 40).map((id) => request(id));
    const { jobDir, chunk } = chunkOf('sdk-errors', reqs);
    const batchId = await endedBatch(reqs);
    await em.setFaults({ http: [{ endpoint: 'results', status: 404, times: 1 }] });
    await assert.rejects(attempt({ jobDir, chunk, batchId }, 1), failure('ResultsIncomplete', false));
    // More resets than the SDK retries.
    await em.setFaults({ http: [{ endpoint: 'results', reset: true, times: 3 }] });
    await assert.rejects(attempt({ jobDir, chunk, batchId }, 2), failure('ResultsIncomplete', false));
    await em.setFaults({});
    const outcome = await attempt({ jobDir, chunk, batchId }, 3);
    assert.deepEqual(sorted(readLines(resultsFile(jobDir, chunk)).map((l) => l.custom_id)), sorted(ids('err', 40)));
    assert.equal(outcome.outcomes.succeeded, 40);
  });

  it('retryable errors among the results, a cut-off, and temp files of a dead attempt: no crash, exact retry ids', async () => {
    const reqs = ids('mix', 400).map((id) => request(id));
    const { jobDir, chunk } = chunkOf('mixed', reqs);
    await em.setFaults({ outcomes: { overloaded_error: 0.2, api_error: 0.1, invalid_request_error: 0.05 } });
    const batchId = await endedBatch(reqs);
    await em.setFaults({ resultsCutoff: { afterLines: 150 } });
    const round = path.join(fileOf(jobDir), 'rounds', '0');
    mkdirSync(path.join(round, 'retry'), { recursive: true });
    mkdirSync(path.join(round, 'outcomes'), { recursive: true });
    // What a worker that died mid-write leaves (the store's hidden temp files, see FileStore).
    writeFileSync(path.join(round, 'retry', `.${chunk.id}.ids.partial-99999-1`), 'mix-1\nmi');
    writeFileSync(path.join(round, 'retry', `.${chunk.id}.ids.partial-99999-2`), 'mix-2\nmi');
    writeFileSync(path.join(round, 'outcomes', `.${chunk.id}.json.partial-99999-3`), '{"chunk');

    await assert.rejects(attempt({ jobDir, chunk, batchId }, 1), failure('ResultsIncomplete', false));
    const outcome = await attempt({ jobDir, chunk, batchId }, 2);
    await em.setFaults({});
    const got = readLines(resultsFile(jobDir, chunk));
    assert.deepEqual(sorted(got.map((l) => l.custom_id)), sorted(ids('mix', 400)));
    const retryable = got
      .filter((l) => l.result.type === 'errored' && l.result.error?.error?.type !== 'invalid_request_error')
      .map((l) => l.custom_id);
    assert.ok(retryable.length > 0, 'the fault produced retryable errors');
    assert.equal(outcome.retryable, retryable.length);
    assert.ok(outcome.retryUri);
    assert.deepEqual(
      sorted(readFileSync(fileOf(outcome.retryUri), 'utf8').split('\n').filter(Boolean)),
      sorted(retryable),
    );
    assertNoTempFiles(jobDir);
  });

  it('a download that keeps missing requests: retried up to the bound, then they are resubmitted, one line each', async () => {
    const reqs = ids('miss', 12).map((id) => request(id));
    const { jobDir, chunk } = chunkOf('missing', reqs);
    // The batch lacks two requests of the chunk: every download ends cleanly without them.
    const batchId = await endedBatch(reqs.slice(0, 10));
    for (const n of [1, RESULTS_FULL_ATTEMPTS - 1])
      await assert.rejects(attempt({ jobDir, chunk, batchId }, n), (err: unknown) => {
        failure('ResultsIncomplete', false)(err);
        assert.ok((err as ApplicationFailure).nextRetryDelay, 'waits a few seconds before downloading again');
        assert.match((err as ApplicationFailure).message, /lack 2 of 12/);
        return true;
      });
    assert.ok(!existsSync(resultsFile(jobDir, chunk)));

    const outcome = await attempt({ jobDir, chunk, batchId }, RESULTS_FULL_ATTEMPTS);
    assert.equal(outcome.resumedFromLine, 10);
    assert.equal(outcome.requests, 12);
    assert.equal(outcome.retryable, 2);
    assert.deepEqual(outcome.outcomes, { succeeded: 10 }, 'no outcome key for the unanswered');
    assert.ok(outcome.retryUri);
    assert.deepEqual(readFileSync(fileOf(outcome.retryUri), 'utf8').split('\n').filter(Boolean), [
      'miss-10',
      'miss-11',
    ]);
    assert.equal(readLines(resultsFile(jobDir, chunk)).length, 10);

    // The retry round sends them again, and the output has exactly one line per request.
    const [next, ...more] = await retryRoundActivities(deps).planRetryRound({
      jobDir,
      round: 1,
      from: [{ uri: chunk.uri, retryUri: outcome.retryUri }],
      chunk: { maxRequests: 1000, maxBytes: 10_000_000 },
    });
    assert.ok(next && more.length === 0);
    const retried = readLines(fileOf(next.uri)) as unknown as Request[];
    assert.deepEqual(
      retried.map((r) => r.custom_id),
      ['miss-10', 'miss-11'],
    );
    const batch1 = await endedBatch(retried);
    const outcome1 = await attempt({ jobDir, chunk: next, batchId: batch1 }, 1);
    assert.equal(outcome1.outcomes.succeeded, 2);
    const output = path.join(root, 'missing-out.jsonl');
    const summary = await finalizeActivities(deps).finalizeJob({
      jobId: 'missing',
      jobDir,
      input: 'input.jsonl',
      output,
      roundsRun: 2,
      canceled: false,
      unsubmitted: [],
      failed: [],
      prepared: { lines: 12, requests: 12, invalidLines: 0, invalidReport: null },
      estimate: null,
      startedAt: Date.now(),
      notes: [],
    });
    assert.equal(summary.lines, 12);
    const out = readLines(output).map((l) => l.custom_id);
    assert.deepEqual(sorted(out), sorted(ids('miss', 12)), 'each request exactly once in the output');
    assertNoTempFiles(jobDir);

    // With no retry round left, the unanswered still get their line: errored, saying why.
    const lastRound = path.join(root, 'missing-last-round.jsonl');
    const alone = await finalizeActivities(deps).finalizeJob({
      jobId: 'missing',
      jobDir,
      input: 'input.jsonl',
      output: lastRound,
      roundsRun: 1,
      canceled: false,
      unsubmitted: [],
      failed: [],
      prepared: { lines: 12, requests: 12, invalidLines: 0, invalidReport: null },
      estimate: null,
      startedAt: Date.now(),
      notes: [],
    });
    assert.equal(alone.lines, 12);
    assert.deepEqual(alone.outcomes, { succeeded: 10, 'errored:job_error': 2 });
    const unanswered = readLines(lastRound).filter((l) => l.result.type === 'errored');
    assert.deepEqual(sorted(unanswered.map((l) => l.custom_id)), ['miss-10', 'miss-11']);
  });

  it('an unexpected custom_id never reaches the results file: downloaded again, then the unanswered requests are sent again', async () => {
    const reqs = ids('own', 10).map((id) => request(id));
    const { jobDir, chunk } = chunkOf('mismatch', reqs);
    // A batch half another's (an API fault, or one adopted by mistake), with retryable errors among its results.
    await em.setFaults({ outcomes: { overloaded_error: 0.5 } });
    const batchId = await endedBatch([...reqs.slice(0, 5), ...ids('other', 5, 5).map((id) => request(id))]);
    await em.setFaults({});
    for (let n = 1; n < RESULTS_FULL_ATTEMPTS; n++)
      await assert.rejects(attempt({ jobDir, chunk, batchId }, n), (err: unknown) => {
        failure('ResultsMismatch', false)(err);
        assert.match((err as Error).message, /5 results that are not requests .*'other-\d+'/);
        return true;
      });
    assert.ok(!existsSync(path.join(fileOf(jobDir), 'rounds', '0', 'outcomes', `${chunk.id}.json`)));
    const outcome = await attempt({ jobDir, chunk, batchId }, RESULTS_FULL_ATTEMPTS);
    const got = readLines(resultsFile(jobDir, chunk)).map((l) => l.custom_id);
    assert.deepEqual(sorted(got), sorted(ids('own', 5)), 'only its own answers, each once');
    assert.ok(outcome.retryUri);
    const retried = readFileSync(fileOf(outcome.retryUri), 'utf8').split('\n').filter(Boolean);
    for (const id of ids('own', 10).slice(5)) assert.ok(retried.includes(id), `${id} is sent again`);
    assertNoTempFiles(jobDir);
  });

  it('a result sent twice in one download is written once', async () => {
    const reqs = ids('dup', 20).map((id) => request(id));
    const { jobDir, chunk } = chunkOf('duplicates', reqs);
    const batchId = await endedBatch(reqs);
    // The emulator serves this file as the results stream: make it repeat three results.
    const served = path.join(em.dataDir, 'batches', batchId, 'results.jsonl');
    const apiLines = readFileSync(served, 'utf8').split('\n').filter(Boolean);
    appendFileSync(served, [apiLines[3], apiLines[0], apiLines[3]].join('\n') + '\n');
    assert.equal((await collect(await em.client.messages.batches.results(batchId))).length, 23);

    const outcome = await attempt({ jobDir, chunk, batchId }, 1);
    const got = readLines(resultsFile(jobDir, chunk)).map((l) => l.custom_id);
    assert.equal(got.length, 20);
    assert.deepEqual(sorted(got), sorted(ids('dup', 20)));
    assert.equal(outcome.outcomes.succeeded, 20);
  });
});
