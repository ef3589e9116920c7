import { Connection } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { UserError } from '../shared/user-error.js';
import type { TemporalSettings } from './connection-settings.js';
import { workerConfigFromEnv, type WorkerConfig } from './config.js';
import { createBatchWorker } from './create-worker.js';
import { createSearchAttributesCommand, missingSearchAttributes } from './search-attribute-check.js';
import { installRuntimeWithMetrics, type MetricsServer } from './metrics-server.js';

const HINTS: Record<string, string> = {
  codecKeys:
    'CLAUDE_BATCH_CODEC_KEYS is <id>:<base64 of 32 random bytes>, comma-separated, newest first (e.g. k1:$(openssl rand -base64 32))',
  metricsPort: 'CLAUDE_BATCH_METRICS_PORT is a port number (0–65535), e.g. 9464',
  heapSlackMb: 'CLAUDE_BATCH_HEAP_SLACK_MB is a whole number of MB (0 turns the heap guard off), e.g. 16',
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

/** How the worker reaches Temporal: the CLI passes its `connectNative` (settings from `temporalSettingsFromEnv`). */
export type ConnectNative = () => Promise<{
  connection: NativeConnection;
  namespace: string;
  address: string;
  connectionOptions: TemporalSettings['connectionOptions'];
}>;

/** Connects, checks the namespace has the job search attributes, and creates the worker (not yet running). */
export async function prepareWorker(
  config: WorkerConfig,
  connectNative: ConnectNative,
): Promise<{ worker: Worker; address: string; namespace: string; metrics: MetricsServer | null }> {
  const metrics = await startMetrics(config);
  // Only now: the first connection sets the Temporal runtime up, and the metrics must be installed before it.
  const { connection, namespace, address, connectionOptions } = await connectNative();
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
