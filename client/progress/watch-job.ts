import confirm from '@inquirer/confirm';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { createLogUpdate } from 'log-update';
import type { JobReportSummary } from '../../shared/job-types.js';
import { approveUpdate, rejectUpdate, type JobStatusView } from '../../workflows/messages.js';
import { closedOutcome, queryStatus } from '../jobs.js';
import { ENDED_PHASES } from '../../shared/job-state.js';
import { REJECTED_INPUT_ADVICE } from '../../shared/job-view.js';
import { commandName } from '../command-name.js';
import { failureHint, isRefusal } from '../failure-hints.js';
import { describeChanges, estimateLine, outcomesLine, renderFrame, SKIPPED_SHOWN, usd, waitingLine } from './render.js';

const HEARTBEAT_MS = 10_000;

export interface WatchOptions {
  /** Approve a job waiting for approval without asking (`--yes`). */
  autoApprove: boolean;
  /** Draw a live frame with bars (a terminal) instead of log lines. */
  tty: boolean;
  /** Whether a person can answer a prompt (stdin is a terminal). */
  interactive: boolean;
  /** Who approves, recorded in the job. */
  approver: string;
}

/** Options for a person at this process's terminal (or a CI log when stdout is not one). */
export function terminalWatchOptions(autoApprove: boolean, approver: string): WatchOptions {
  return {
    autoApprove,
    tty: Boolean(process.stdout.isTTY && process.stdout.rows),
    interactive: Boolean(process.stdin.isTTY),
    approver,
  };
}

export type WatchEnd =
  | { kind: 'completed'; report: JobReportSummary; view: JobStatusView | null }
  | { kind: 'failed'; message: string; type: string | null; view: JobStatusView | null }
  | { kind: 'detached' };

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal.addEventListener('abort', wake, { once: true });
  });

/**
 * Follows a job until it closes: a redrawn frame in a terminal, log lines otherwise. Asks for approval when the
 * job waits for it (or approves at once with `--yes`). Ctrl-C detaches — the job keeps running.
 */
