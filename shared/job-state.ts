import type { EarlyChunk } from './early-create.js';
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

/**
 * A chunk's reference as the job keeps it. A URI under the job's directory is kept as its rest after that
 * directory (`path`: `/rounds/3/chunks/r3-c0501.jsonl`, some 150 bytes shorter on a deep S3 prefix) and put
 * together again whenever an activity or a child needs it (`chunkUri`). States of jobs started before
 * COMPACT_PATCH, and URIs outside the job's directory, keep `uri`.
 */
export interface KeptRef extends Omit<ChunkRef, 'uri'> {
  uri?: string;
  /** The URI's rest after `prepared.jobDir` (it starts with the separator), kept in place of `uri`. */
  path?: string;
}

/** A chunk's outcome as the job keeps it: the retry list's URI likewise shortened to a `retryPath`. */
export interface KeptOutcome extends Omit<NonNullable<ChunkProgress['outcome']>, 'retryUri'> {
  /** Custom ids to send again, or null when none; absent when `retryPath` stands for it. */
  retryUri?: string | null;
  retryPath?: string;
}

export interface ChunkState extends Omit<ChunkProgress, 'chunkId' | 'outcome'> {
  ref: KeptRef;
  /** Answered through the Messages API instead of a batch: never a child workflow. */
  sync?: true;
  outcome?: KeptOutcome;
}

/**
 * What the job keeps of a finished round's chunks that nothing reads one by one any more, once the next round has
 * started: counts and sums instead of a ChunkState each (at 1000 chunks a round, ~400 KB a round). Failed and
 * held-back chunks stay in `chunks` (finalize answers their requests by their URIs) and count there, not here.
 */
