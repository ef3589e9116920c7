import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseJobInput } from '../../shared/job-input.js';
import { chunkCounts, MAX_ERROR_CHARS, summarize, type JobState } from '../../shared/job-state.js';
import { jobDetails, jobMemo, jobStatusView } from '../../shared/job-view.js';
import { budgetStatus } from '../../shared/budget.js';
import { finalizeLists, retrySources } from '../../shared/job-args.js';
import { MAX_CHUNKS_PER_ROUND } from '../../workflows/batch-job.js';
import { BIG_JOB_ID, bigJob, FAILURE, type BigJob } from '../helpers/big-job.js';

/**
 * Temporal refuses a payload over 2 MB (the blob size limit; it warns from 512 KB) and a workflow whose
 * continue-as-new input passes it cannot go on. What the job keeps in state, answers to its status query and
 * passes to or gets from activities must stay far below that at the largest job it takes: 10 million requests.
 */
const KB = 1024;
/** Temporal's warning threshold for one payload: the bound every payload is held to. */
const BOUND = 512 * KB;
/** Temporal's hard limit (the server's default BlobSizeLimitError). */
const LIMIT = 2 * 1024 * KB;
const TEN_MILLION = 10_000_000;

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');

/** The status query's answer for a state of the big job. */
function statusOf(job: BigJob, state: JobState) {
  const { input, budget, deadline } = job.input;
  return jobStatusView(state, { jobId: BIG_JOB_ID, input, output: job.input.output, budget, deadline });
}

/** Every payload of the job that grows with its size, in bytes (JSON, as Temporal's default converter writes it). */
function payloads(job: BigJob): Record<string, number> {
  const { raw, input, state, polling } = job;
  return {
    'continue-as-new input, batches running': bytes({ ...raw, state: polling }),
    'continue-as-new input, before finalizing': bytes({ ...raw, state }),
    'status query result, batches running': bytes(statusOf(job, polling)),
    'status query result, before finalizing': bytes(statusOf(job, state)),
    memo: bytes(jobMemo(state, summarize(state), input)),
    'current details': bytes(jobDetails(state, summarize(state), input)),
    'prepareJob result': bytes(job.prepared),
    'estimateCost args': bytes(job.estimateArgs),
    'planRetryRound args': bytes(job.retryArgs),
    'planRetryRound result': bytes(job.retryPlan),
    'finalizeJob args': bytes(job.finalizeArgs),
  };
}

/** The sizes as test diagnostics, one line each (shown by the test runner). */
function show(t: { diagnostic(message: string): void }, title: string, sizes: Record<string, number>): void {
  t.diagnostic(title);
  for (const [k, n] of Object.entries(sizes)) t.diagnostic(`  ${k.padEnd(44)} ${(n / KB).toFixed(1).padStart(8)} KB`);
}

function assertUnder(sizes: Record<string, number>, bound: number): void {
  for (const [what, n] of Object.entries(sizes)) assert.ok(n <= bound, `${what}: ${n} bytes > ${bound}`);
}

