import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseJobInput } from '../../shared/job-input.js';
import { summarize } from '../../shared/job-state.js';
import { jobDetails, jobMemo, jobStatusView } from '../../shared/job-view.js';
import { MAX_CHUNKS_PER_ROUND } from '../../workflows/batch-job.js';
import { BIG_JOB_ID, bigJob, type BigJob } from '../helpers/big-job.js';

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

/** Every payload of the job that grows with its size, in bytes (JSON, as Temporal's default converter writes it). */
function payloads(job: BigJob): Record<string, number> {
  const { raw, input, state } = job;
  const totals = summarize(state);
  const { budget, deadline } = input;
  return {
    'continue-as-new input (job input + state)': bytes({ ...raw, state }),
    'status query result': bytes(
      jobStatusView(state, { jobId: BIG_JOB_ID, input: input.input, output: input.output, budget, deadline }),
    ),
    memo: bytes(jobMemo(state, totals, input)),
    'current details': bytes(jobDetails(state, totals, input)),
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
    for (const [what, n] of Object.entries(sizes)) assert.ok(n <= BOUND, `${what}: ${n} bytes`);
    // A job started before finished rounds were compacted carries them whole: still under the bound.
    const uncompacted = payloads(bigJob(TEN_MILLION, perRound, retry.maxRounds, false));
    show(t, 'the same, started before COMPACT_PATCH:', uncompacted);
    for (const [what, n] of Object.entries(uncompacted)) assert.ok(n <= BOUND, `${what}: ${n} bytes`);
  });

  it('keep a finished round at about half its size in state (compacted when the next round starts)', () => {
    const job = bigJob(TEN_MILLION, perRound, 1);
    const round = (r: number) => bytes(job.state.chunks.filter((c) => c.ref.round === r && !c.sync));
    assert.ok(round(0) * 1.8 < round(1), `finished round ${round(0)} bytes, current round ${round(1)}`);
    const done = job.state.chunks.find((c) => c.ref.round === 0 && c.status === 'done')!;
    assert.equal(typeof done.outcome?.costUsd, 'number', 'the outcome tallies stay: totals and the budget add them');
    assert.ok(done.batchId && done.ref.uri && done.ref.requests > 0);
  });

  it('stay under 2 MB with the most retry rounds (10) at the default chunk size', (t) => {
    const sizes = payloads(bigJob(TEN_MILLION, perRound, 10));
    show(t, `${perRound} chunks × 11 rounds:`, sizes);
    for (const [what, n] of Object.entries(sizes)) assert.ok(n <= LIMIT, `${what}: ${n} bytes`);
  });

  // Known limit: a round of 1000 chunks (requests of 25 KB and more, or chunk.maxRequests 10,000) keeps ~1 KB a
  // chunk in state, so four such rounds pass 2 MB. The fix is to keep chunk lists in storage (see the report).
  it(
    `stay under 2 MB at ${MAX_CHUNKS_PER_ROUND} chunks a round (the most a round may have)`,
    { todo: 'chunk lists in state grow ~1 KB a chunk: 1000-chunk rounds need them kept in storage' },
    (t) => {
      const sizes = payloads(bigJob(TEN_MILLION, MAX_CHUNKS_PER_ROUND, retry.maxRounds));
      show(t, `${MAX_CHUNKS_PER_ROUND} chunks × ${retry.maxRounds + 1} rounds:`, sizes);
      show(t, 'the same, started before COMPACT_PATCH:', payloads(bigJob(TEN_MILLION, MAX_CHUNKS_PER_ROUND, 3, false)));
      for (const [what, n] of Object.entries(sizes)) assert.ok(n <= LIMIT, `${what}: ${n} bytes`);
    },
  );
});
