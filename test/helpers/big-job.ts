import { createHash } from 'node:crypto';
import type { FinalizeArgs } from '../../activities/finalize.js';
import type { EstimateArgs } from '../../activities/estimate.js';
import type { RetryRoundArgs } from '../../activities/retry-round.js';
import { parseJobInput, type JobInput, type JobInputRaw } from '../../shared/job-input.js';
import { compactFinishedRounds, initialState, type ChunkState, type JobState } from '../../shared/job-state.js';
import type { ChunkRef, Estimate, InvalidLine, PreparedJob } from '../../shared/job-types.js';

/**
 * The state a job holds at its largest, built from the shared types with realistic (long) values: every URI on
 * S3 under a deep prefix, a schedule's long job id, every optional field of every chunk filled in. Used to check
 * that what enters Temporal payloads stays far below their limits at the largest jobs.
 */

/** A Schedule's job id: its schedule id and the action's time. */
export const BIG_JOB_ID = 'nightly-support-ticket-triage-eu-west-1-production-2026-12-03T02:00:00Z';
const STORAGE_ROOT = 's3://acme-machine-learning-batch-artifacts-production/claude-batch/shared-workers';
const JOB_DIR = `${STORAGE_ROOT}/jobs/${BIG_JOB_ID.replace(/[^A-Za-z0-9._-]/g, '_')}`;
const DAY = 24 * 3600_000;
const T0 = Date.parse('2026-12-03T02:00:00Z');

/** A long system prompt, carried in the job input (so in every continue-as-new). */
const SYSTEM = 'You triage support tickets. '.repeat(150);

export function bigJobInput(): { raw: JobInputRaw; input: JobInput } {
  const raw: JobInputRaw = {
    input: 's3://acme-machine-learning-datasets-production/support/tickets/2026-12-03/all-open-tickets.txt',
    output: 's3://acme-machine-learning-results-production/support/triage/2026-12-03/all-open-tickets.jsonl',
    report: 's3://acme-machine-learning-results-production/support/triage/2026-12-03/all-open-tickets.report',
    format: 'lines',
    template: { prompt: 'Ticket:\n{item}\n\nLabel it.', system: SYSTEM, maxTokens: 512 },
    budget: { maxUsd: 25_000 },
    deadline: { at: '30h', concurrency: 32 },
    notify: { webhook: 'https://hooks.acme.example/claude-batch/support-triage/expiring' },
    prices: { 'claude-haiku-4-5': { input: 1, output: 5, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1 } },
  };
  const parsed = parseJobInput(raw);
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return { raw, input: parsed.value };
}

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const chunkId = (round: number, index: number) => `r${round}-c${String(index + 1).padStart(4, '0')}`;

/** `count` chunks of one round, sharing `requests` as the chunk writer would (full chunks, then the rest). */
export function chunkRefs(round: number, count: number, requests: number): ChunkRef[] {
  const per = Math.ceil(requests / count);
  return Array.from({ length: count }, (_, index): ChunkRef => {
    const id = chunkId(round, index);
    const n = Math.min(per, requests - index * per);
    return {
      id,
      round,
      index,
      uri: `${JOB_DIR}/rounds/${round}/chunks/${id}.jsonl`,
      requests: n,
      bytes: n * 2_559, // about the byte limit's share: 256 MB / 100,000
      digest: hex(id),
    };
  });
}

