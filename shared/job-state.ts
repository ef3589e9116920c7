import type { ChunkRef, Estimate, InvalidLine, JobReportSummary, RequestCounts } from './job-types.js';
import type { PilotMeasure } from './pilot.js';

export type JobPhase =
  | 'validating'
  | 'piloting'
  | 'estimating'
  | 'awaiting_approval'
  | 'running'
  | 'finalizing'
  | 'completed'
  | 'failed'
  | 'rejected'
  | 'canceling'
  | 'canceled';

export type ChunkStatus =
  | 'pending'
  | 'submitting'
  | 'in_progress'
  | 'canceling'
  | 'fetching'
  | 'done'
  | 'failed'
  /** Never submitted: its worst case would have passed the job's budget. */
  | 'held_back'
  /** Answered through the synchronous Messages API (a pilot, or the job's last round at its deadline), under way. */
  | 'synchronous'
  /** Not submitted as a batch: the deadline's cutoff came first, and its requests went to the synchronous round. */
  | 'rerouted';

/** What a chunk child tells its job (a signal) whenever something changes. */
export interface ChunkProgress {
  chunkId: string;
  status: ChunkStatus;
  batchId?: string;
  adopted?: boolean;
  counts?: RequestCounts;
  expiresAt?: string;
  /** The API's clock minus ours at the last poll, for counting down to `expiresAt` on the API's own clock. */
  apiClockAheadMs?: number;
  lastPollAt?: number;
  nextPollAt?: number;
  expiryWarnedAt?: number;
  outcome?: { retryUri: string | null; retryable: number; outcomes: Record<string, number>; costUsd: number };
  error?: string;
}

export interface ChunkState extends Omit<ChunkProgress, 'chunkId'> {
  ref: ChunkRef;
  /** Answered through the Messages API instead of a batch: never a child workflow. */
  sync?: true;
}

export interface Approval {
  required: boolean;
  thresholdUsd: number;
  state: 'not_needed' | 'waiting' | 'approved' | 'rejected' | 'timed_out';
  by?: string;
  reason?: string;
  deadline?: number;
}

/** The job's whole state: the status query reads it, and continue-as-new carries it. */
export interface JobState {
  phase: JobPhase;
  startedAt: number;
  round: number;
  prepared: {
    jobDir: string;
    lines: number;
    requests: number;
    invalidLines: number;
    invalidReport: string | null;
    /** The first problems of the skipped lines (the whole list is at `invalidReport`). */
    invalidProblems?: number;
    invalidFirst?: InvalidLine[];
  } | null;
  estimate: Estimate | null;
  approval: Approval | null;
  /** Every chunk of every round so far, in order. */
  chunks: ChunkState[];
  notes: string[];
  report: JobReportSummary | null;
  error: string | null;
  /** Why the job's budget stopped it from submitting more (absent while it has not). */
  budgetStopped?: string;
  /** What the pilot measured (absent: no pilot ran). */
  pilot?: { requests: number; costUsd: number; measure: PilotMeasure };
  /** Set when the deadline's cutoff came: the batches under way were canceled, the rest goes synchronously. */
  cutoffAt?: number;
  /** The cutoff was acted on: batches under way canceled, those not submitted rerouted. */
  cutoffHandled?: true;
}

export function initialState(startedAt: number): JobState {
  return {
    phase: 'validating',
    startedAt,
    round: 0,
    prepared: null,
    estimate: null,
    approval: null,
    chunks: [],
    notes: [],
    report: null,
    error: null,
  };
}

/** Phases a job does not leave. */
export const ENDED_PHASES: readonly string[] = ['completed', 'failed', 'rejected', 'canceled'] satisfies JobPhase[];

const IN_QUEUE: ChunkStatus[] = ['submitting', 'in_progress', 'canceling'];
const ACTIVE: ChunkStatus[] = [...IN_QUEUE, 'fetching'];
export const isActive = (c: ChunkState) => ACTIVE.includes(c.status);

/** Applies a child's progress; signals can arrive out of order, so a finished chunk never goes back. */
export function applyProgress(state: JobState, p: ChunkProgress): void {
  const chunk = state.chunks.find((c) => c.ref.id === p.chunkId);
  if (!chunk || chunk.status === 'done' || chunk.status === 'failed') return;
  const { chunkId: _id, ...rest } = p;
  Object.assign(chunk, rest);
}

