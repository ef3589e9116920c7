import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ChunkOutcome } from '../shared/job-types.js';
import { storageBytes, storageRequests } from '../storage/s3-traffic.js';

/**
 * The worker's own Prometheus metrics, counted where the activities learn the facts. Module-level so activities
 * need no extra dependency: without a metrics endpoint (tests, embedders) they count into memory nobody reads.
 * Counts are per activity attempt that got that far; a worker that dies right after counting and whose activity
 * is retried elsewhere counts twice, as Prometheus counters across restarts always may.
 */
export const registry = new Registry();
const registers = [registry];
// S3 traffic is counted in storage/, which cannot import this module (see storage/s3-traffic.ts).
registry.registerMetric(storageRequests);
registry.registerMetric(storageBytes);

export const batchesCreated = new Counter({
  name: 'claude_batch_batches_created_total',
  help: 'Message batches created on the API',
  registers,
});

export const batchesAdopted = new Counter({
  name: 'claude_batch_batches_adopted_total',
  help: 'Batches found again and proven ours by their results after a create whose answer was lost',
  registers,
});

export const requests = new Counter({
  name: 'claude_batch_requests_total',
  help: 'Results fetched, by outcome and error type (a request sent again in a retry round counts once per result)',
  labelNames: ['outcome', 'error_type'] as const,
  registers,
});

export const billedUsd = new Counter({
  name: 'claude_batch_billed_usd_total',
  help: 'Dollars billed: the usage of fetched results at batch prices',
  registers,
});

export const estimatedUsd = new Counter({
  name: 'claude_batch_estimated_usd_total',
  help: 'Dollars estimated before submitting (jobs and dry runs)',
  registers,
});

export const expiryWarnings = new Counter({
  name: 'claude_batch_expiry_warnings_total',
  help: 'Batches still running close to their 24 h expiry',
  registers,
});

export const pollLag = new Histogram({
  name: 'claude_batch_poll_lag_seconds',
  help: 'How late a batch poll ran after it was scheduled (a backlog of workers shows here first)',
  buckets: [0.05, 0.25, 1, 5, 15, 60, 300],
  registers,
});

export const resultLines = new Counter({
  name: 'claude_batch_result_lines_fetched_total',
  help: 'Result lines downloaded from the API (downloads tried again count again)',
  registers,
});

export const submissionsWaiting = new Gauge({
  name: 'claude_batch_submissions_waiting',
  help: "Chunks on this worker waiting for their workspace submitter's create",
  registers,
});

/** A fetched chunk's results: its outcomes (`errored:<type>` split into two labels) and its bill. */
export function countOutcome(outcome: Pick<ChunkOutcome, 'outcomes' | 'costUsd'>): void {
  for (const [key, n] of Object.entries(outcome.outcomes)) {
    const [kind, errorType] = key.split(':', 2) as [string, string | undefined];
    requests.inc({ outcome: kind, error_type: errorType ?? '' }, n);
  }
  billedUsd.inc(outcome.costUsd);
}
