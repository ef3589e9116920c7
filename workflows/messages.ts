import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Approval, ChunkProgress, ChunkState, JobState } from '../shared/job-state.js';
import type { ChunkOutcome, ChunkRef, SubmittedBatch } from '../shared/job-types.js';
import { EARLY_CHUNK_SIGNAL, EARLY_GATE_QUERY, RELEASE_CHUNK_SIGNAL, type EarlyGate } from '../shared/early-create.js';
import { CREATE_SLOT_UPDATE, SUBMIT_CHUNK_UPDATE, type SubmitArgs } from '../shared/submission.js';

import type { ApprovalDecision } from '../shared/approval.js';
import type { BudgetStatus } from '../shared/budget.js';
export type { ApprovalDecision };

export type JobStatusView = JobState & {
  jobId: string;
  input: string;
  output: string;
  totals: {
    outcomes: Record<string, number>;
    costUsd: number;
    lastPollAt: number | null;
    nextPollAt: number | null;
    expiringSoon: boolean;
  };
  /** The job's budget: billed, held for batches under way, the cap (null without one). */
  budget?: BudgetStatus | null;
  /** The job's deadline and when it stops waiting for batches (epoch ms; null without a deadline). */
  deadline?: { at: number; cutoffAt: number; reached: boolean } | null;
};

/** The job's live status: phase, estimate, approval, per-chunk status and counts, last and next poll. */
export const statusQuery = defineQuery<JobStatusView>('status');
/** Approve a job waiting for cost approval. */
export const approveUpdate = defineUpdate<Approval, [ApprovalDecision]>('approve');
/** Reject a job waiting for cost approval: nothing is submitted. */
export const rejectUpdate = defineUpdate<Approval, [ApprovalDecision]>('reject');

/** From a chunk child to its job. */
export const chunkProgressSignal = defineSignal<[ChunkProgress]>('chunkProgress');

/** From prepare to its job: one of the first chunks is being written and can be streamed (shared/early-create.ts). */
export const earlyChunkSignal = defineSignal<[{ jobDir: string; chunk: ChunkRef }]>(EARLY_CHUNK_SIGNAL);
/** From a held create to the job: may it finish? */
export const earlyGateQuery = defineQuery<EarlyGate, [string]>(EARLY_GATE_QUERY);
/** From the job to its early chunk: submit now, this chunk (its final reference). */
export const releaseChunkSignal = defineSignal<[ChunkRef]>(RELEASE_CHUNK_SIGNAL);

export interface ChunkStatusView extends Omit<ChunkState, 'ref'> {
  chunkId: string;
  polls: number;
  result: ChunkOutcome | null;
}
export const chunkStatusQuery = defineQuery<ChunkStatusView>('chunkStatus');

/** A chunk's request to the workspace's submitter: create (or find) its one batch. */
export type SubmitChunkRequest = SubmitArgs & { heartbeatTimeout: string | number };
export const submitChunkUpdate = defineUpdate<SubmittedBatch, [SubmitChunkRequest]>(SUBMIT_CHUNK_UPDATE);
/** From a held create to the submitter running it: answered once the create holds the workspace's create slot. */
export const createSlotUpdate = defineUpdate<void, [string]>(CREATE_SLOT_UPDATE);