/**
 * Which pending chunks of the current round to start now. Admission control: the requests waiting in Anthropic's
 * processing queue stay under `maxQueuedRequests` (a chunk is let in alone when nothing else is queued), at most
 * `maxConcurrentBatches` run, and only one create is in flight at a time (so reconciling a lost create can never
 * confuse two chunks of the same job).
 */
export function chunksToStart(
  state: JobState,
  limits: { maxQueuedRequests: number; maxConcurrentBatches: number },
): ChunkState[] {
  if (state.chunks.some((c) => c.status === 'submitting')) return [];
  const queued = state.chunks.filter((c) => IN_QUEUE.includes(c.status)).reduce((sum, c) => sum + c.ref.requests, 0);
  const running = state.chunks.filter(isActive).length;
  const next = state.chunks.find((c) => c.status === 'pending' && c.ref.round === state.round && !c.sync);
  if (!next || running >= limits.maxConcurrentBatches) return [];
  if (queued > 0 && queued + next.ref.requests > limits.maxQueuedRequests) return [];
  return [next];
}

const FINISHED: ChunkStatus[] = ['done', 'failed', 'held_back', 'rerouted'];

export function roundFinished(state: JobState): boolean {
  return state.chunks.filter((c) => c.ref.round === state.round).every((c) => FINISHED.includes(c.status));
}

/**
 * Requests of the current round still without an answer: those of chunks not yet submitted or under way, and
 * those that finished chunks send again. The deadline's cutoff is counted back from the time they would take.
 */
export function unansweredRequests(state: JobState): number {
  let n = 0;
  for (const c of state.chunks) {
    if (c.ref.round !== state.round) continue;
    if (c.status === 'pending' || isActive(c) || c.status === 'synchronous') n += c.ref.requests;
    else if (c.status === 'done') n += c.outcome?.retryable ?? 0;
  }
  return n;
}

/** Totals for the status view. */
export function summarize(state: JobState) {
  const outcomes: Record<string, number> = {};
  let costUsd = 0;
  for (const c of state.chunks) {
    for (const [k, n] of Object.entries(c.outcome?.outcomes ?? {})) outcomes[k] = (outcomes[k] ?? 0) + n;
    costUsd += c.outcome?.costUsd ?? 0;
  }
  const polls = state.chunks.filter(isActive);
  return {
    outcomes,
    costUsd,
    lastPollAt: Math.max(0, ...state.chunks.map((c) => c.lastPollAt ?? 0)) || null,
    nextPollAt: polls.length ? Math.min(...polls.map((c) => c.nextPollAt ?? Infinity)) : null,
    expiringSoon: state.chunks.some((c) => c.expiryWarnedAt !== undefined && isActive(c)),
  };
}

/**
 * A chunk of a finished round cut to what is still read once the next round has started: its identity, size and
 * URI (finalize names failed and held-back chunks by it), batch, status, error and outcome tallies (totals, the
 * budget). Poll times, counts, expiry, digest and the retry list (the next round was planned from it) go: at 10
 * million requests a round they would carry hundreds of kilobytes per round into every continue-as-new.
 */
export function compactChunk(c: ChunkState): ChunkState {
  const { id, round, index, uri, requests, bytes } = c.ref;
  return {
    ref: { id, round, index, uri, requests, bytes },
    status: c.status,
    ...(c.sync ? { sync: c.sync } : {}),
    ...(c.batchId ? { batchId: c.batchId } : {}),
    ...(c.adopted ? { adopted: c.adopted } : {}),
    ...(c.error ? { error: c.error } : {}),
    ...(c.outcome
      ? {
          outcome: {
            retryUri: null,
            retryable: c.outcome.retryable,
            outcomes: c.outcome.outcomes,
            costUsd: c.outcome.costUsd,
          },
        }
      : {}),
  };
}

/** Compacts the chunks of every round before the current one (see `compactChunk`). */
export function compactFinishedRounds(state: JobState): void {
  state.chunks = state.chunks.map((c) => (c.ref.round < state.round ? compactChunk(c) : c));
}