export async function watchJob(client: Client, handle: WorkflowHandle, o: WatchOptions): Promise<WatchEnd> {
  const detach = new AbortController();
  const onSigint = () => detach.abort();
  process.on('SIGINT', onSigint);
  const frame = o.tty ? createLogUpdate(process.stdout) : null;
  let closed: Awaited<ReturnType<typeof closedOutcome>> | null = null;
  // The result long-poll is tied to the detach signal, so a detached watch leaves no call open behind it.
  const closing = client.withAbortSignal(detach.signal, () => closedOutcome(handle)).then((c) => (closed = c));
  closing.catch(() => undefined);
  let last: JobStatusView | null = null;
  let askedApproval = false;
  let waitingForWorker = false;
  // Plain output: a line at least every HEARTBEAT_MS, so a log never looks stuck while batches wait.
  let lastLineAt = Date.now();
  const print = (line: string) => {
    console.log(line);
    lastLineAt = Date.now();
  };
  try {
    while (!detach.signal.aborted && !closed) {
      const view = await queryStatus(handle, 4000);
      const now = Date.now();
      if (!view && !closed) {
        if (!waitingForWorker) {
          const line = `no answer from the job yet: is a worker running on its task queue? (\`${commandName()} worker\`, or \`${commandName()} dev\` for the whole stack)…`;
          if (frame) frame(line);
          else print(line);
          waitingForWorker = true;
        }
      } else if (view) {
        waitingForWorker = false;
        if (frame) frame(renderFrame(view, now));
        else {
          for (const line of describeChanges(last, view, now)) print(line);
          if (now - lastLineAt >= HEARTBEAT_MS && !ENDED_PHASES.includes(view.phase)) print(waitingLine(view, now));
        }
        last = view;
        if (view.phase === 'awaiting_approval' && !askedApproval) {
          askedApproval = true;
          frame?.done();
          await decideApproval(handle, view, o, detach.signal);
        }
      }
      // The nap ends with the job: a timer left running would keep the command alive up to a second after it.
      const nap = new AbortController();
      await Promise.race([sleep(o.tty ? 500 : 1000, AbortSignal.any([detach.signal, nap.signal])), closing]);
      nap.abort();
    }
    if (detach.signal.aborted && !closed) {
      frame?.done();
      return { kind: 'detached' };
    }
    const final = await queryStatus(handle, 3000);
    if (final && frame) frame(renderFrame(final, Date.now()));
    else if (final) for (const line of describeChanges(last, final, Date.now())) print(line);
    frame?.done();
    const end = closed!;
    return end.report
      ? { kind: 'completed', report: end.report, view: final ?? last }
      : {
          kind: 'failed',
          message: end.failure ?? 'the job did not complete',
          type: end.failureType,
          view: final ?? last,
        };
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function decideApproval(handle: WorkflowHandle, view: JobStatusView, o: WatchOptions, signal: AbortSignal) {
  const threshold = view.approval ? usd(view.approval.thresholdUsd) : 'the threshold';
  console.log(`This job's ${estimateLine(view) ?? 'estimate'} is above the approval threshold of ${threshold}.`);
  if (o.autoApprove) {
    await handle.executeUpdate(approveUpdate, { args: [{ by: o.approver, reason: '--yes' }] });
    console.log(`approved (--yes) by ${o.approver}`);
    return;
  }
  if (!o.interactive) {
    const cmd = commandName();
    console.log(
      `waiting for approval: run \`${cmd} approve ${handle.workflowId}\` or \`${cmd} reject ${handle.workflowId}\``,
    );
    return;
  }
  let ok: boolean;
  try {
    ok = await confirm({ message: 'Submit it?', default: false }, { signal });
  } catch (err) {
    if ((err as Error).name === 'AbortPromptError' || (err as Error).name === 'ExitPromptError') return;
    throw err;
  }
  const update = ok ? approveUpdate : rejectUpdate;
  await handle.executeUpdate(update, { args: [{ by: o.approver }] });
  console.log(ok ? 'approved' : 'rejected: nothing will be submitted');
}

/** The closing lines of a watched job. */
export function summaryLines(end: WatchEnd, jobId: string): string[] {
  const cmd = commandName();
  if (end.kind === 'detached')
    return [
      `detached; job ${jobId} keeps running.`,
      `  reattach: ${cmd} watch ${jobId}`,
      `  status:   ${cmd} status ${jobId}`,
      `  cancel:   ${cmd} cancel ${jobId}`,
    ];
  if (end.kind === 'failed') {
    const hint = failureHint(end.type) ?? (end.type ? `\`${cmd} status ${jobId}\` shows how far it got` : null);
    const [first, ...rest] = end.message.replace(`\n${REJECTED_INPUT_ADVICE}`, '').split('\n');
    if (isRefusal(end.type))
      return [`error: job ${jobId} refused: ${first}`, ...rest, ...(hint ? [`hint: ${hint}`] : [])];
    const partial = end.view?.report;
    return [
      `job ${jobId} did not complete: ${end.message}`,
      ...(partial ? [`  what finished is in ${partial.outputUri} (report: ${partial.reportMarkdownUri})`] : []),
      ...(hint ? [`hint: ${hint}`] : []),
    ];
  }
  const r = end.report;
  const e = end.view?.estimate;
  const skipped = end.view?.prepared;
  return [
    `job ${jobId} completed: ${r.lines.toLocaleString('en-US')} result lines, one per request`,
    `  outcomes: ${outcomesLine(r.outcomes)}`,
    `  cost ${usd(r.costUsd)}${r.synchronous ? ` (${r.synchronous.requests.toLocaleString('en-US')} answered synchronously, ${usd(r.synchronous.costUsd)} at standard prices; the rest at batch prices)` : ' at batch prices'}${e ? ` (estimated ${usd(e.batchUsd)}${e.pilot ? ` + pilot ${usd(e.pilot.costUsd)}` : ''})` : ''}; the same tokens synchronously: ${usd(r.standardUsd)} — saved ${usd(r.standardUsd - r.costUsd)}`,
    ...(skipped?.invalidLines
      ? [
          `  skipped: ${skipped.invalidLines.toLocaleString('en-US')} invalid line(s), not submitted:`,
          ...(skipped.invalidFirst ?? [])
            .slice(0, SKIPPED_SHOWN)
            .map((p) => `    line ${p.line}, ${p.field}: ${p.rule}`),
          `    every one: ${cmd} results ${jobId} --invalid --out -`,
        ]
      : []),
    `  results: ${r.outputUri}`,
    `  report:  ${r.reportMarkdownUri}`,
  ];
}
