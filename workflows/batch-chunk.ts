import {
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { BatchActivities } from '../activities/index.js';
import type { ChunkProgress, ChunkStatus } from '../shared/job-state.js';
import type { BatchStatus, ChunkOutcome, ChunkRef, RequestCounts, SubmittedBatch } from '../shared/job-types.js';
import { expiryWarningAt, nextPollDelay } from '../shared/polling.js';
import { chunkProgressSignal, chunkStatusQuery, releaseChunkSignal } from './messages.js';
import { BatchJobExpiringSoon } from './search-attributes.js';

export interface ChunkInput {
  jobId: string;
  jobDir: string;
  chunk: ChunkRef;
  poll: { initial: Duration; max: Duration };
  expiryWarning: Duration;
  webhook: string | null;
  heartbeatTimeout: Duration;
  /**
   * Started while the job still validates (shared/early-create.ts): `chunk` is still being written, so the create
   * is held at its last bytes until the job's go; the job then sends the chunk's final reference (releaseChunk).
   */
  early?: true;
  /** Carried across continue-as-new. */
  state?: ChunkRunState;
}

interface ChunkRunState {
  status: ChunkStatus;
  batch: { batchId: string; expiresAt: string; submittedAt: number; adopted: boolean } | null;
  polls: number;
  counts?: RequestCounts;
  lastPollAt?: number;
  apiClockAheadMs?: number;
  nextPollAt?: number;
  expiryWarnedAt?: number;
  /** Batches that may be this chunk's after a lost create answer, until their results decide. */
  candidates?: string[];
}

/** The patch after which a chunk reports to its job only what changed (see docs/job.md, upgrading). */
export const REPORT_ON_CHANGE_PATCH = 'report-on-change-2026-12';
/** Even with nothing new, a chunk reports this often, so the job's view of its polls stays roughly current. */
const QUIET_REPORT_MS = 10 * 60_000;

/**
 * The patch after which chunks submit through their workspace's submitter (one create at a time per workspace)
 * and let results decide between candidate batches after a lost create answer (see docs/job.md, upgrading).
 */
export const SUBMITTER_PATCH = 'workspace-submitter-2026-12';

/**
 * The patch after which a chunk's progress signal goes out together with what it waits for (the next poll's
 * timer, the results' fetch) instead of before it: the end of a batch is followed at once by its fetch, and a
 * signal's round trip (or its retries, durable sleeps) is never added to a poll interval (see docs/job.md,
 * upgrading).
 */
export const FETCH_AT_ONCE_PATCH = 'fetch-at-once-2026-12';

/** What went wrong, not the wrapper it came in ("Activity task failed" says nothing). */
function rootMessage(err: unknown): string {
  let e = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** While an early chunk waits for its job to start it, how often to make sure the job is still there. */
const JOB_GONE_CHECK = '1h';

/** Wait between polls while a canceled batch winds down. */
const CANCEL_POLL = '5s';

/**
 * One chunk of a job as one batch: submit exactly once, poll with durable sleeps (adaptive interval), warn once
 * before the 24 h expiry, then stream the results to storage. Progress goes to the job as signals. Canceled, it
 * cancels its batch and still collects what finished.
 */
export async function batchChunk(input: ChunkInput): Promise<ChunkOutcome> {
  let { chunk } = input;
  /** An early chunk's final reference, from the job once it starts the chunk. */
  let released: ChunkRef | undefined;
  setHandler(releaseChunkSignal, (ref) => {
    released ??= ref;
  });
  const state: ChunkRunState = input.state ?? { status: 'submitting', batch: null, polls: 0 };
  let result: ChunkOutcome | null = null;
  const parent = workflowInfo().parent;
  const acts = proxyActivities<BatchActivities>({
    startToCloseTimeout: '2h',
    heartbeatTimeout: input.heartbeatTimeout,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  });
  // A poll is one short HTTP call: a short timeout lets a poll lost with its worker be retried quickly.
  const polls = proxyActivities<BatchActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  });
  const notify = proxyActivities<BatchActivities>({ startToCloseTimeout: '1m', retry: { maximumAttempts: 3 } });

  setHandler(chunkStatusQuery, () => ({ chunkId: chunk.id, ...state, ...state.batch, polls: state.polls, result }));

  // Chunks started before reporting on change only keep reporting every poll (their histories say so).
  const onChangeOnly = patched(REPORT_ON_CHANGE_PATCH);
  // Asked once, here: chunks started before it keep awaiting each report before going on (their histories say so).
  const atOnce = patched(FETCH_AT_ONCE_PATCH);
  let lastReported = { key: '', at: 0 };
  // Progress goes to the job by signal. A signal can race the job's continue-as-new ("not found"): retry with a
  // durable backoff, and never fail the chunk because a progress update was lost.
  const report = async (extra: Partial<ChunkProgress> = {}) => {
    if (!parent) return;
    const progress: ChunkProgress = {
      chunkId: chunk.id,
      status: state.status,
      ...(state.batch
        ? { batchId: state.batch.batchId, expiresAt: state.batch.expiresAt, adopted: state.batch.adopted }
        : {}),
      ...(state.counts ? { counts: state.counts } : {}),
      ...(state.lastPollAt ? { lastPollAt: state.lastPollAt } : {}),
      ...(state.apiClockAheadMs ? { apiClockAheadMs: state.apiClockAheadMs } : {}),
      ...(state.nextPollAt ? { nextPollAt: state.nextPollAt } : {}),
      ...(state.expiryWarnedAt ? { expiryWarnedAt: state.expiryWarnedAt } : {}),
      ...extra,
    };
    const final = progress.status === 'done' || progress.status === 'failed';
    if (onChangeOnly && !final && Object.keys(extra).length === 0) {
      // Poll times alone are no news: at hundreds of chunks, a signal per poll would flood the job's history.
      const { lastPollAt: _l, nextPollAt: _n, ...news } = progress;
      const key = JSON.stringify(news);
      const now = state.lastPollAt ?? 0; // the Temporal server's time of the last poll
      if (key === lastReported.key && now - lastReported.at < QUIET_REPORT_MS) return;
      lastReported = { key, at: now };
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await getExternalWorkflowHandle(parent.workflowId).signal(chunkProgressSignal, progress);
        return;
      } catch (err) {
        if (isCancellation(err) || (!final && attempt >= 3) || attempt >= 20) {
          log.warn('could not report progress to the job', { attempt, error: String(err) });
          if (isCancellation(err)) throw err;
          return;
        }
        await sleep(Math.min(30_000, 500 * 2 ** attempt));
      }
    }
  };

  const observe = (s: BatchStatus) => {
    state.polls++;
    state.counts = s.counts;
    state.lastPollAt = s.polledAt;
    if (s.apiClockAheadMs !== undefined) state.apiClockAheadMs = s.apiClockAheadMs;
    state.status = s.status === 'ended' ? 'fetching' : s.status;
  };

  /** Reports, then waits `ms`; with the patch both at once, so the wait is the poll interval and nothing more. */
  const reportAndSleep = async (ms: number | Duration) => {
    if (atOnce) await Promise.all([report(), sleep(ms)]);
    else {
      await report();
      await sleep(ms);
    }
  };

  const fetchAndReport = async (): Promise<ChunkOutcome> => {
    // "Fetching" need not reach the job before the fetch starts: with the patch the two go out together.
    const told = report();
    told.catch(() => undefined); // a cancellation also reaches the fetch, which is where it is handled
    if (!atOnce) await told;
    result = await acts.fetchResults({ jobDir: input.jobDir, chunk, batchId: state.batch!.batchId });
    await told; // in order: the job hears "fetching" before "done"
    state.status = 'done';
    const { retryUri, retryable, outcomes, costUsd } = result;
    await report({ outcome: { retryUri, retryable, outcomes, costUsd } });
    return result;
  };

  try {
    if (!state.batch) {
      const held = input.early ? await heldCreate() : null;
      // A create must not be abandoned half-way: the submit finishes even if the job is canceled meanwhile.
      const submitted = held ?? (await CancellationScope.nonCancellable(submitOwnBatch));
      const { batchId, expiresAt, submittedAt, adopted } = submitted;
      state.batch = { batchId, expiresAt, submittedAt, adopted };
      if (atOnce) {
        // The batch exists: the job hears so while the first poll runs, so it can start the next chunk's create at
        // once instead of after this poll (which waits as long as the API takes to answer it).
        state.status = 'in_progress';
        const told = report();
        told.catch(() => undefined);
        observe(await polls.pollBatch({ batchId, submittedAt }));
        await told;
      } else {
        observe(await polls.pollBatch({ batchId, submittedAt }));
        await report();
      }
    }
    const batchEnded = () => state.status === 'fetching';
    while (!batchEnded()) {
      const warnAt = expiryWarningAt(Date.parse(state.batch.expiresAt), input.expiryWarning);
      const now = state.lastPollAt!;
      if (state.expiryWarnedAt === undefined && now >= warnAt) await warnExpiring(now);
      const delay = nextPollDelay(state.polls, input.poll, now, state.expiryWarnedAt === undefined ? warnAt : null);
      state.nextPollAt = now + delay;
      await reportAndSleep(delay);
      observe(await polls.pollBatch({ batchId: state.batch.batchId, submittedAt: state.batch.submittedAt }));
      if (!batchEnded() && workflowInfo().continueAsNewSuggested) {
        await continueAsNew<typeof batchChunk>({ ...input, chunk, state });
      }
    }
    return await fetchAndReport();
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (!isCancellation(err)) {
      state.status = 'failed';
      await report({ error: rootMessage(err) });
      throw err;
    }
    return await CancellationScope.nonCancellable(async () => {
      if (!state.batch) throw err;
      log.info('job canceled: canceling the batch and collecting what finished', { batchId: state.batch.batchId });
      const args = { batchId: state.batch.batchId, submittedAt: state.batch.submittedAt };
      let s = await polls.cancelBatch(args);
      observe(s);
      while (s.status !== 'ended') {
        await reportAndSleep(CANCEL_POLL);
        s = await polls.pollBatch(args);
        observe(s);
      }
      return await fetchAndReport();
    });
  }

  /**
   * The early path: a create held at its last bytes until the job's go. Made, the batch is this chunk's (the job
   * has sent the chunk's reference, which is awaited). Withdrawn or failed, nothing was made: the chunk waits for
   * the job to start it (canceled meanwhile, it ends), then submits the usual way.
   */
  async function heldCreate(): Promise<SubmittedBatch | null> {
    const args = { jobId: input.jobId, jobDir: input.jobDir, chunk, heartbeatTimeout: input.heartbeatTimeout };
    const made = await CancellationScope.nonCancellable(() =>
      acts.submitInOrder({ ...args, held: true }).catch((err: unknown) => {
        if (isCancellation(err)) throw err;
        log.info('the early create was not made; the chunk is submitted once the job starts it', {
          error: rootMessage(err),
        });
        return null;
      }),
    );
    if (made) await CancellationScope.nonCancellable(() => condition(() => released !== undefined));
    else
      while (!(await condition(() => released !== undefined, JOB_GONE_CHECK))) {
        // A job that ended without a word (terminated) never starts its chunk.
        if ((await acts.closedWorkflows({ workflowIds: [input.jobId] })).length > 0)
          throw ApplicationFailure.nonRetryable('the job ended before it started this chunk', 'JobEnded');
      }
    chunk = released!;
    return made;
  }

  /**
   * One batch that is this chunk's own. After a lost create answer the submitter may name candidates instead (its
   * own or another tool's, of the same size): each is waited for and its results decide; if none is ours, the
   * chunk is submitted again with them ruled out. Runs to the end even when the job is canceled, since a batch
   * not proven ours is never canceled.
   */
  async function submitOwnBatch(): Promise<SubmittedBatch> {
    const args = { jobId: input.jobId, jobDir: input.jobDir, chunk };
    if (!patched(SUBMITTER_PATCH)) return acts.submitBatch(args);
    const exclude: string[] = [];
    for (;;) {
      const submitted = await acts.submitInOrder({
        ...args,
        heartbeatTimeout: input.heartbeatTimeout,
        ...(exclude.length ? { exclude: [...exclude] } : {}),
      });
      const { candidates, ...batch } = submitted;
      if (!candidates?.length) return batch;
      state.candidates = candidates.map((c) => c.batchId);
      // The candidates are batches under way: the job may go on submitting its other chunks meanwhile.
      state.status = 'in_progress';
      await report();
      const own = await ownCandidate(candidates, batch.submittedAt);
      delete state.candidates;
      if (own) return { ...batch, ...own, adopted: true };
      exclude.push(...candidates.map((c) => c.batchId));
    }
  }

  async function ownCandidate(
    candidates: NonNullable<SubmittedBatch['candidates']>,
    submittedAt: number,
  ): Promise<(typeof candidates)[number] | null> {
    const open = [...candidates];
    for (let round = 1; open.length > 0; round++) {
      for (const c of [...open]) {
        const s = await polls.pollBatch({ batchId: c.batchId, submittedAt });
        state.polls++;
        state.lastPollAt = s.polledAt;
        if (s.status !== 'ended') continue;
        const verdict = await acts.confirmCandidate({
          jobId: input.jobId,
          jobDir: input.jobDir,
          chunk,
          batchId: c.batchId,
        });
        if (verdict === 'ours') return c;
        open.splice(open.indexOf(c), 1);
      }
      if (open.length > 0) await sleep(nextPollDelay(round, input.poll, 0, null));
    }
    return null;
  }

  async function warnExpiring(now: number) {
    state.expiryWarnedAt = now;
    log.warn('batch has not ended and will expire soon', {
      batchId: state.batch!.batchId,
      expiresAt: state.batch!.expiresAt,
    });
    upsertSearchAttributes([{ key: BatchJobExpiringSoon, value: true }]);
    try {
      await notify.notifyExpiring({
        webhook: input.webhook,
        jobId: input.jobId,
        chunkId: chunk.id,
        batchId: state.batch!.batchId,
        expiresAt: state.batch!.expiresAt,
        counts: { ...(state.counts ?? {}) },
      });
    } catch (notifyErr) {
      log.warn('expiry webhook failed; the job goes on', { error: String(notifyErr) });
    }
  }
}
