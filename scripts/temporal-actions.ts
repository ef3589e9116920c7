/**
 * What a job costs in Temporal terms, read from the histories of its workflows: events, and billable actions as
 * Temporal Cloud counts them (workflow starts, activity starts and retries, timers, signals, child starts, updates,
 * search-attribute and memo upserts, markers). Heartbeats are not in history; they are estimated apart, from each
 * activity's run time and the SDK's heartbeat throttling.
 */
import type { Client } from '@temporalio/client';
// A CommonJS module whose exports Node's ESM loader cannot name: the value through the default import.
import proto, { type temporal } from '@temporalio/proto';

const EventType = proto.temporal.api.enums.v1.EventType;
type Timestamp = temporal.api.history.v1.IHistoryEvent['eventTime'];
type Duration = temporal.api.history.v1.IActivityTaskScheduledEventAttributes['heartbeatTimeout'];

/** History events that Temporal Cloud bills as one action each, by the name the breakdown shows. */
const ACTION_EVENTS = new Map<number, string>([
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 'workflow started'],
  [EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, 'activity'],
  [EventType.EVENT_TYPE_TIMER_STARTED, 'timer'],
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, 'signal received'],
  [EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, 'signal sent'],
  [EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, 'child started'],
  [EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, 'cancel requested'],
  [EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, 'search attributes'],
  [EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED, 'memo'],
  [EventType.EVENT_TYPE_MARKER_RECORDED, 'marker'],
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, 'update'],
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, 'continue-as-new'],
]);

/** The SDK's defaults (WorkerOptions.maxHeartbeatThrottleInterval, defaultHeartbeatThrottleInterval). */
const MAX_THROTTLE_MS = 60_000;

const msOf = (ts: Timestamp | Duration): number => {
  if (!ts) return 0;
  const s = ts.seconds ?? 0;
  return (typeof s === 'number' ? s : s.toNumber()) * 1000 + (ts.nanos ?? 0) / 1e6;
};

export interface TemporalCost {
  workflows: number;
  events: number;
  actions: number;
  /** Retries: activity attempts beyond the first (each a further action), from the started events. */
  retries: number;
  /** Actions by kind (`activity`, `timer`, `signal sent`…; retries under `activity retry`). */
  byKind: Record<string, number>;
  /** Workflows (distinct ids), runs, events and actions (also by kind) by workflow type (batchJob, batchChunk…). */
  byType: Record<
    string,
    { workflows: number; runs: number; events: number; actions: number; byKind: Record<string, number> }
  >;
  /**
   * Heartbeats the server recorded, estimated (they are in no history): an activity with a heartbeat timeout that
   * ran ≥ 1 s heartbeats at once and then at most every 0.8 × heartbeatTimeout (the SDK's throttle, ≤ 60 s), and
   * ours heartbeat at least that often while they run (chunk-ids' beater every 1 s, submit's every 2 s…). So:
   * 1 + ⌊run time / throttle⌋ each, an upper bound. Temporal Cloud bills each recorded heartbeat as an action.
   */
  heartbeats: number;
  /** Activity run time summed (start of the last attempt to its close), seconds. */
  activitySeconds: number;
}

/** Sums events and actions over every run of the workflows whose id passes `pick` (the namespace's whole list). */
export async function temporalCostOf(client: Client, pick: (workflowId: string) => boolean): Promise<TemporalCost> {
  const cost: TemporalCost = {
    workflows: 0,
    events: 0,
    actions: 0,
    retries: 0,
    byKind: {},
    byType: {},
    heartbeats: 0,
    activitySeconds: 0,
  };
  const count = (to: Record<string, number>, kind: string, n: number) => (to[kind] = (to[kind] ?? 0) + n);
  const ids = new Set<string>();
  for await (const wf of client.workflow.list()) {
    if (!pick(wf.workflowId)) continue;
    cost.workflows++;
    const type = (cost.byType[wf.type] ??= { workflows: 0, runs: 0, events: 0, actions: 0, byKind: {} });
    const add = (kind: string, n = 1) => {
      count(cost.byKind, kind, n);
      count(type.byKind, kind, n);
    };
    type.runs++;
    if (!ids.has(wf.workflowId)) type.workflows++;
    ids.add(wf.workflowId);
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const scheduled = new Map<number, { heartbeatMs: number; startedMs: number }>();
    for (const e of history.events ?? []) {
      cost.events++;
      type.events++;
      const kind = ACTION_EVENTS.get(Number(e.eventType));
      if (kind) {
        cost.actions++;
        type.actions++;
        add(kind);
      }
      const id = Number(e.eventId);
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(id, { heartbeatMs: msOf(s.heartbeatTimeout), startedMs: 0 });
      const started = e.activityTaskStartedEventAttributes;
      if (started) {
        const entry = scheduled.get(Number(started.scheduledEventId));
        if (entry) entry.startedMs = msOf(e.eventTime);
        if (started.attempt && started.attempt > 1) {
          cost.retries += started.attempt - 1;
          type.actions += started.attempt - 1;
          add('activity retry', started.attempt - 1);
        }
      }
      const closed =
        e.activityTaskCompletedEventAttributes ??
        e.activityTaskFailedEventAttributes ??
        e.activityTaskTimedOutEventAttributes ??
        e.activityTaskCanceledEventAttributes;
      if (closed?.scheduledEventId) {
        const entry = scheduled.get(Number(closed.scheduledEventId));
        if (entry?.startedMs) {
          const ranMs = Math.max(0, msOf(e.eventTime) - entry.startedMs);
          cost.activitySeconds += ranMs / 1000;
          if (entry.heartbeatMs > 0 && ranMs >= 1000)
            cost.heartbeats += 1 + Math.floor(ranMs / Math.min(MAX_THROTTLE_MS, 0.8 * entry.heartbeatMs));
        }
      }
    }
  }
  cost.actions += cost.retries;
  return cost;
}