/** A chunk done, with every field its progress signals can set: the most the job keeps of one chunk. */
export function doneChunk(ref: ChunkRef, i: number): ChunkState {
  const retryable = 1_234 + i;
  return {
    ref,
    status: 'done',
    batchId: `msgbatch_01${hex(ref.id).slice(0, 24)}`,
    adopted: i % 7 === 0,
    expiresAt: new Date(T0 + DAY + i * 1_000).toISOString().replace('Z', '123Z'),
    counts: {
      processing: 0,
      succeeded: ref.requests - retryable - 57,
      errored: 57 + 617,
      canceled: 0,
      expired: retryable - 617,
    },
    apiClockAheadMs: 1_234 + i,
    lastPollAt: T0 + 20 * 3600_000 + i * 1_017,
    nextPollAt: T0 + 20 * 3600_000 + i * 1_017 + 600_000,
    expiryWarnedAt: T0 + 20 * 3600_000 + i,
    outcome: {
      retryUri: `${JOB_DIR}/rounds/${ref.round}/retry/${ref.id}.ids`,
      retryable,
      outcomes: {
        succeeded: ref.requests - retryable - 57,
        expired: retryable - 617,
        'errored:overloaded_error': 617,
        'errored:invalid_request_error': 41,
        'errored:api_error': 16,
      },
      costUsd: 123.45678901234567 + i / 3,
    },
  };
}

const failedChunk = (ref: ChunkRef): ChunkState => ({
  ref,
  status: 'failed',
  batchId: `msgbatch_01${hex(ref.id).slice(0, 24)}`,
  error:
    'its chunk workflow ended (terminated) without reporting how: 400 {"type":"error","error":{"type":"invalid_request_error","message":"requests.17.params.max_tokens: must be ≤ 64000"}}',
});

const invalidFirst = (): InvalidLine[] =>
  Array.from({ length: 25 }, (_, i) => ({
    line: 1_000_000 + i * 37_113,
    customId: `ticket-2026-12-03-${String(i).padStart(8, '0')}`,
    field: 'params.messages[0].content',
    rule: 'must be a non-empty string or an array of content blocks (got an empty string)',
  }));

const TOKENS = {
  input: 9_123_456_789,
  output: 4_567_890_123,
  cacheWrite5m: 123_456,
  cacheWrite1h: 0,
  cacheRead: 987_654_321,
};

export function bigEstimate(requests: number): Estimate {
  return {
    method: 'sample',
    sampleSize: 400,
    inputErrorBound: 0.012345678901234567,
    outputRatio: 0.3456789012345678,
    requests,
    tokens: TOKENS,
    batchUsd: 12_345.678901234567,
    standardUsd: 24_691.35780246913,
    worst: { tokens: TOKENS, batchUsd: 19_876.543210987653, standardUsd: 39_753.0864219753 },
    cacheAssumption:
      'each batch writes a shared cached prefix once and its other requests read it (hits in batches are best-effort; the worst case has none)',
    priceTableAsOf: '2026-11-30',
    priceTableWarning: 'the price table is 95 days old (CLAUDE_BATCH_PRICES_MAX_AGE is 90d): check the prices',
    unknownModels: [],
    pilot: { requests: 20, answered: 20, costUsd: 0.0123456789, outputErrorBound: 0.1234567, latencyP90Ms: 4_321 },
    expectedRange: { lowUsd: 11_234.567890123457, highUsd: 13_456.789012345678 },
  };
}

export interface BigJob {
  raw: JobInputRaw;
  input: JobInput;
  /**
   * The state just before finalizing: every chunk of every round done (a few failed), all fields set, and the
   * rounds before the last compacted as the job compacts them.
   */
  state: JobState;
  prepared: PreparedJob;
  /** What the last retry round's plan returned. */
  retryPlan: ChunkRef[];
  retryArgs: RetryRoundArgs;
  estimateArgs: EstimateArgs;
  /** Canceled before a batch was submitted: every chunk goes to finalize as unsubmitted (its longest list). */
  finalizeArgs: FinalizeArgs;
}

/**
 * A job of `requests` requests in `chunksPerRound` chunks, and `retryRounds` retry rounds of as many chunks each
 * (the worst case: a round in which every request expired is sent again whole). `compact: false` is the state of
 * a job started before COMPACT_PATCH.
 */
