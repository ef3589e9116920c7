import { createHash } from 'node:crypto';
import type { FinalizeArgs } from '../../activities/finalize.js';
import type { EstimateArgs } from '../../activities/estimate.js';
import type { RetryRoundArgs } from '../../activities/retry-round.js';
import { parseJobInput, type JobInput, type JobInputRaw } from '../../shared/job-input.js';
import {
  applyProgress,
  compactFinishedRounds,
  dropDigest,
  initialState,
  keepOutcome,
  keepRef,
  settleChunk,
  type ChunkProgress,
  type ChunkState,
  type JobState,
} from '../../shared/job-state.js';
import { estimateChunks, failureNotes, finalizeLists, retrySources } from '../../shared/job-args.js';
import type { ChunkRef, Estimate, InvalidLine, PreparedJob } from '../../shared/job-types.js';

/**
 * The state a job holds at its largest, built with the functions the job workflow keeps its state with (the same
 * progress signals applied, the same compaction when rounds start) and realistic (long) values: every URI on S3
 * under a deep prefix, a schedule's long job id, every optional field of every progress signal filled in. Used to
 * check that what enters Temporal payloads stays far below their limits at the largest jobs.
 */

/** A Schedule's job id: its schedule id and the action's time. */
export const BIG_JOB_ID = 'nightly-support-ticket-triage-eu-west-1-production-2026-12-03T02:00:00Z';
const STORAGE_ROOT = 's3://acme-machine-learning-batch-artifacts-production/claude-batch/shared-workers';
export const JOB_DIR = `${STORAGE_ROOT}/jobs/${BIG_JOB_ID.replace(/[^A-Za-z0-9._-]/g, '_')}`;
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

/** What the progress of a chunk names of it. */
type Named = Pick<ChunkRef, 'id' | 'round' | 'requests'>;

const batchIdOf = (ref: Named) => `msgbatch_01${hex(ref.id).slice(0, 24)}`;

/** A batch under way, as its child reports it: every field its progress signals can set. */
function pollingProgress(ref: Named, i: number): ChunkProgress {
  const retryable = 1_234 + i;
  return {
    chunkId: ref.id,
    status: 'in_progress',
    batchId: batchIdOf(ref),
    adopted: i % 7 === 0,
    expiresAt: new Date(T0 + DAY + i * 1_000).toISOString().replace('Z', '123Z'),
    counts: {
      processing: 1_000,
      succeeded: ref.requests - retryable - 57 - 1_000,
      errored: 57 + 617,
      canceled: 0,
      expired: retryable - 617,
    },
    apiClockAheadMs: 1_234 + i,
    lastPollAt: T0 + 20 * 3600_000 + i * 1_017,
    nextPollAt: T0 + 20 * 3600_000 + i * 1_017 + 600_000,
    expiryWarnedAt: T0 + 20 * 3600_000 + i,
  };
}

/** What a batch produced, as the fetch reports it: five kinds of outcome, a retry list. */
function outcomeOf(ref: Named, i: number): NonNullable<ChunkProgress['outcome']> {
  const retryable = 1_234 + i;
  return {
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
  };
}

/** The chunk's last progress: done with every field set, or failed. */
function endProgress(ref: Named, i: number, error: string | null): ChunkProgress {
  if (error !== null) return { chunkId: ref.id, status: 'failed', batchId: batchIdOf(ref), error };
  return { ...pollingProgress(ref, i), status: 'done', outcome: outcomeOf(ref, i) };
}

/** A failure as the reaper and a child's root message word it, with an API error's body: ~190 characters. */
export const FAILURE =
  'its chunk workflow ended (terminated) without reporting how: 400 {"type":"error","error":{"type":"invalid_request_error","message":"requests.17.params.max_tokens: must be ≤ 64000"}}';

/** As startChunk does: the child gets the whole reference, the job drops the digest (COMPACT_PATCH). */
function start(state: JobState, c: ChunkState, i: number, compact: boolean): void {
  if (compact) dropDigest(c);
  c.status = 'submitting';
  applyProgress(state, pollingProgress(c.ref, i), compact);
}

/** As answerSynchronously does with a chunk it answered. */
function answerSynchronously(state: JobState, c: ChunkState, compact: boolean): void {
  const outcome = outcomeOf(c.ref, 0);
  c.status = 'done';
  if (compact) {
    c.outcome = keepOutcome(JOB_DIR, outcome);
    settleChunk(state, c);
  } else c.outcome = outcome;
}

export interface BigJob {
  raw: JobInputRaw;
  input: JobInput;
  /** The state just before finalizing: every chunk of every round done (every 97th failed). */
  state: JobState;
  /** The state while the last round's batches all run, each with every field its progress can set. */
  polling: JobState;
  prepared: PreparedJob;
  /** What the last retry round's plan returned. */
  retryPlan: ChunkRef[];
  /** The plan of a round after the last one, from the last round (every chunk of it has requests to retry). */
  retryArgs: RetryRoundArgs;
  estimateArgs: EstimateArgs;
  finalizeArgs: FinalizeArgs;
}

