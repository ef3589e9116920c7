import { endOf, finishedBy, RESULTS_RETENTION_MS, type BatchSchedule, type EndReason } from './processing.js';
import { isErrored, Outcome } from './outcomes.js';

/** Who created a batch: the key's id, its workspace, and whether it was the emulated foreign client. */
export type BatchOwner = Pick<BatchRecord, 'apiKeyId' | 'workspaceId' | 'foreign'>;

export interface RequestCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}

/** What the emulator persists per batch (batch.json). Times are virtual epoch milliseconds. */
export interface BatchRecord {
  id: string;
  /** Creation order, for listing newest first. */
  seq: number;
  apiKeyId: string;
  /** Only keys of this workspace can see the batch. */
  workspaceId: string;
  /** Created by the emulated foreign client (another tool on the workspace), not by a caller of the API. */
  foreign: boolean;
  requestCount: number;
  bytes: number;
  /** The create's `anthropic-beta` values, kept so that processing after a restart applies the same caps. */
  betas: string[];
  schedule: BatchSchedule;
  status: 'in_progress' | 'ended';
  endedAt: number | null;
  endReason: EndReason | null;
  /** Final counts, set when the batch ends. */
  counts: RequestCounts | null;
}

/** RFC 3339 with microseconds, as the real API writes timestamps. */
export function isoMicros(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

export const archivedAt = (r: BatchRecord) => r.schedule.createdAt + RESULTS_RETENTION_MS;
export const endsAt = (r: BatchRecord) => endOf(r.schedule).endsAt;

/**
 * Counts while a batch runs. The real API reports everything as `processing` until the batch ends; with
 * `incremental` on, finished requests move to their outcome as they complete.
 */
export function runningCounts(
  r: BatchRecord,
  now: number,
  incremental: boolean,
  outcomes: Uint8Array | null,
): RequestCounts {
  const counts = { processing: r.requestCount, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  if (!incremental || !outcomes) return counts;
  const done = finishedBy(r.schedule, now);
  for (let i = 0; i < done; i++) {
    const code = outcomes[i] ?? Outcome.ok;
    if (code === Outcome.ok) counts.succeeded++;
    else if (isErrored(code)) counts.errored++;
  }
  counts.processing -= counts.succeeded + counts.errored;
  return counts;
}

export function toApiBatch(
  r: BatchRecord,
  now: number,
  resultsBase: string,
  counts: RequestCounts,
): Record<string, unknown> {
  const canceling = r.status === 'in_progress' && r.schedule.cancelInitiatedAt !== null;
  return {
    id: r.id,
    type: 'message_batch',
    processing_status: r.status === 'ended' ? 'ended' : canceling ? 'canceling' : 'in_progress',
    request_counts: counts,
    ended_at: r.endedAt === null ? null : isoMicros(r.endedAt),
    created_at: isoMicros(r.schedule.createdAt),
    expires_at: isoMicros(r.schedule.expiresAt),
    archived_at: now >= archivedAt(r) ? isoMicros(archivedAt(r)) : null,
    cancel_initiated_at: r.schedule.cancelInitiatedAt === null ? null : isoMicros(r.schedule.cancelInitiatedAt),
    results_url: r.status === 'ended' ? `${resultsBase}/v1/messages/batches/${r.id}/results` : null,
  };
}
