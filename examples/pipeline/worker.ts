/**
 * The pipeline's worker: its own task queue, its own workflows (only ./workflows.ts is bundled) and activities.
 * It runs no claude-batch code: the batch job it starts runs on a claude-batch worker (`claude-batch worker`).
 *
 *   node dist/examples/pipeline/worker.js     # TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / a Temporal config profile
 */
import { pathToFileURL, fileURLToPath } from 'node:url';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import * as activities from './activities.js';

export const PIPELINE_TASK_QUEUE = 'ticket-pipeline';
export const pipelineWorkflowsPath = fileURLToPath(new URL('./workflows.js', import.meta.url));

export interface PipelineWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** Pre-bundled workflow code; default: bundled from `pipelineWorkflowsPath` at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export async function createPipelineWorker(options: PipelineWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? PIPELINE_TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: pipelineWorkflowsPath }),
    activities,
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { connectionOptions, namespace } = loadClientConnectConfig();
  const connection = await NativeConnection.connect({
    ...connectionOptions,
    address: connectionOptions.address ?? 'localhost:7233',
  });
  const taskQueue = process.env.PIPELINE_TASK_QUEUE ?? PIPELINE_TASK_QUEUE;
  const worker = await createPipelineWorker({ connection, namespace: namespace ?? 'default', taskQueue });
  console.log(`ticket pipeline worker on task queue ${taskQueue}`);
  await worker.run();
  await connection.close();
}
