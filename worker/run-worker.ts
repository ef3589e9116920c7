import { Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { z } from 'zod';
import { UserError } from '../client/cli-errors.js';
import { connectNative, temporalSettings } from '../client/connection.js';
import { workerConfigFromEnv, type WorkerConfig } from './config.js';
import { createBatchWorker } from './create-worker.js';
import { createSearchAttributesCommand, missingSearchAttributes } from './search-attribute-check.js';
import { installRuntimeWithMetrics, type MetricsServer } from './metrics-server.js';

const HINTS: Record<string, string> = {
  codecKeys:
    'CLAUDE_BATCH_CODEC_KEYS is <id>:<base64 of 32 random bytes>, comma-separated, newest first (e.g. k1:$(openssl rand -base64 32))',
  metricsPort: 'CLAUDE_BATCH_METRICS_PORT is a port number (0–65535), e.g. 9464',
};

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  try {
    return workerConfigFromEnv(env);
  } catch (err) {
    if (err instanceof z.ZodError) {
      const first = err.issues[0];
      throw new UserError(
        first?.message ?? 'invalid worker settings',
        HINTS[String(first?.path[0])] ??
          'set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for the emulator) in the worker environment',
      );
    }
    throw err;
  }
}

/** The metrics endpoint, when configured; before the first connection, which would set the runtime up without it. */
async function startMetrics(config: WorkerConfig): Promise<MetricsServer | null> {
  if (config.metricsPort === undefined) return null;
  try {
    return await installRuntimeWithMetrics(config.metricsPort);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new UserError(
        `port ${config.metricsPort} (CLAUDE_BATCH_METRICS_PORT) is in use`,
        'give each worker on this host its own CLAUDE_BATCH_METRICS_PORT',
      );
    throw err;
  }
}

/** Connects, checks the namespace has the job search attributes, and creates the worker (not yet running). */
export async function prepareWorker(
  config: WorkerConfig,
): Promise<{ worker: Worker; address: string; namespace: string; metrics: MetricsServer | null }> {
  const metrics = await startMetrics(config);
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
  return { worker: await createBatchWorker({ connection, namespace, config }), address, namespace, metrics };
}
