import { chunkCounts, summarize, unansweredRequests, type JobState } from './job-state.js';
import type { PreparedJob } from './job-types.js';
import { formatUsd } from './money.js';
import { budgetStatus } from './budget.js';
import { cutoffAt, deadlineAt, type DeadlineInput } from './deadline.js';

type Totals = ReturnType<typeof summarize>;

const usd = formatUsd;

/** The memo: what the Temporal UI and `claude-batch list` show of a job without asking a worker. */
export function jobMemo(state: JobState, totals: Totals, io: { input: string; output: string }) {
  return {
    phase: state.phase,
    input: io.input,
    output: io.output,
    requests: state.prepared?.requests ?? null,
    estimateUsd: state.estimate?.batchUsd ?? null,
    costUsd: state.report?.costUsd ?? (totals.costUsd > 0 ? totals.costUsd : null),
    expiringSoon: totals.expiringSoon,
  };
}

/** The UI's "current details" of a job, in Markdown: phase, size, estimate, chunk progress, outcomes, cost. */
export function jobDetails(state: JobState, totals: Totals, io: { input: string; output: string }): string {
  const { chunks, done } = chunkCounts(state);
  const e = state.estimate;
  const lines = [
    `**${state.phase.replaceAll('_', ' ')}**${state.round > 0 ? ` · retry round ${state.round}` : ''}`,
    '',
    `- input: \`${io.input}\`${state.prepared ? ` — ${state.prepared.requests} requests` : ''}${state.prepared?.invalidLines ? `, ${state.prepared.invalidLines} invalid lines` : ''}`,
    `- output: \`${io.output}\``,
  ];
  if (e) lines.push(`- estimate: ${usd(e.batchUsd)} at batch prices (${usd(e.standardUsd)} synchronous)`);
  if (state.approval?.required) lines.push(`- approval: ${state.approval.state.replaceAll('_', ' ')}`);
  if (chunks > 0) lines.push(`- batches: ${done} of ${chunks} done`);
  const outcomes = Object.entries(totals.outcomes);
  if (outcomes.length > 0) lines.push(`- outcomes: ${outcomes.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (totals.costUsd > 0) lines.push(`- cost so far: ${usd(totals.costUsd)}`);
  if (totals.expiringSoon) lines.push('- ⚠ a batch is close to its 24 h expiry');
  if (state.error) lines.push(`- error: ${state.error.split('\n')[0]}`);
  return lines.join('\n');
}

/** When the job stops waiting for batches; moves later as requests get answered. */
export function jobCutoffAt(state: JobState, d: DeadlineInput): number {
  return cutoffAt(d, state.startedAt, unansweredRequests(state), state.pilot?.measure.latencyP90Ms ?? null);
}

/**
 * What the status query answers: the job's whole state, its totals, budget and deadline. A pure function of the
 * state, so its size can be checked at the largest job (test/workflows/payload-bounds.test.ts).
 */
export function jobStatusView(
  state: JobState,
  job: {
    jobId: string;
    input: string;
    output: string;
    budget?: { maxUsd: number } | undefined;
    deadline?: DeadlineInput | undefined;
  },
) {
  const { budget, deadline } = job;
  return {
    ...state,
    jobId: job.jobId,
    input: job.input,
    output: job.output,
    totals: summarize(state),
    budget: budget ? budgetStatus(state, budget.maxUsd) : null,
    deadline: deadline
      ? {
          at: deadlineAt(deadline.at, state.startedAt),
          cutoffAt: state.cutoffAt ?? jobCutoffAt(state, deadline),
          reached: state.cutoffAt !== undefined,
        }
      : null,
  };
}

/** The last line of a rejected input's message; the CLI gives its own advice in its place. */
export const REJECTED_INPUT_ADVICE =
  'Fix the lines, or skip them and submit the valid ones (job input "onInvalid": "skip"; CLI --on-invalid skip).';

/** Why a job with invalid lines in `reject` mode submitted nothing, and what to do about it. */
export function rejectedInputMessage(bad: PreparedJob['invalid']): string {
  const listed = bad.first.map((p) => `  line ${p.line}, ${p.field}: ${p.rule}`).join('\n');
  const more = bad.problems > bad.first.length ? `\n  … every problem is listed in ${bad.reportUri}` : '';
  return (
    `Input rejected: ${bad.lines} invalid line(s), ${bad.problems} problem(s); nothing was submitted.\n${listed}${more}\n` +
    REJECTED_INPUT_ADVICE
  );
}

/** Why a job with no valid request fails instead of "completing" with nothing. */
export function nothingToSubmitMessage(p: PreparedJob, input: string): string {
  const allowed = 'If an empty input is expected (e.g. a nightly job that may find nothing), allow it (allowEmpty).';
  if (p.lines === 0)
    return `Nothing to submit: ${input} has no requests (it is empty, has only blank lines, or a CSV header and no rows). ${allowed}`;
  const listed = p.invalid.first.map((x) => `  line ${x.line}, ${x.field}: ${x.rule}`).join('\n');
  const more =
    p.invalid.problems > p.invalid.first.length ? `\n  … every problem is listed in ${p.invalid.reportUri}` : '';
  return `Nothing to submit: all ${p.lines} line(s) of ${input} are invalid.\n${listed}${more}`;
}
