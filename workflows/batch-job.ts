import {
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, type Duration } from '@temporalio/common';
import type { BatchActivities } from '../activities/index.js';
import { jobInputOrFail, type JobInput, type JobInputRaw } from '../shared/job-input.js';
import {
  applyProgress,
  chunksToStart,
  compactFinishedRounds,
  dropDigest,
  fullRef,
  initialState,
  isActive,
  keepOutcome,
  keepRef,
  roundFinished,
  settleChunk,
  summarize,
  type ChunkState,
  type JobPhase,
  type JobState,
} from '../shared/job-state.js';
import { estimateChunks, failureNotes, finalizeLists, retrySources, syncSources } from '../shared/job-args.js';
import type { ChunkOutcome, ChunkRef, JobReportSummary, PreparedJob } from '../shared/job-types.js';
import { batchChunk, type ChunkInput } from './batch-chunk.js';
import { budgetAdmits, budgetPassed, budgetStatus, syncReservationUsd } from '../shared/budget.js';
import { deadlineAt, type DeadlineInput } from '../shared/deadline.js';
import type { SyncChunkArgs } from '../activities/sync-answers.js';
import { formatUsd } from '../shared/money.js';
import {
  jobCutoffAt,
  jobDetails,
  jobMemo,
  jobStatusView,
  nothingToSubmitMessage,
  rejectedInputMessage,
} from '../shared/job-view.js';
import { expandUriTemplate } from '../shared/uri-template.js';
import {
  approvalBasisUsd,
  approvalFor,
  approvalRefusal,
  decide,
  notApproved,
  type ApprovalDecision,
} from '../shared/approval.js';
import {
  approveUpdate,
  chunkProgressSignal,
  earlyChunkSignal,
  earlyGateQuery,
  rejectUpdate,
  releaseChunkSignal,
  statusQuery,
} from './messages.js';
import { earlyChunkCount, earlyChunks, earlyGate, type EarlyChunk } from '../shared/early-create.js';
import { BatchJobEstimatedUsd, BatchJobExpiringSoon, BatchJobStatus } from './search-attributes.js';

/** The patch that added pre-flight checks and "nothing to submit" (see docs/job.md, upgrading). */
export const PREFLIGHT_PATCH = 'preflight-2026-12';

/** The patch after which a job notices chunk workflows that closed without reporting (see docs/job.md, upgrading). */
export const CANCEL_PATCH = 'closed-chunks-2026-12';
/** While canceling, how often to look for chunks that closed without reporting. */
const CLOSED_CHILD_CHECK = '1m';
/** While running, likewise (a chunk that reports nothing for this long is asked about). */
const QUIET_CHUNK_CHECK = '15m';

/** The patch that added the pilot and the deadline's synchronous round (see docs/job.md, upgrading). */
export const SYNC_PATCH = 'pilot-and-deadline-2026-12';

/**
 * The patch after which a job keeps its state small enough for 1000-chunk rounds (see docs/job.md, upgrading, and
 * test/workflows/payload-bounds.test.ts): chunk URIs kept as paths under the job's directory, a chunk's digest
 * dropped once its child has it, a finished chunk settled to what is read of it later (settleChunk), finished
 * rounds summed when the next one starts (compactFinishedRounds), errors cut to MAX_ERROR_CHARS, failures noted
 * once per distinct error. It changes no command, only what the state carries and what activities are given;
 * the patch keeps jobs that started before it exactly as they were until the new build takes over (from then on
 * it applies, so the code reads states of both shapes, as it must for states carried by continue-as-new).
 */
export const COMPACT_PATCH = 'compact-rounds-2026-12';

/**
 * The patch that streams the first chunk's create while the input is still validated, finished only once the job
 * starts that chunk as it would have anyway (shared/early-create.ts; docs/job.md, upgrading). Jobs that started
 * before it prepare, then submit, as they did.
 */
export const EARLY_PATCH = 'early-create-2026-12';

/**
 * The patch after which the job streams as many of its first chunks early as its admission would let wait in the
 * API's queue at once (`earlyChunkCount`), not only the first (docs/job.md, upgrading). Jobs that started before it
 * stream the first alone.
 */
