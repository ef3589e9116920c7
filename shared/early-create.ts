import type { ChunkRef } from './job-types.js';
import type { JobPhase, JobState } from './job-state.js';

/**
 * Early create: the job's first chunks are streamed to the API while the rest of the input is still validated, and
 * each create's last bytes are held until the job lets it go. An unfinished body creates nothing, so the gates stay
 * where they were — the whole input valid, the cost estimated and approved, the budget admitting the chunk — and
 * only the upload (and the API's reading of it) moves ahead of them. See docs/job.md, "Early create".
 *
 *  1. prepare copies the first chunks (as many as the job's admission would let wait in the API's queue at once,
 *     `earlyChunkCount`) into segments as it writes them (activities/early-chunk.ts) and signals the job
 *     (`EARLY_CHUNK_SIGNAL`) once each one's first segment is readable;
 *  2. the job starts that chunk's child at once, marked early; the child asks the workspace's submitter for a held
 *     create, which streams the segments and then asks the job (`EARLY_GATE_QUERY`) whether to finish;
 *  3. the job answers 'go' only once it starts that chunk the usual way (after approval and admission), naming the
 *     digest of the chunk it means; the create finishes only if its bytes have exactly that digest, and only once
 *     it holds the workspace's create slot (shared/create-slot.ts): held uploads run side by side, their last
 *     bytes go one create at a time;
 *  4. any other ending — invalid input, approval waiting for a person, the budget or the deadline holding the chunk
 *     back, a cancel, the connection idle too long — withdraws the create (nothing was created) and the child waits
 *     for the job to release it, then submits as every other chunk does.
 */
export const EARLY_CHUNK_SIGNAL = 'earlyChunk';
export const EARLY_GATE_QUERY = 'earlyCreateGate';
export const RELEASE_CHUNK_SIGNAL = 'releaseChunk';

/** What the job keeps of each early chunk. */
export interface EarlyChunk {
  id: string;
  /** The job started the chunk (approved, admitted): the create may finish if its bytes are this digest. */
  releasedDigest?: string;
  /** The job will never start it as it is (it failed, was canceled, or held the chunk back). */
  dropped?: true;
}

export type EarlyGate = { gate: 'wait' } | { gate: 'withdraw'; reason: string } | { gate: 'go'; digest: string };

/** Phases in which the job will go on to start its chunks without anyone's word. */
const ON_ITS_WAY: readonly JobPhase[] = ['validating', 'piloting', 'estimating', 'running'];

/** Whether a held create of `chunkId` may finish now, must wait, or must give up. */
export function earlyGate(state: Pick<JobState, 'early' | 'phase' | 'chunks'>, chunkId: string): EarlyGate {
  const early = earlyChunks(state).find((e) => e.id === chunkId);
  if (!early) return { gate: 'withdraw', reason: 'the job has no early chunk of this id' };
  if (early.dropped) return { gate: 'withdraw', reason: 'the job will not submit this chunk as it is' };
  if (early.releasedDigest) return { gate: 'go', digest: early.releasedDigest };
  if (!ON_ITS_WAY.includes(state.phase)) return { gate: 'withdraw', reason: `the job is ${state.phase}` };
  const chunk = state.chunks.find((c) => c.ref.id === chunkId);
  if (state.phase === 'running' && chunk && chunk.status !== 'pending')
    return { gate: 'withdraw', reason: `the chunk is ${chunk.status}` };
  return { gate: 'wait' };
}

/**
 * The job's early chunks. Jobs of 0.3.0 kept one (an object; it may reach this code through continue-as-new), later
 * ones a list.
 */
export function earlyChunks(state: Pick<JobState, 'early'>): EarlyChunk[] {
  const early = state.early;
  return early === undefined ? [] : Array.isArray(early) ? early : [early];
}

/** The reference a child starts with while its chunk is still being written: the file is where it will be. */
export function earlyRef(ref: Pick<ChunkRef, 'id' | 'uri'> & { index?: number }): ChunkRef {
  return { id: ref.id, round: 0, index: ref.index ?? 0, uri: ref.uri, requests: 0, bytes: 0 };
}

/** Never more held uploads per job than this: each is an open connection and a copy of its chunk on disk. */
export const MAX_EARLY_CHUNKS = 4;

/**
 * How many chunks a job streams early: as many as its admission lets wait in the API's processing queue at once
 * (a chunk admission would hold back would only be withdrawn after its hold), at least the first, at most
 * MAX_EARLY_CHUNKS.
 */
export function earlyChunkCount(
  chunk: { maxRequests: number },
  admission: { maxQueuedRequests: number; maxConcurrentBatches: number },
): number {
  const admitted = Math.floor(admission.maxQueuedRequests / chunk.maxRequests);
  return Math.max(1, Math.min(admitted, admission.maxConcurrentBatches, MAX_EARLY_CHUNKS));
}
