import type { Estimate } from './estimate.js';
import type { TokensByModel } from './pricing.js';
import type { PilotMeasure } from './pilot.js';

/** A chunk of requests written to storage: one batch. Only this reference enters workflow history. */
export interface ChunkRef {
  id: string;
  round: number;
  index: number;
  uri: string;
  requests: number;
  bytes: number;
  /** sha256 of the chunk file: submission records of another chunk content (a re-run on a changed input) are not reused. */
  digest?: string;
}

export interface InvalidLine {
  line: number;
  customId: string | null;
  field: string;
  rule: string;
}

export interface PreparedJob {
  jobDir: string;
  chunks: ChunkRef[];
  /** A random sample kept out of `chunks`, to be answered first through the Messages API (absent: no pilot). */
  pilot?: ChunkRef;
  /** Non-blank input lines read. */
  lines: number;
  /** Valid requests, written to chunks (and the pilot). */
  requests: number;
  invalid: { lines: number; problems: number; reportUri: string | null; first: InvalidLine[] };
  models: string[];
  /** What could not be checked (e.g. model names when the Models API is not served). */
  warnings?: string[];
}

export interface RequestCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}

export interface SubmittedBatch {
  batchId: string;
  createdAt: string;
  expiresAt: string;
  /** True when a create whose answer was lost was found again (reconciled) instead of created anew. */
  adopted: boolean;
  /** The worker's wall clock at submit, for telling "not visible yet" from "gone" on a 404. */
  submittedAt: number;
  /**
   * After a lost create answer, the batches that fit (created in the window, with the chunk's request count) when
   * none is proven the chunk's own yet. The chunk waits for them to end and lets their results decide
   * (`confirmCandidate`); until then it neither uses, cancels nor reports any of them.
   */
  candidates?: { batchId: string; createdAt: string; expiresAt: string }[];
}

export interface BatchStatus {
  status: 'in_progress' | 'canceling' | 'ended';
  counts: RequestCounts;
  expiresAt: string;
  endedAt: string | null;
  /** When the poll happened, on the Temporal server's clock (workflows read no clock of their own). */
  polledAt: number;
  /** How far the API's clock was ahead of the worker's (its `expires_at` is on that clock); absent when in step. */
  apiClockAheadMs?: number;
}

/** What a chunk's batch produced, tallied while its results were streamed to storage. */
export interface ChunkOutcome {
  chunkId: string;
  round: number;
  batchId: string | null;
  /** Answered through the synchronous Messages API (a pilot, or the stragglers at a deadline): standard rates. */
  via?: 'sync';
  requests: number;
  resultsUri: string | null;
  /** Custom ids to send again (one per line), or null when none. */
  retryUri: string | null;
  retryable: number;
  /** Result lines by outcome: succeeded, expired, canceled, errored:<error type>. */
  outcomes: Record<string, number>;
  tokens: TokensByModel;
  /** At batch rates, each request priced on its own (a model's price tier depends on the request's prompt). */
  costUsd: number;
  /** The same requests at standard rates (absent in outcomes of older builds: then priced from `tokens`). */
  standardUsd?: number;
  /** The exact sum, in nano-dollars at standard rates, that both figures come from (a job sums these, then rounds). */
  standardNanoUsd?: number;
  /** Models the results name that the job's price table lacks: their requests are not in the cost. */
  unpricedModels?: string[];
  /** A pilot's measure of output against max_tokens and of answer times. */
  measure?: PilotMeasure;
  /** Non-zero when a fetch that died was resumed from its heartbeat instead of starting over. */
  resumedFromLine: number;
}

export interface JobReportSummary {
  outputUri: string;
  reportJsonUri: string;
  reportMarkdownUri: string;
  lines: number;
  outcomes: Record<string, number>;
  costUsd: number;
  standardUsd: number;
  /** Requests the Messages API answered (pilot, deadline) and their cost at standard prices, part of `costUsd`. */
  synchronous?: { requests: number; costUsd: number };
}

export type { Estimate };