export const EARLY_EACH_PATCH = 'early-create-each-2026-12';

/** Jobs are split into at most this many chunks per round (a child workflow each). */
export const MAX_CHUNKS_PER_ROUND = 1000;

export type BatchJobInput = JobInputRaw & { state?: JobState };

/**
 * A batch job: validate and chunk → estimate → (approve) → one child workflow per chunk (submit exactly once,
 * poll, fetch), admitted as the processing queue allows → retry rounds for expired and retryable requests →
 * one output line per request and a report. Only references to stored data enter history.
 */
export async function batchJob(raw: BatchJobInput): Promise<JobReportSummary> {
  const { state: carried, ...jobInput } = raw ?? ({} as BatchJobInput);
  const given = jobInputOrFail(jobInput);
  const info = workflowInfo();
  const jobId = info.workflowId;
  // Expanded once; continue-as-new carries the expanded URIs, so a job that runs past midnight keeps its files.
  const expand = (uri: string) => expandUriTemplate(uri, info.startTime, jobId);
  const expanded = () => ({
    input: expand(given.input),
    output: expand(given.output),
    ...(given.report ? { report: expand(given.report) } : {}),
  });
  const input: JobInput = { ...given, ...expanded() };
  const state: JobState = carried ?? initialState(info.startTime.getTime());
  // Every long activity heartbeats, so a short heartbeat timeout hands a dead worker's work to another at once.
  const acts = proxyActivities<BatchActivities>({
    startToCloseTimeout: '6h',
    heartbeatTimeout: input.heartbeatTimeout as Duration,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2m' },
  });
  let changes = 0;
  let published = '';

  const publish = () => {
    const totals = summarize(state);
    setCurrentDetails(jobDetails(state, totals, input));
    const memo = jobMemo(state, totals, input);
    const view = JSON.stringify(memo);
    if (view === published) return;
    published = view;
    upsertSearchAttributes([
      { key: BatchJobStatus, value: state.phase },
      { key: BatchJobExpiringSoon, value: memo.expiringSoon },
      ...(state.estimate ? [{ key: BatchJobEstimatedUsd, value: state.estimate.batchUsd }] : []),
    ]);
    upsertMemo(memo);
  };
  const setPhase = (phase: JobPhase) => {
    state.phase = phase;
    publish();
  };

  /** Whether this job keeps its state compact (COMPACT_PATCH); false while replaying a job that started before it. */
  // Declared before the handlers: a signal that came with the run's start (a chunk's progress sent as the job
  // continued as new) reaches its handler inside `setHandler`, before anything declared after it exists.
  const compacting = () => patched(COMPACT_PATCH);

  setHandler(statusQuery, () =>
    jobStatusView(state, {
      jobId,
      input: input.input,
      output: input.output,
      budget: input.budget,
      deadline: input.deadline,
    }),
  );
  setHandler(earlyGateQuery, (chunkId) => earlyGate(state, chunkId));
  /** The first chunks prepare is writing, each once it can be streamed (only ever sent when the job asks for it). */
  const earlyWritten: { jobDir: string; chunk: ChunkRef }[] = [];
  setHandler(earlyChunkSignal, (written) => {
    if (!earlyWritten.some((w) => w.chunk.id === written.chunk.id)) earlyWritten.push(written);
  });
  setHandler(chunkProgressSignal, (progress) => {
    applyProgress(state, progress, compacting());
    changes++;
    publish();
  });
  // Validators run synchronously before an update is accepted: a job not waiting for approval refuses it.
  const mustBeWaiting = (_d: ApprovalDecision) => {
    const refusal = approvalRefusal(state);
    if (refusal) throw new Error(refusal);
  };
  const decideWith = (decision: 'approved' | 'rejected') => (d: ApprovalDecision) =>
    (state.approval = decide(state.approval!, decision, d));
  setHandler(approveUpdate, decideWith('approved'), { validator: mustBeWaiting });
  setHandler(rejectUpdate, decideWith('rejected'), { validator: mustBeWaiting });

  const childIdOf = (chunkId: string) => `${jobId}/${chunkId}`;
  const childId = (c: ChunkState) => childIdOf(c.ref.id);
  const jobDir = () => state.prepared!.jobDir;
  /** A chunk reference as the job keeps it. */
  const kept = (ref: ChunkRef) => (compacting() ? keepRef(jobDir(), ref) : ref);

  async function prepare(): Promise<void> {
    setPhase('validating');
    // Jobs started before pre-flight existed replay without it (their history has no such activity).
    const checked = patched(PREFLIGHT_PATCH);
    if (checked)
      await acts.preflightJob({
        input: input.input,
        output: input.output,
        report: input.report,
        overwrite: input.overwrite,
      });
    const early = input.earlyCreate && patched(EARLY_PATCH);
    // Jobs that started before it stream their first chunk alone.
    const earlyCount = early && patched(EARLY_EACH_PATCH) ? earlyChunkCount(input.chunk, input.admission) : 1;
    let preparing = true;
    const startingEarly = early ? startEarlyChunks(earlyCount, () => !preparing) : null;
    let prepared: PreparedJob;
    try {
      prepared = await acts.prepareJob({
        jobId,
        input: input.input,
        chunk: input.chunk,
        onInvalid: input.onInvalid,
        format: input.format,
        template: input.template,
        ...(input.betas ? { betas: input.betas } : {}),
        ...(input.pilot && patched(SYNC_PATCH) ? { pilot: input.pilot } : {}),
        ...(early ? { early: true } : {}),
        ...(early && earlyCount > 1 ? { earlyChunks: earlyCount } : {}),
      });
    } finally {
      // Settled before anything else: a failed prepare then finds the early chunk in the state, and drops it.
      preparing = false;
      await startingEarly;
    }
    const bad = prepared.invalid;
    if (bad.lines > 0 && input.onInvalid === 'reject')
      throw ApplicationFailure.nonRetryable(rejectedInputMessage(bad), 'InvalidInputLines', bad);
    if (prepared.chunks.length > MAX_CHUNKS_PER_ROUND)
      throw ApplicationFailure.nonRetryable(
        `${prepared.chunks.length} chunks: raise chunk.maxRequests so the job needs at most ${MAX_CHUNKS_PER_ROUND}`,
        'TooManyChunks',
      );
    if (checked && prepared.requests === 0 && !input.allowEmpty)
      throw ApplicationFailure.nonRetryable(nothingToSubmitMessage(prepared, input.input), 'NothingToSubmit', bad);
    const { jobDir, lines, requests } = prepared;
    state.prepared = {
      jobDir,
      lines,
      requests,
      invalidLines: bad.lines,
      invalidReport: bad.reportUri,
      ...(checked ? { invalidProblems: bad.problems, invalidFirst: bad.first } : {}),
    };
    state.chunks = prepared.chunks.map((ref) => ({ ref: kept(ref), status: 'pending' }));
    // Its lines all turned out to be repeats (a chunk prepare wrote, then dropped): nothing will release it.
    const unwritten = earlyChunks(state).filter((e) => !state.chunks.some((c) => c.ref.id === e.id));
    if (unwritten.length > 0) void dropEarly(unwritten.map((e) => e.id));
    if (prepared.pilot) state.chunks.push({ ref: kept(prepared.pilot), status: 'pending', sync: true });
    if (bad.lines > 0)
      state.notes.push(`${bad.lines} invalid input line(s) skipped; every problem is listed in ${bad.reportUri}`);
    state.notes.push(...(prepared.warnings ?? []));
  }

  async function approve(): Promise<void> {
    state.approval ??= approvalFor(
      approvalBasisUsd(state.estimate, input.approval.basis),
      input.approval.thresholdUsd,
      input.approval,
    );
    if (state.approval.state === 'waiting') {
      setPhase('awaiting_approval');
      if (!(await condition(() => state.approval!.state !== 'waiting', input.approval.timeout as Duration)))
        state.approval.state = 'timed_out';
    }
    const refused = notApproved(state.approval, input.approval.timeout);
    if (refused) {
      setPhase('rejected');
      throw ApplicationFailure.nonRetryable(refused.message, refused.type);
    }
  }

  const chunkInput = (dir: string, chunk: ChunkRef): ChunkInput => ({
    jobId,
    jobDir: dir,
    chunk,
    poll: input.poll as ChunkInput['poll'],
    expiryWarning: input.expiryWarning as ChunkInput['expiryWarning'],
    webhook: input.notify.webhook ?? null,
    heartbeatTimeout: input.heartbeatTimeout as ChunkInput['heartbeatTimeout'],
  });

  /**
   * Starts the child of each of the first `count` chunks as soon as prepare says it can be streamed: its create goes
   * ahead as far as the upload and waits at the end for the job's go (shared/early-create.ts).
   */
  async function startEarlyChunks(count: number, prepareEnded: () => boolean): Promise<void> {
    for (let n = 0; n < count; n++) {
      await condition(() => earlyWritten.length > n || prepareEnded());
      const written = earlyWritten[n];
      if (!written) return;
      const { jobDir: dir, chunk } = written;
      if (earlyChunks(state).some((e) => e.id === chunk.id)) continue;
      state.early = [...earlyChunks(state), { id: chunk.id }];
      try {
        await startChild(batchChunk, {
          workflowId: childIdOf(chunk.id),
          args: [{ ...chunkInput(dir, chunk), early: true }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          staticSummary: `${chunk.id} of ${jobId}: uploaded while the input is validated`,
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    }
  }

  /**
   * Early chunks (all, or those of `ids`) that will not be started as they are: their creates withdraw, and their
   * children are canceled.
   */
  function dropEarly(ids?: readonly string[]): Promise<void> {
    const dropping = earlyChunks(state).filter(
      (e) => !e.releasedDigest && !e.dropped && (ids === undefined || ids.includes(e.id)),
    );
    return Promise.all(dropping.map(cancelEarly)).then(() => undefined);
  }

  function cancelEarly(early: EarlyChunk): Promise<void> {
    early.dropped = true;
    // A child already closed refuses, which is fine. A job about to close awaits this: the server drops a cancel
    // request whose sender has closed before it was delivered.
    return getExternalWorkflowHandle(childIdOf(early.id))
      .cancel()
      .catch(() => undefined);
  }

  async function startChunk(c: ChunkState): Promise<void> {
    c.status = 'submitting';
    const args = chunkInput(jobDir(), fullRef(jobDir(), c.ref));
    const early = earlyChunks(state).find((e) => e.id === c.ref.id && !e.dropped);
    if (early) {
      // Its child runs already, its create held at the last bytes: the go names the chunk the create must be.
      early.releasedDigest = args.chunk.digest ?? '';
      if (compacting()) dropDigest(c);
      try {
        await getExternalWorkflowHandle(childId(c)).signal(releaseChunkSignal, args.chunk);
      } catch {
        // Closed without a batch (terminated): the reaper finds it.
      }
      return;
    }
    if (compacting()) dropDigest(c);
    try {
      await startChild(batchChunk, {
        workflowId: childId(c),
        args: [args],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `${c.ref.id} of ${jobId}: ${c.ref.requests} requests`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /** No chunk left unsubmitted is sent: each would pass the budget. Their requests are answered as such. */
  function holdBack(reason: string): void {
    state.budgetStopped ??= reason;
    const pending = state.chunks.filter((c) => c.status === 'pending');
    for (const c of pending) c.status = 'held_back';
    void dropEarly(pending.map((c) => c.ref.id));
    state.notes.push(`${reason}; ${pending.reduce((n, c) => n + c.ref.requests, 0)} requests were not submitted`);
    changes++;
    publish();
  }

  /**
   * Before each create, the chunk's worst case is held against the budget; a chunk that would pass it waits for
   * the chunks under way (which may cost less than held for them), and is held back when none is left. If the
   * bill plus what is held ever passes the cap (the estimate was wrong), what is under way is canceled.
   */
  function admitWithinBudget(c: ChunkState, maxUsd: number): boolean {
    if (budgetAdmits(state, c, maxUsd)) return true;
    if (!state.chunks.some(isActive))
      holdBack(`the budget of ${formatUsd(maxUsd)} would be passed by the next batch (its worst case)`);
    return false;
  }

  async function enforceBudget(maxUsd: number): Promise<void> {
    if (state.budgetStopped || !budgetPassed(state, maxUsd)) return;
    const { spentUsd, reservedUsd } = budgetStatus(state, maxUsd);
    holdBack(
      `billed ${formatUsd(spentUsd)} plus ${formatUsd(reservedUsd)} held for batches under way would pass the budget of ${formatUsd(maxUsd)}: the batches under way were canceled`,
    );
    for (const c of state.chunks.filter(isActive)) {
      try {
        await getExternalWorkflowHandle(childId(c)).cancel();
      } catch {
        // Already closed: its report is on the way, or the reaper finds it.
      }
    }
  }

  async function runRound(): Promise<void> {
    if (input.deadline) startDeadlineWatch(input.deadline);
    while (!roundFinished(state)) {
      if (input.deadline && state.cutoffAt !== undefined && !state.cutoffHandled) {
        await reachCutoff(input.deadline);
        if (roundFinished(state)) continue;
      }
      for (const c of chunksToStart(state, input.admission)) {
        if (input.budget && !admitWithinBudget(c, input.budget.maxUsd)) break;
        await startChunk(c);
      }
      // Holding back the last chunks can finish the round: nothing would wake the wait below.
      if (input.budget && roundFinished(state)) continue;
      const seen = changes;
      if (patched(CANCEL_PATCH)) startReaper();
      await condition(() => changes !== seen);
      if (input.budget) await enforceBudget(input.budget.maxUsd);
      if (workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof batchJob>({ ...jobInput, ...expanded(), state });
      }
    }
  }

  async function retryRound(): Promise<boolean> {
    if (input.deadline && state.cutoffAt !== undefined) {
      await syncRound(input.deadline);
      return false;
    }
    if (state.round >= input.retry.maxRounds || state.budgetStopped) return false;
    const from = retrySources(state);
    if (from.length === 0) return false;
    const next = await acts.planRetryRound({
      jobDir: jobDir(),
      round: state.round + 1,
      from,
      chunk: input.chunk,
    });
    if (next.length === 0) return false;
    state.round++;
    state.chunks.push(...next.map((ref): ChunkState => ({ ref: kept(ref), status: 'pending' })));
    if (compacting()) compactFinishedRounds(state);
    return true;
  }

  const now = () => new Date().getTime();

  /** Answers a chunk through the Messages API and records it as done, like a batch's outcome. */
  async function answerSynchronously(
    c: ChunkState,
    how: Pick<SyncChunkArgs, 'concurrency' | 'stopAt' | 'budget' | 'leftovers' | 'measure' | 'canceled'>,
  ): Promise<ChunkOutcome> {
    c.status = 'synchronous';
    changes++;
    publish();
    const outcome = await acts.answerSynchronously({
      jobDir: jobDir(),
      chunk: fullRef(jobDir(), c.ref),
      ...how,
      ...(input.prices ? { prices: input.prices } : {}),
    });
    const { retryUri, retryable, outcomes, costUsd } = outcome;
    c.status = 'done';
    if (compacting()) {
      c.outcome = keepOutcome(jobDir(), { retryUri, retryable, outcomes, costUsd });
      settleChunk(state, c);
    } else c.outcome = { retryUri, retryable, outcomes, costUsd };
    changes++;
    publish();
    return outcome;
  }

  /** The pilot: a few requests answered at once, so the estimate measures output instead of assuming it. */
  async function runPilot(): Promise<void> {
    const c = state.chunks.find((x) => x.sync && x.ref.round === 0 && x.status === 'pending');
    if (!c || !input.pilot) return;
    setPhase('piloting');
    const cap = Math.min(input.pilot.maxUsd, input.budget?.maxUsd ?? Infinity);
    const outcome = await answerSynchronously(c, {
      concurrency: input.pilot.concurrency,
      stopAt: null,
      budget: { maxUsd: cap },
      leftovers: 'retry',
      measure: true,
    });
    if (outcome.measure) state.pilot = { requests: c.ref.requests, costUsd: outcome.costUsd, measure: outcome.measure };
  }

  /** When the job must stop waiting for batches; moves later as requests get answered. */
  const cutoff = (d: DeadlineInput) => jobCutoffAt(state, d);

  /** One timer at a time until the cutoff (a timer per wake-up would grow the history with every signal). */
  let deadlineWatch: Promise<void> | null = null;
  function startDeadlineWatch(d: DeadlineInput): void {
    deadlineWatch ??= CancellationScope.cancellable(async () => {
      while (state.cutoffAt === undefined) {
        const wait = cutoff(d) - now();
        if (wait > 0) await sleep(wait);
        else {
          state.cutoffAt = now();
          changes++;
        }
      }
    }).catch(() => undefined);
  }

  /** At the cutoff: nothing more is submitted, and what runs is canceled (its finished requests are kept). */
  async function reachCutoff(d: DeadlineInput): Promise<void> {
    state.cutoffHandled = true;
    const pending = state.chunks.filter((c) => c.status === 'pending' && c.ref.round === state.round);
    for (const c of pending) c.status = 'rerouted';
    void dropEarly(pending.map((c) => c.ref.id));
    const running = state.chunks.filter((c) => isActive(c) && !c.sync);
    state.notes.push(
      `the deadline ${new Date(deadlineAt(d.at, state.startedAt)).toISOString()} was near: ${running.length} batch(es) under way were canceled and ${pending.length} not submitted; their unanswered requests were answered synchronously`,
    );
    for (const c of running) {
      try {
        await getExternalWorkflowHandle(childId(c)).cancel();
      } catch {
        // Already closed: its report is on the way, or the reaper finds it.
      }
    }
    changes++;
    publish();
  }

  /**
   * After the cutoff: every request of this round without an answer — those of canceled batches that had not
   * run, of batches never submitted, and the retryable ones — goes through the Messages API before the deadline,
   * within what the budget has left. No round follows: a request not answered by then gets an errored line.
   */
  async function syncRound(d: DeadlineInput): Promise<void> {
    const from = syncSources(state);
    if (from.length === 0) return;
    const next = await acts.planRetryRound({
      jobDir: jobDir(),
      round: state.round + 1,
      from,
      chunk: input.chunk,
    });
    if (next.length === 0) return;
    state.round++;
    const added = next.map((ref): ChunkState => ({ ref: kept(ref), status: 'pending', sync: true }));
    state.chunks.push(...added);
    if (compacting()) compactFinishedRounds(state);
    for (const c of added) {
      const spent = input.budget ? budgetStatus(state, input.budget.maxUsd).spentUsd : 0;
      const perRequestUsd = syncReservationUsd(state.estimate);
      await answerSynchronously(c, {
        concurrency: d.concurrency,
        stopAt: deadlineAt(d.at, state.startedAt),
        budget: input.budget
          ? { maxUsd: Math.max(0, input.budget.maxUsd - spent), ...(perRequestUsd ? { perRequestUsd } : {}) }
          : null,
        leftovers: 'answer',
      });
    }
  }

  /** Canceled while answering synchronously: what was answered is kept, the rest is answered `canceled`. */
  async function closeSyncChunks(): Promise<void> {
    for (const c of state.chunks.filter((x) => x.sync && x.status === 'synchronous'))
      await answerSynchronously(c, {
        concurrency: 1,
        stopAt: 0,
        budget: null,
        leftovers: 'answer',
        canceled: true,
      });
  }

  async function finalize(canceled: boolean): Promise<void> {
    setPhase('finalizing');
    state.notes.push(
      ...failureNotes(
        state.chunks.filter((c) => c.status === 'failed'),
        compacting(),
      ),
    );
    const { unsubmitted, heldBack, failed } = finalizeLists(state);
    state.report = await acts.finalizeJob({
      jobId,
      jobDir: jobDir(),
      input: input.input,
      output: input.output,
      report: input.report,
      roundsRun: state.round + 1,
      canceled,
      unsubmitted,
      heldBack,
      ...(state.budgetStopped ? { budgetStopped: state.budgetStopped } : {}),
      failed,
      prepared: state.prepared!,
      estimate: state.estimate,
      startedAt: state.startedAt,
      notes: state.notes,
    });
    setPhase(canceled ? 'canceled' : 'completed');
  }

  /**
   * Chunks the job counts as open whose workflow has closed died without a word (terminated, or their last report
   * lost): they are answered as failed, and their batch — ours, the chunk recorded it — is canceled, since nobody
   * will collect it. Without this the job would wait for them forever.
   */
  async function reapClosedChunks(): Promise<void> {
    const open = state.chunks.filter((c) => isActive(c) && !c.sync);
    if (open.length === 0) return;
    const closed = await acts.closedWorkflows({ workflowIds: open.map(childId) });
    for (const { workflowId, status } of closed) {
      const c = open.find((o) => childId(o) === workflowId);
      if (!c || !isActive(c)) continue; // its last report arrived meanwhile
      c.status = 'failed';
      c.error = `its chunk workflow ended (${status.toLowerCase()}) without reporting how`;
      if (compacting()) settleChunk(state, c);
      if (c.batchId) await acts.cancelBatch({ batchId: c.batchId, submittedAt: 0 }).catch(() => undefined);
      changes++;
    }
    if (closed.length > 0) publish();
  }

  /**
   * While chunks run, look for ones that closed without reporting every QUIET_CHUNK_CHECK: one timer at a time,
   * whatever the signals do (a timer per wake-up would grow the history with every progress signal).
   */
  let reaper: Promise<void> | null = null;
  function startReaper(): void {
    reaper ??= CancellationScope.cancellable(async () => {
      for (;;) {
        await sleep(QUIET_CHUNK_CHECK);
        await reapClosedChunks();
      }
    }).catch(() => undefined); // canceled with the job, whose cancel path has its own check
  }

  /** Waits until `done`, checking every few minutes for chunks that closed without reporting. */
  async function waitForChunks(done: () => boolean, every: Duration): Promise<void> {
    while (!(await condition(done, every))) await reapClosedChunks();
  }

  /** Cancels every open chunk (one that already closed may refuse; that is fine) and waits for them to end. */
  async function cancelChildren(): Promise<void> {
    for (const c of state.chunks.filter(isActive)) {
      try {
        await getExternalWorkflowHandle(childId(c)).cancel();
      } catch {
        // Already closed: the reaper below finds it.
      }
    }
    await waitForChunks(() => !state.chunks.some(isActive), CLOSED_CHILD_CHECK);
  }

  try {
    if (!state.prepared) await prepare();
    if (!state.estimate && state.prepared!.requests > 0) {
      await runPilot();
      setPhase('estimating');
      state.estimate = await acts.estimateCost({
        chunks: estimateChunks(state),
        estimate: input.estimate,
        jobDir: jobDir(),
        ...(input.prices ? { prices: input.prices } : {}),
        ...(state.pilot ? { pilot: state.pilot } : {}),
      });
    }
    await approve();
    setPhase('running');
    do await runRound();
    while (await retryRound());
    await finalize(false);
    return state.report!;
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    await CancellationScope.nonCancellable(() => dropEarly());
    if (!isCancellation(err) || !state.prepared) {
      if (!isCancellation(err) && state.phase !== 'rejected') {
        state.error = err instanceof Error ? err.message : String(err);
        setPhase('failed');
      }
      throw err;
    }
    // Canceled: cancel the open batches, collect what finished, and finalize with it — even though we are canceled.
    await CancellationScope.nonCancellable(async () => {
      setPhase('canceling');
      if (state.chunks.some((c) => c.sync && c.status === 'synchronous')) await closeSyncChunks();
      if (!patched(CANCEL_PATCH)) {
        for (const c of state.chunks.filter(isActive)) await getExternalWorkflowHandle(childId(c)).cancel();
        await condition(() => !state.chunks.some(isActive));
      } else await cancelChildren();
      await finalize(true);
    });
    throw err;
  }
}
