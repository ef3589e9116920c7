import { Command } from 'commander';
import { loadWorkerConfig, prepareWorker } from '../../worker/run-worker.js';
import { connectNative } from '../connection.js';

export function workerCommand(): Command {
  return new Command('worker')
    .description(
      'Run a worker for batch jobs. Settings come from the environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (or a Temporal config profile), CLAUDE_BATCH_TASK_QUEUE, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, CLAUDE_BATCH_DATA_DIR, CLAUDE_BATCH_ALLOWED_ROOTS, CLAUDE_BATCH_WEBHOOK_ALLOWLIST',
    )
    .action(async () => {
      const config = loadWorkerConfig();
      const { worker, address, namespace, metrics } = await prepareWorker(config, connectNative);
      console.log(`claude-batch worker: task queue ${config.taskQueue} on ${address} (namespace ${namespace})`);
      console.log(
        `  Anthropic API: ${config.anthropicBaseUrl ?? 'https://api.anthropic.com'}   data dir: ${config.dataDir}`,
      );
      if (metrics) console.log(`  metrics: ${metrics.url}`);
      if (config.codecKeys) console.log('  payloads: encrypted (CLAUDE_BATCH_CODEC_KEYS)');
      try {
        await worker.run();
      } finally {
        await metrics?.close();
      }
    });
}