export function bigJob(requests: number, chunksPerRound: number, retryRounds: number, compact = true): BigJob {
  const { raw, input } = bigJobInput();
  const state = initialState(T0);
  const rounds = Array.from({ length: retryRounds + 1 }, (_, r) => chunkRefs(r, chunksPerRound, requests));
  const prepared: PreparedJob = {
    jobDir: JOB_DIR,
    chunks: rounds[0]!,
    pilot: { ...chunkRefs(0, 1, 20)[0]!, id: 'r0-pilot', index: -1, uri: `${JOB_DIR}/rounds/0/chunks/r0-pilot.jsonl` },
    lines: requests + 20 + 1_234,
    requests: requests + 20,
    invalid: { lines: 1_234, problems: 1_300, reportUri: `${JOB_DIR}/invalid.jsonl`, first: invalidFirst() },
    models: ['claude-haiku-4-5'],
    warnings: ['model names were not checked: the Models API is not served by this endpoint'],
  };
  state.phase = 'running';
  state.round = retryRounds;
  state.prepared = {
    jobDir: JOB_DIR,
    lines: prepared.lines,
    requests: prepared.requests,
    invalidLines: prepared.invalid.lines,
    invalidReport: prepared.invalid.reportUri,
    invalidProblems: prepared.invalid.problems,
    invalidFirst: prepared.invalid.first,
  };
  state.estimate = bigEstimate(requests);
  state.approval = {
    required: true,
    thresholdUsd: 10,
    state: 'approved',
    by: 'jane.doe@acme.example',
    reason: 'nightly triage, approved standing budget',
    deadline: T0 + DAY,
  };
  state.pilot = {
    requests: 20,
    costUsd: 0.0123456789,
    measure: {
      n: 20,
      output: 4_321,
      maxTokens: 10_240,
      outputSquares: 1_234_567,
      maxTokensSquares: 5_242_880,
      products: 2_212_352,
      latencyP90Ms: 4_321,
      uncachedInput: 123_456,
      promptInput: 234_567,
    },
  };
  const { pilot } = prepared;
  state.chunks = [
    ...rounds.flatMap((refs) => refs.map((ref, i) => (i % 97 === 96 ? failedChunk(ref) : doneChunk(ref, i)))),
    { ...doneChunk(pilot!, 0), sync: true },
  ];
  // As the job does when each retry round starts (COMPACT_PATCH): the last round's chunks stay whole. A job
  // started before the patch compacts nothing.
  if (compact) compactFinishedRounds(state);
  state.notes = [
    `1234 invalid input line(s) skipped; every problem is listed in ${JOB_DIR}/invalid.jsonl`,
    ...prepared.warnings!,
  ];
  const last = rounds.at(-1)!;
  const from = last.map((c) => ({ uri: c.uri, retryUri: `${JOB_DIR}/rounds/${c.round}/retry/${c.id}.ids` }));
  return {
    raw,
    input,
    state,
    prepared,
    retryPlan: last,
    retryArgs: { jobDir: JOB_DIR, round: retryRounds + 1, from, chunk: input.chunk },
    estimateArgs: {
      chunks: rounds[0]!,
      estimate: input.estimate,
      jobDir: JOB_DIR,
      ...(input.prices ? { prices: input.prices } : {}),
      pilot: state.pilot,
    },
    // Its longest lists: every chunk failed (each named twice, in `failed` and in a note), or none was submitted.
    finalizeArgs: {
      jobId: BIG_JOB_ID,
      jobDir: JOB_DIR,
      input: input.input,
      output: input.output,
      report: input.report,
      roundsRun: 1,
      canceled: true,
      unsubmitted: rounds[0]!.map((c) => ({ uri: c.uri })),
      heldBack: [],
      failed: rounds[0]!.map((c) => ({ uri: c.uri, error: failedChunk(c).error! })),
      prepared: state.prepared,
      estimate: state.estimate,
      startedAt: T0,
      notes: [
        ...state.notes,
        ...rounds[0]!.map(
          (c) => `chunk ${c.id} failed (${failedChunk(c).error!}); its requests are answered as errored`,
        ),
      ],
    },
  };
}
