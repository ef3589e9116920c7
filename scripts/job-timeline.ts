/**
 * Where a benchmarked job spent its time and memory: per activity type, from the job's Temporal histories, and the
 * worker's peak RSS sampled while it ran, so each step can be matched with the memory it took.
 */
import type { Client } from '@temporalio/client';
import { peakRssMb } from './bench-stack.js';

/** A history event's protobuf timestamp (seconds may be a Long) in milliseconds. */
const tsToMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

export interface ActivityTime {
  type: string;
  count: number;
  /** Seconds from schedule to close, summed over its runs (they may overlap). */
  busy: number;
  /** Seconds after the job's start of its first schedule and its last close. */
  first: number;
  last: number;
  /** The worker's peak RSS when its last run closed. */
  highMb?: number;
}

/**
 * Where the job spent its time, from the histories of its workflows (the job, its chunks, the workspace's
 * submitter, from this job's start on): per activity type, how many ran, for how long, and when.
 */
export async function activityTimes(client: Client, jobId: string): Promise<ActivityTime[]> {
  const mine = (id: string) => id === jobId || id.startsWith(`${jobId}/`) || id.startsWith('claude-batch-submitter-');
  const byType = new Map<string, ActivityTime>();
  let jobStart = Infinity;
  const runs: { type: string; from: number; to: number }[] = [];
  for await (const wf of client.workflow.list()) {
    if (!mine(wf.workflowId)) continue;
    if (wf.workflowId === jobId) jobStart = Math.min(jobStart, wf.startTime.getTime());
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const scheduled = new Map<string, { type: string; at: number }>();
    for (const e of history.events ?? []) {
      const at = tsToMs(e.eventTime);
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), { type: s.activityType?.name ?? '?', at });
      const closed =
        e.activityTaskCompletedEventAttributes ??
        e.activityTaskFailedEventAttributes ??
        e.activityTaskTimedOutEventAttributes ??
        e.activityTaskCanceledEventAttributes;
      const from = closed && scheduled.get(String(closed.scheduledEventId));
      if (from) runs.push({ type: from.type, from: from.at, to: at });
    }
  }
  // The submitter is the workspace's, so it also holds the creates of earlier scenarios (same API key): skipped.
  for (const r of runs) {
    if (r.from < jobStart) continue;
    const t = byType.get(r.type) ?? { type: r.type, count: 0, busy: 0, first: Infinity, last: -Infinity };
    t.count++;
    t.busy += (r.to - r.from) / 1000;
    t.first = Math.min(t.first, (r.from - jobStart) / 1000);
    t.last = Math.max(t.last, (r.to - jobStart) / 1000);
    byType.set(r.type, t);
  }
  return [...byType.values()].sort((a, b) => a.first - b.first);
}

/** Samples a process's peak RSS every 100 ms from now on; `at(t)` is the peak `t` seconds after `from`. */
export function rssTimeline(pid: number) {
  const started = performance.now();
  const samples: { at: number; mb: number }[] = [];
  const sample = () => {
    try {
      samples.push({ at: (performance.now() - started) / 1000, mb: peakRssMb(pid) });
    } catch {
      // The process is gone: the last sample stands.
    }
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    /** The peak when sampling started (an idle worker's own size). */
    get firstMb() {
      return samples[0]?.mb ?? NaN;
    },
    stop: () => clearInterval(timer),
    /** The peak by `t` seconds after `from` (seconds since sampling started). */
    at: (from: number, t: number) => samples.filter((r) => r.at <= from + t).at(-1)?.mb ?? NaN,
  };
}

/** The activity table the benchmarks print: count, busy time, when, and the worker's peak RSS by its end. */
export function printActivities(activities: (ActivityTime & { highMb?: number })[], indent = '    '): void {
  const s = (x: number) => `${x.toFixed(1)} s`;
  for (const a of activities)
    console.log(
      `${indent}${a.type.padEnd(24)} ${String(a.count).padStart(4)}×  ${s(a.busy).padStart(8)} in all, ${a.first.toFixed(1).padStart(6)}–${a.last.toFixed(1)} s` +
        (a.highMb !== undefined ? `, worker peak RSS then ${a.highMb.toFixed(0)} MB` : ''),
    );
}
