import type { ChunkRef } from './job-types.js';

/** What submitting one chunk needs: whose it is, where its records live, and the chunk itself. */
export interface SubmitArgs {
  jobId: string;
  jobDir: string;
  chunk: ChunkRef;
  /**
   * Batches this chunk already found were not its own (their results named other requests): reconciliation
   * passes over them.
   */
  exclude?: string[];
  /**
   * A held create of one of the job's first chunks while the job still validates (shared/early-create.ts): the
   * body is streamed from the chunk's segments and finished only on the job's go.
   */
  held?: true;
  /**
   * Set by the submitter when it runs a held create beside others: before its last bytes the create asks the
   * submitter for the workspace's create slot (CREATE_SLOT_UPDATE, shared/create-slot.ts).
   */
  slot?: true;
}

/**
 * One submission of a chunk, as the submitter and its callers name it: a held create is a submission of its own
 * (withdrawn, the chunk's usual one follows under its own key), and a usual one is named by how many batches it
 * was told are not its own.
 */
export const submissionKey = (args: Pick<SubmitArgs, 'jobId' | 'chunk' | 'held' | 'exclude'>) =>
  `${args.jobId}/${args.chunk.id}/${args.held ? 'held' : (args.exclude?.length ?? 0)}`;

/** The id of the submitter workflow of one workspace: a fingerprint, never the key. */
export const submitterWorkflowId = (fingerprint: string) => `claude-batch-submitter-${fingerprint}`;

/** The workflow type and update name of the submitter (workflows/workspace-submitter.ts). */
export const SUBMITTER_WORKFLOW_TYPE = 'workspaceSubmitter';
export const SUBMIT_CHUNK_UPDATE = 'submitChunk';
/** From a held create running in the submitter: may its last bytes go now? (answered when it holds the slot) */
export const CREATE_SLOT_UPDATE = 'createSlot';