export interface BigJobOptions {
  /** false: the state of a job started before COMPACT_PATCH (every chunk of every round kept whole). */
  compact?: boolean;
  /** Which chunks fail, and how (null: done); by default every 97th, with FAILURE. */
  failure?: (ref: ChunkRef, i: number) => string | null;
}

const everyNinetySeventh = (_ref: ChunkRef, i: number) => (i % 97 === 96 ? FAILURE : null);

/** As the job builds finalizeJob's input (and notes its failures in its state). */
export function finalizeArgsOf(state: JobState, input: JobInput, compact: boolean, canceled = false): FinalizeArgs {
  state.notes.push(
    ...failureNotes(
      state.chunks.filter((c) => c.status === 'failed'),
      compact,
    ),
  );
  return {
    jobId: BIG_JOB_ID,
    jobDir: JOB_DIR,
    input: input.input,
    output: input.output,
    report: input.report,
    roundsRun: state.round + 1,
    canceled,
    ...finalizeLists(state),
    prepared: state.prepared!,
    estimate: state.estimate,
    startedAt: T0,
    notes: state.notes,
  };
}

/**
 * A job of `requests` requests in `chunksPerRound` chunks, and `retryRounds` retry rounds of as many chunks each
 * (the worst case: a round in which every request expired is sent again whole), run through the functions the
 * job keeps its state with.
 */
export function bigJob(
  requests: number,
  chunksPerRound: number,
  retryRounds: number,
  { compact = true, failure = everyNinetySeventh }: BigJobOptions = {},
): BigJob {
  const { raw, input } = bigJobInput();
  const state = initialState(T0);
  const rounds = Array.from({ length: retryRounds + 1 }, (_, r) => chunkRefs(r, chunksPerRound, requests));
  const pilot: ChunkRef = {
    ...chunkRefs(0, 1, 20)[0]!,
    id: 'r0-pilot',
    index: -1,
    uri: `${JOB_DIR}/rounds/0/chunks/r0-pilot.jsonl`,
  };
  const prepared: PreparedJob = {
    jobDir: JOB_DIR,
    chunks: rounds[0]!,
    pilot,
    lines: requests + 20 + 1_234,
    requests: requests + 20,
    invalid: { lines: 1_234, problems: 1_300, reportUri: `${JOB_DIR}/invalid.jsonl`, first: invalidFirst() },
    models: ['claude-haiku-4-5'],
    warnings: ['model names were not checked: the Models API is not served by this endpoint'],
  };
  state.prepared = {
    jobDir: JOB_DIR,
    lines: prepared.lines,
    requests: prepared.requests,
    invalidLines: prepared.invalid.lines,
    invalidReport: prepared.invalid.reportUri,
    invalidProblems: prepared.invalid.problems,
    invalidFirst: prepared.invalid.first,
  };
  const kept = (ref: ChunkRef) => (compact ? keepRef(JOB_DIR, ref) : ref);
  state.chunks = rounds[0]!.map((ref): ChunkState => ({ ref: kept(ref), status: 'pending' }));
  state.chunks.push({ ref: kept(pilot), status: 'pending', sync: true });
  state.notes = [
    `1234 invalid input line(s) skipped; every problem is listed in ${JOB_DIR}/invalid.jsonl`,
    ...prepared.warnings!,
  ];
  state.phase = 'piloting';
  answerSynchronously(state, state.chunks.at(-1)!, compact);
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
  const estimateArgs: EstimateArgs = {
    chunks: estimateChunks(state),
    estimate: input.estimate,
    jobDir: JOB_DIR,
    ...(input.prices ? { prices: input.prices } : {}),
    pilot: state.pilot,
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
  state.phase = 'running';
  let polling = state;
  for (const [r, refs] of rounds.entries()) {
    if (r > 0) {
      // As retryRound does: the round's chunks added, then the rounds before it compacted.
      state.round = r;
      state.chunks.push(...refs.map((ref): ChunkState => ({ ref: kept(ref), status: 'pending' })));
      if (compact) compactFinishedRounds(state);
    }
    const chunks = state.chunks.filter((c) => c.ref.round === r && !c.sync);
    for (const [i, c] of chunks.entries()) start(state, c, i, compact);
    if (r === retryRounds) polling = structuredClone(state);
    for (const [i, c] of chunks.entries()) applyProgress(state, endProgress(c.ref, i, failure(refs[i]!, i)), compact);
  }
  const last = rounds.at(-1)!;
  const retryArgs: RetryRoundArgs = {
    jobDir: JOB_DIR,
    round: retryRounds + 1,
    from: retrySources(state),
    chunk: input.chunk,
  };
  const finalizeArgs = finalizeArgsOf(state, input, compact);
  state.phase = 'finalizing';
  return { raw, input, state, polling, prepared, retryPlan: last, retryArgs, estimateArgs, finalizeArgs };
}
