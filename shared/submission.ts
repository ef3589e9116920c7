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
   * A held create of the job's first chunk while the job still validates (shared/early-create.ts): the body is
   * streamed from the chunk's segments and finished only on the job's go.
   */
  held?: true;
}

/** The id of the submitter workflow of one workspace: a fingerprint, never the key. */
export const submitterWorkflowId = (fingerprint: string) => `claude-batch-submitter-${fingerprint}`;

/** The workflow type and update name of the submitter (workflows/workspace-submitter.ts). */
export const SUBMITTER_WORKFLOW_TYPE = 'workspaceSubmitter';
export const SUBMIT_CHUNK_UPDATE = 'submitChunk';