export interface RoundSummary {
  round: number;
  /** Chunks summed here (batches and synchronous answers), and how many of them ended in each status. */
  chunks: number;
  statuses: Partial<Record<ChunkStatus, number>>;
  /** Their requests, and of those the ones answered in this round (done chunks'). */
  requests: number;
  answered: number;
  /** Of the chunks: submitted as a batch, found again after a lost create, answered through the Messages API. */
  batches: number;
  adopted: number;
  synchronous: number;
  /** Their outcome tallies, summed: the totals and the budget add these. */
  outcomes: Record<string, number>;
  costUsd: number;
  /** Requests they sent on to the next round. */
  retryable: number;
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
  /**
   * The chunks of the current round, in order, and the failed and held-back ones of earlier rounds; the other
   * chunks of earlier rounds are in `rounds` (jobs started before COMPACT_PATCH: every chunk of every round).
   */
  chunks: ChunkState[];
  /** Finished rounds' chunks, summed (see RoundSummary); absent until a second round starts. */
  rounds?: RoundSummary[];
  /** The latest poll of a chunk that no longer keeps its own poll times. */
  lastPollAt?: number;
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
  /**
   * The chunks whose creates were started while the input was still validated (shared/early-create.ts): a list
   * (one object in jobs of 0.3.0; read it with `earlyChunks`).
   */
  early?: EarlyChunk | EarlyChunk[];
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

/** A chunk whose child has ended: done or failed, it takes no more progress. */
const ended = (c: ChunkState) => c.status === 'done' || c.status === 'failed';

/**
 * Applies a child's progress; signals can arrive out of order, so a finished chunk never goes back. `compact`
 * (COMPACT_PATCH) keeps the retry list's URI as a path and settles a chunk that finished (`settleChunk`).
 */
export function applyProgress(state: JobState, p: ChunkProgress, compact = false): void {
  const chunk = state.chunks.find((c) => c.ref.id === p.chunkId);
  if (!chunk || ended(chunk)) return;
  const { chunkId: _id, outcome, ...rest } = p;
  Object.assign(chunk, rest);
  if (outcome) chunk.outcome = compact ? keepOutcome(state.prepared?.jobDir, outcome) : outcome;
  if (compact && ended(chunk)) settleChunk(state, chunk);
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

/** Adds `from`'s tallies into `into`. */
function addOutcomes(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

/** Totals for the status view: finished rounds' summaries, then every chunk kept. */
export function summarize(state: JobState) {
  const outcomes: Record<string, number> = {};
  let costUsd = 0;
  for (const r of state.rounds ?? []) {
    addOutcomes(outcomes, r.outcomes);
    costUsd += r.costUsd;
  }
  for (const c of state.chunks) {
    addOutcomes(outcomes, c.outcome?.outcomes ?? {});
    costUsd += c.outcome?.costUsd ?? 0;
  }
  const polls = state.chunks.filter(isActive);
  return {
    outcomes,
    costUsd,
    lastPollAt: Math.max(state.lastPollAt ?? 0, ...state.chunks.map((c) => c.lastPollAt ?? 0)) || null,
    nextPollAt: polls.length ? Math.min(...polls.map((c) => c.nextPollAt ?? Infinity)) : null,
    expiringSoon: state.chunks.some((c) => c.expiryWarnedAt !== undefined && isActive(c)),
  };
}

/** Chunks of every round so far, and of them those done: the summed ones and those kept. */
export function chunkCounts(state: JobState): { chunks: number; done: number } {
  let chunks = state.chunks.length;
  let done = state.chunks.filter((c) => c.status === 'done').length;
  for (const r of state.rounds ?? []) {
    chunks += r.chunks;
    done += r.statuses.done ?? 0;
  }
  return { chunks, done };
}

/** The rest of `uri` after `dir` when `uri` lies under it (the rest starts with the separator), else undefined. */
export function pathUnder(dir: string, uri: string): string | undefined {
  const sep = uri[dir.length];
  return dir !== '' && uri.startsWith(dir) && (sep === '/' || sep === '\\') ? uri.slice(dir.length) : undefined;
}

/** A chunk reference as the job keeps it: its URI as a path under the job's directory when it lies there. */
export function keepRef(jobDir: string, ref: ChunkRef): KeptRef {
  const path = pathUnder(jobDir, ref.uri);
  if (path === undefined) return ref;
  const { uri: _uri, ...rest } = ref;
  return { ...rest, path };
}

/** A kept reference's URI: as it was given, or the job's directory and the path under it. */
export function chunkUri(jobDir: string, ref: KeptRef): string {
  if (ref.uri !== undefined) return ref.uri;
  if (ref.path !== undefined) return jobDir + ref.path;
  throw new Error(`chunk ${ref.id} has neither a URI nor a path`);
}

/** The reference an activity or a child takes: the kept one with its URI put together again. */
export function fullRef(jobDir: string, ref: KeptRef): ChunkRef {
  if (ref.uri !== undefined) return { ...ref, uri: ref.uri }; // as given (a job started before COMPACT_PATCH)
  const { path: _path, ...rest } = ref;
  return { ...rest, uri: chunkUri(jobDir, ref) };
}

/** An outcome as the job keeps it: the retry list's URI as a path under the job's directory when it lies there. */
export function keepOutcome(jobDir: string | undefined, o: NonNullable<ChunkProgress['outcome']>): KeptOutcome {
  const retryPath = o.retryUri && jobDir !== undefined ? pathUnder(jobDir, o.retryUri) : undefined;
  if (retryPath === undefined) return o;
  const { retryUri: _uri, ...rest } = o;
  return { retryPath, ...rest };
}

/** A kept outcome's retry list: its URI, or null when it has none. */
export function retryUriOf(jobDir: string, o: KeptOutcome | undefined): string | null {
  if (o?.retryPath !== undefined) return jobDir + o.retryPath;
  return o?.retryUri ?? null;
}

/**
 * The longest error a chunk keeps. Errors are the root messages of failures (an API error may carry a long
 * body); the job keeps the failed chunks of every round and finalize gets them all, so 1000 failed chunks must
 * not carry megabytes. The whole message stays in the chunk workflow's history.
 */
export const MAX_ERROR_CHARS = 500;

/** `error` cut to MAX_ERROR_CHARS (never in the middle of a surrogate pair). */
export function capError(error: string): string {
  if (error.length <= MAX_ERROR_CHARS) return error;
  let end = MAX_ERROR_CHARS - 1;
  const last = error.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${error.slice(0, end)}…`;
}

/**
 * A chunk that finished keeps what is still read of it: identity, size, path, batch, status, error (cut to
 * MAX_ERROR_CHARS) and outcome. Counts, expiry and poll times describe a batch under way (the latest poll time
 * goes to the job's `lastPollAt`), and the digest went to its child: at 1000 chunks, some 200 KB less state.
 */
export function settleChunk(state: JobState, c: ChunkState): void {
  if (c.lastPollAt !== undefined) state.lastPollAt = Math.max(state.lastPollAt ?? 0, c.lastPollAt);
  delete c.counts;
  delete c.expiresAt;
  delete c.apiClockAheadMs;
  delete c.lastPollAt;
  delete c.nextPollAt;
  delete c.expiryWarnedAt;
  if (!c.adopted) delete c.adopted;
  if (c.error !== undefined) c.error = capError(c.error);
  dropDigest(c);
}

/** The digest goes to the chunk's child (submission records of other content are not reused); then it is not read. */
export function dropDigest(c: ChunkState): void {
  if (c.ref.digest === undefined) return;
  const { digest: _digest, ...ref } = c.ref;
  c.ref = ref;
}

/**
 * A failed or held-back chunk of a finished round cut to what finalize and the status still read: its identity,
 * size and path (finalize answers its requests by it), batch, status, error and outcome tallies. The retry list
 * goes: the next round was planned from it.
 */
export function compactChunk(c: ChunkState, jobDir?: string): ChunkState {
  const { id, round, index, uri, path, requests, bytes } = c.ref;
  const ref: KeptRef =
    uri !== undefined && jobDir !== undefined
      ? keepRef(jobDir, { id, round, index, uri, requests, bytes })
      : { id, round, index, ...(uri !== undefined ? { uri } : { path }), requests, bytes };
  return {
    ref,
    status: c.status,
    ...(c.sync ? { sync: c.sync } : {}),
    ...(c.batchId ? { batchId: c.batchId } : {}),
    ...(c.adopted ? { adopted: c.adopted } : {}),
    ...(c.error ? { error: capError(c.error) } : {}),
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

function addToSummary(state: JobState, c: ChunkState): void {
  const rounds = (state.rounds ??= []);
  let s = rounds.find((r) => r.round === c.ref.round);
  if (!s) {
    s = {
      round: c.ref.round,
      chunks: 0,
      statuses: {},
      requests: 0,
      answered: 0,
      batches: 0,
      adopted: 0,
      synchronous: 0,
      outcomes: {},
      costUsd: 0,
      retryable: 0,
    };
    rounds.push(s);
  }
  s.chunks++;
  s.statuses[c.status] = (s.statuses[c.status] ?? 0) + 1;
  s.requests += c.ref.requests;
  if (c.status === 'done') s.answered += c.ref.requests;
  if (c.batchId) s.batches++;
  if (c.adopted) s.adopted++;
  if (c.sync) s.synchronous++;
  if (c.outcome) {
    addOutcomes(s.outcomes, c.outcome.outcomes);
    s.costUsd += c.outcome.costUsd;
    s.retryable += c.outcome.retryable;
  }
}

/**
 * When a round starts (COMPACT_PATCH), the chunks of the rounds before it that nothing reads one by one any more
 * (done, rerouted) are summed into `rounds`, and the failed and held-back ones are compacted (`compactChunk`).
 * Chunks carried from a job started before the patch, whole, are summed or compacted alike. A chunk of an earlier
 * round not finished (never expected) stays as it is.
 */
export function compactFinishedRounds(state: JobState): void {
  const jobDir = state.prepared?.jobDir;
  const chunks: ChunkState[] = [];
  for (const c of state.chunks) {
    if (c.ref.round >= state.round || !FINISHED.includes(c.status)) {
      chunks.push(c);
      continue;
    }
    if (c.lastPollAt !== undefined) state.lastPollAt = Math.max(state.lastPollAt ?? 0, c.lastPollAt);
    if (c.status === 'failed' || c.status === 'held_back') chunks.push(compactChunk(c, jobDir));
    else addToSummary(state, c);
  }
  state.chunks = chunks;
}
