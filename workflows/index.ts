// Workflow entry points registered on the worker. Only deterministic code is reachable from here.
export { batchJob, type BatchJobInput } from './batch-job.js';
export { batchChunk, type ChunkInput } from './batch-chunk.js';
export { estimateJob, type EstimateJobResult } from './estimate-job.js';
export { checkJobFiles } from './check-job-files.js';
export { workspaceSubmitter } from './workspace-submitter.js';
