import {
  WorkflowFailedError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import type { JobReportSummary } from '../shared/job-types.js';
import { statusQuery, type JobStatusView } from '../workflows/messages.js';
import { UserError } from './cli-errors.js';
import { commandName } from './command-name.js';

export type JobMemo = Partial<{
  phase: string;
  input: string;
  output: string;
  requests: number | null;
  estimateUsd: number | null;
  costUsd: number | null;
  expiringSoon: boolean;
}>;

export interface JobSnapshot {
  id: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, … */
  execution: string;
  startTime: Date;
  closeTime: Date | null;
  memo: JobMemo;
  /** The live view from the workflow; null when no worker answered in time. */
  view: JobStatusView | null;
  report: JobReportSummary | null;
  /** Why a closed job did not complete, in words. */
  failure: string | null;
  /** Where the worker listed the job's invalid input lines (null when there were none). */
  invalidReport: string | null;
}

/** The invalid-lines list of a job refused for its input (the failure carries the validation summary). */
function rejectedReport(details: unknown[]): string | null {
  const summary = details[0] as { reportUri?: unknown } | undefined;
  return typeof summary?.reportUri === 'string' ? summary.reportUri : null;
}

const noSuchJob = (id: string, namespace: string) =>
  new UserError(`no job '${id}' in namespace ${namespace}`, `\`${commandName()} list\` shows recent jobs`);

/** A handle on an existing job, or one clear error when there is none. */
export async function findJob(
  client: Client,
  id: string,
): Promise<{ handle: WorkflowHandle; description: WorkflowExecutionDescription }> {
  const handle = client.workflow.getHandle(id);
  try {
    const description = await handle.describe();
    if (description.type !== 'batchJob')
      throw new UserError(`'${id}' is a ${description.type} workflow, not a batch job`);
    return { handle, description };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw noSuchJob(id, client.options.namespace);
    throw err;
  }
}

/** Queries a workflow, giving up after `ms` (a query waits for a worker, and there may be none). */
export async function queryStatus(handle: WorkflowHandle, ms = 5000): Promise<JobStatusView | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([handle.query(statusQuery), timeout]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** The type of the innermost application failure of a workflow failure (e.g. OutputExists), if any. */
export function failureType(err: unknown): string | null {
  let type: string | null = null;
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause)
    if (e instanceof ApplicationFailure && e.type) type = e.type;
  return type;
}

/** The details of the innermost application failure that has any (e.g. the invalid lines of a rejected input). */
export function failureDetails(err: unknown): unknown[] {
  let details: unknown[] = [];
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause)
    if (e instanceof ApplicationFailure && e.details?.length) details = [...e.details];
  return details;
}

/** The message of a workflow failure, from its innermost cause. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error) e = (e as { cause: Error }).cause;
  return e instanceof Error ? e.message : String(err);
}

export async function closedOutcome(handle: WorkflowHandle): Promise<{
  report: JobReportSummary | null;
  failure: string | null;
  failureType: string | null;
  details: unknown[];
}> {
  try {
    return { report: (await handle.result()) as JobReportSummary, failure: null, failureType: null, details: [] };
  } catch (err) {
    if (err instanceof WorkflowFailedError)
      return {
        report: null,
        failure: failureMessage(err),
        failureType: failureType(err),
        details: failureDetails(err),
      };
    throw err;
  }
}

export async function jobSnapshot(client: Client, id: string): Promise<JobSnapshot> {
  const { handle, description } = await findJob(client, id);
  const execution = description.status.name;
  const memo = ((await description.memo) ?? {}) as JobMemo;
  const closed = execution !== 'RUNNING';
  const view = await queryStatus(handle, closed ? 3000 : 5000);
  const outcome = closed
    ? await closedOutcome(handle)
    : { report: null, failure: null, failureType: null, details: [] };
  return {
    id,
    execution,
    startTime: description.startTime,
    closeTime: description.closeTime ?? null,
    memo,
    view,
    report: view?.report ?? outcome.report,
    failure: outcome.failure ?? view?.error ?? null,
    invalidReport: view?.prepared?.invalidReport ?? rejectedReport(outcome.details),
  };
}

/** The workers that polled the task queue's workflow tasks lately (the server keeps a poller for a few minutes). */
export async function taskQueuePollers(client: Client, taskQueue: string): Promise<string[]> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: 1 },
    taskQueueType: 1,
  });
  return (res.pollers ?? []).map((p) => p.identity || 'a worker');
}

/** Whether any worker polls the task queue (a job started without one waits, which deserves a warning). */
export async function hasWorkers(client: Client, taskQueue: string): Promise<boolean> {
  return (await taskQueuePollers(client, taskQueue)).length > 0;
}
