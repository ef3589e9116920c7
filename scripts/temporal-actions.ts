/**
 * What a job costs in Temporal terms, read from the histories of its workflows: events, and billable actions as
 * Temporal Cloud counts them (workflow starts, activity starts and retries, timers, signals, child starts, updates,
 * search-attribute and memo upserts, markers). Heartbeats are not in history; they are counted apart (throttled).
 */
import type { Client } from '@temporalio/client';
// A CommonJS module whose exports Node's ESM loader cannot name: its default export is the whole namespace.
import proto from '@temporalio/proto';

const EventType = proto.temporal.api.enums.v1.EventType;

/** History events that Temporal Cloud bills as one action each. */
const ACTION_EVENTS = new Set<number>([
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
  EventType.EVENT_TYPE_TIMER_STARTED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
  EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
  EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
  EventType.EVENT_TYPE_MARKER_RECORDED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
]);

export interface TemporalCost {
  workflows: number;
  events: number;
  actions: number;
  /** Retries: activity attempts beyond the first (each a further action), from the completed events. */
  retries: number;
}

/** Sums events and actions over every run of the workflows whose id passes `pick` (the namespace's whole list). */
export async function temporalCostOf(client: Client, pick: (workflowId: string) => boolean): Promise<TemporalCost> {
  const cost: TemporalCost = { workflows: 0, events: 0, actions: 0, retries: 0 };
  for await (const wf of client.workflow.list()) {
    if (!pick(wf.workflowId)) continue;
    cost.workflows++;
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    for (const e of history.events ?? []) {
      cost.events++;
      if (ACTION_EVENTS.has(Number(e.eventType))) cost.actions++;
      const started = e.activityTaskStartedEventAttributes;
      if (started?.attempt && started.attempt > 1) cost.retries += 1;
    }
  }
  cost.actions += cost.retries;
  return cost;
}
