import { Command } from 'commander';
import { loadWorkerConfig, prepareWorker } from '../../worker/run-worker.js';
import { connectNative } from '../connection.js';

export function workerCommand(): Command {
  return new Command('worker')
    .description(
      "Run a worker for batch jobs. Settings come from the environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (or a Temporal config profile), CLAUDE_BATCH_TASK_QUEUE, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, CLAUDE_BATCH_DATA_DIR, CLAUDE_BATCH_STORAGE, CLAUDE_BATCH_ALLOWED_ROOTS, CLAUDE_BATCH_WEBHOOK_ALLOWLIST; for s3:// storage the AWS SDK's settings (AWS_REGION, credentials) and S3_ENDPOINT, S3_FORCE_PATH_STYLE",
    )
    .action(async () => {
      const config = loadWorkerConfig();
      const { worker, address, namespace, metrics } = await prepareWorker(config, connectNative);
      // Starting the workflow thread reset V8's flags (client/worker-flags.ts set them first): the workflow thread
      // keeps its small young generation, and this thread's may grow again, as prepare's parsing needs it to.
      console.log(`claude-batch worker: task queue ${config.taskQueue} on ${address} (namespace ${namespace})`);
      console.log(
        `  Anthropic API: ${config.anthropicBaseUrl ?? 'https://api.anthropic.com'}   data dir: ${config.dataDir}`,
      );
      // Credentials are never printed: the SDK's chain holds them, and an endpoint is shown without any user:password.
      if (config.storage && config.storage !== config.dataDir)
        console.log(
          `  job storage: ${config.storage}${config.s3?.endpoint ? ` (S3 at ${hostOf(config.s3.endpoint)})` : ''}`,
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

function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return 'a custom endpoint';
  }
}
