import { Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { z } from 'zod';
import { UserError } from '../client/cli-errors.js';
import { connectNative, temporalSettings } from '../client/connection.js';
import { workerConfigFromEnv, type WorkerConfig } from './config.js';
import { createBatchWorker } from './create-worker.js';
import { createSearchAttributesCommand, missingSearchAttributes } from './search-attribute-check.js';

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  try {
    return workerConfigFromEnv(env);
  } catch (err) {
    if (err instanceof z.ZodError) {
      const first = err.issues[0];
      throw new UserError(
        first?.message ?? 'invalid worker settings',
        'set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for the emulator) in the worker environment',
      );
    }
    throw err;
  }
}

/** Connects, checks the namespace has the job search attributes, and creates the worker (not yet running). */
export async function prepareWorker(
  config: WorkerConfig,
): Promise<{ worker: Worker; address: string; namespace: string }> {
  const { connection, namespace, address } = await connectNative();
  const { connectionOptions } = temporalSettings();
  const client = await Connection.connect(connectionOptions as Parameters<typeof Connection.connect>[0]);
  try {
    const missing = await missingSearchAttributes(client, namespace);
    if (missing.length > 0)
      throw new UserError(
        `namespace ${namespace} lacks the search attributes ${missing.join(', ')} that batch jobs set`,
        `create them once: ${createSearchAttributesCommand(namespace, missing)}`,
      );
  } finally {
    await client.close();
  }
  return { worker: await createBatchWorker({ connection, namespace, config }), address, namespace };
}