describe('payload sizes at 10 million requests', () => {
  const defaults = parseJobInput({ input: 'in.jsonl', output: 'out.jsonl' });
  assert.ok(defaults.ok);
  const { chunk, retry } = defaults.value;
  // 100,000 requests a chunk (requests up to 2.5 KB on average: larger ones fill the 256 MB first).
  const perRound = Math.ceil(TEN_MILLION / chunk.maxRequests);

  it('stay under 512 KB each with the default chunk size and every retry round as large as the first', (t) => {
    assert.equal(perRound, 100);
    const sizes = payloads(bigJob(TEN_MILLION, perRound, retry.maxRounds));
    show(t, `${perRound} chunks × ${retry.maxRounds + 1} rounds:`, sizes);
    assertUnder(sizes, BOUND);
    // A job started before COMPACT_PATCH carries every chunk whole: still under the bound.
    const uncompacted = payloads(bigJob(TEN_MILLION, perRound, retry.maxRounds, { compact: false }));
    show(t, 'the same, started before COMPACT_PATCH:', uncompacted);
    assertUnder(uncompacted, BOUND);
  });

  it('stay under 2 MB with the most retry rounds (10) at the default chunk size', (t) => {
    const sizes = payloads(bigJob(TEN_MILLION, perRound, 10));
    show(t, `${perRound} chunks × 11 rounds:`, sizes);
    assertUnder(sizes, LIMIT);
  });

  // 10 million requests of 25 KB and more need 1000 chunks a round: a batch holds at most 256 MB.
  it(`stay under 512 KB each at ${MAX_CHUNKS_PER_ROUND} chunks a round (the most a round may have)`, (t) => {
    const sizes = payloads(bigJob(TEN_MILLION, MAX_CHUNKS_PER_ROUND, retry.maxRounds));
    show(t, `${MAX_CHUNKS_PER_ROUND} chunks × ${retry.maxRounds + 1} rounds:`, sizes);
    assertUnder(sizes, BOUND);
    const before = payloads(bigJob(TEN_MILLION, MAX_CHUNKS_PER_ROUND, retry.maxRounds, { compact: false }));
    show(t, 'the same, started before COMPACT_PATCH (for comparison; such rounds passed 2 MB):', before);
  });

  it(`keep the state under 2 MB with the most retry rounds (10) at ${MAX_CHUNKS_PER_ROUND} chunks a round`, (t) => {
    const sizes = payloads(bigJob(TEN_MILLION, MAX_CHUNKS_PER_ROUND, 10));
    show(t, `${MAX_CHUNKS_PER_ROUND} chunks × 11 rounds:`, sizes);
    // Finished rounds cost the state only their summaries and failed chunks: ten of them add ~35 KB.
    assertUnder(sizes, LIMIT);
  });

  it(`keep finalize's input and the state under 512 KB when every one of ${MAX_CHUNKS_PER_ROUND} chunks failed`, (t) => {
    const job = bigJob(TEN_MILLION, MAX_CHUNKS_PER_ROUND, 0, { failure: () => FAILURE });
    assert.equal(job.finalizeArgs.failed.length, MAX_CHUNKS_PER_ROUND);
    const sizes = {
      'finalizeJob args': bytes(job.finalizeArgs),
      'continue-as-new input, finalizing': bytes({ ...job.raw, state: job.state }),
      'status query result, finalizing': bytes(statusOf(job, job.state)),
    };
    show(t, `${MAX_CHUNKS_PER_ROUND} chunks, all failed (${FAILURE.length}-character error):`, sizes);
    assertUnder(sizes, BOUND);
    // One note for all of them (it used to be one a chunk, each with the error: ~250 KB more, twice).
    assert.equal(job.finalizeArgs.notes.filter((n) => n.includes('failed (')).length, 1);
  });

  // The worst that can be: every chunk failed, each with an error of its own longer than the state keeps. Each
  // request is in one failed chunk at most, so the lists never pass ~1000 chunks (plus one per round). Errors are
  // cut to MAX_ERROR_CHARS, so finalize's input stays under 1 MB: half the 2 MB limit, and it is an activity's
  // input, never carried through continue-as-new.
  it('keep them under 1 MB when every chunk failed with a long error of its own', (t) => {
    const long = (i: number) => `${i}: ${'the API said no, at length. '.repeat(80)}`;
    const job = bigJob(TEN_MILLION, MAX_CHUNKS_PER_ROUND, 0, { failure: (_r, i) => long(i) });
    assert.ok(job.finalizeArgs.failed.every((f) => f.error.length <= MAX_ERROR_CHARS));
    const sizes = {
      'finalizeJob args': bytes(job.finalizeArgs),
      'continue-as-new input, finalizing': bytes({ ...job.raw, state: job.state }),
      'status query result, finalizing': bytes(statusOf(job, job.state)),
    };
    show(t, `${MAX_CHUNKS_PER_ROUND} chunks, all failed with distinct ${long(0).length}-character errors:`, sizes);
    assertUnder(sizes, 1024 * KB);
  });
});

describe('a compacted state tells what the whole one does', () => {
  const pair = (rounds: number) => ({
    compact: bigJob(TEN_MILLION, 100, rounds),
    whole: bigJob(TEN_MILLION, 100, rounds, { compact: false }),
  });

  it("has the same totals, budget, chunk counts, retry sources and finalize's lists", () => {
    const { compact, whole } = pair(3);
    const a = summarize(compact.state);
    const b = summarize(whole.state);
    assert.deepEqual(a.outcomes, b.outcomes);
    assert.ok(Math.abs(a.costUsd - b.costUsd) < 1e-6, `${a.costUsd} vs ${b.costUsd}`);
    assert.equal(a.lastPollAt, b.lastPollAt, "the last poll survives the chunks' poll times");
    assert.ok(Math.abs(budgetStatus(compact.state, 1e9).spentUsd - budgetStatus(whole.state, 1e9).spentUsd) < 1e-6);
    assert.deepEqual(chunkCounts(compact.state), chunkCounts(whole.state));
    assert.deepEqual(chunkCounts(whole.state), { chunks: 401, done: 397 });
    assert.deepEqual(retrySources(compact.state), retrySources(whole.state));
    assert.deepEqual(finalizeLists(compact.state), finalizeLists(whole.state));
    // The estimate matches prepare's sample by chunk digests: they go to it whole.
    assert.deepEqual(compact.estimateArgs.chunks, whole.estimateArgs.chunks);
    assert.ok(compact.estimateArgs.chunks.every((c) => c.digest !== undefined));
    assert.equal(jobDetails(compact.state, a, compact.input), jobDetails(whole.state, b, whole.input));
  });

  it('keeps finished rounds as summaries and their failed chunks, and the current round with paths', () => {
    const { state } = bigJob(TEN_MILLION, 100, 3);
    assert.deepEqual(
      state.rounds?.map((r) => [r.round, r.chunks, r.statuses.done]),
      [
        [0, 100, 100], // 99 batches and the pilot; the failed one is still a chunk
        [1, 99, 99],
        [2, 99, 99],
      ],
    );
    assert.equal(state.rounds![0]!.synchronous, 1);
    const earlier = state.chunks.filter((c) => c.ref.round < 3);
    assert.deepEqual(
      earlier.map((c) => [c.ref.id, c.status]),
      [0, 1, 2].map((r) => [`r${r}-c0097`, 'failed']),
    );
    const done = state.chunks.find((c) => c.ref.round === 3 && c.status === 'done')!;
    assert.equal(done.ref.path, '/rounds/3/chunks/r3-c0001.jsonl');
    assert.equal(done.ref.uri, undefined);
    assert.equal(done.outcome?.retryPath, '/rounds/3/retry/r3-c0001.ids');
    assert.equal(done.ref.digest, undefined, 'the child had it');
    assert.equal(done.counts, undefined, "a done chunk's outcome tells more than its counts");
  });
});
