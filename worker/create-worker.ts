import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { loadModelCatalog, loadPriceTable } from '../config/load.js';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { openStore } from '../storage/routed-store.js';
import { s3Client, s3SettingsFromEnv } from '../storage/s3-client.js';
import { ModelDirectory } from '../activities/model-directory.js';
import { workspaceFingerprint } from '../activities/workspace-fingerprint.js';
import type { WorkerConfig } from './config.js';
import { EncryptionCodec, parseCodecKeys, withCodec } from './payload-codec.js';
import { ensureHeapGuard } from './heap-guard.js';

// For users embedding the worker (`import { createBatchWorker, workerConfigFromEnv } from 'claude-batch/worker'`).
export { workerConfigFromEnv, WorkerConfigSchema, type WorkerConfig } from './config.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
const packageJsonPath = fileURLToPath(new URL('../../package.json', import.meta.url));
/** Written by `npm run build` (scripts/bundle-workflows.ts). */
export const workflowBundlePath = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));

export interface BatchWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  config: WorkerConfig;
  /** Pre-bundled workflow code (tests bundle once); default: bundle from `workflowsPath`. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  interceptors?: WorkerOptions['interceptors'];
}

/** What the activities get from the worker's settings: storage, the Anthropic client (holding the key), config. */
export function activityDeps(config: WorkerConfig): ActivityDeps {
  const anthropic = new Anthropic({
    apiKey: config.anthropicApiKey,
    ...(config.anthropicBaseUrl ? { baseURL: config.anthropicBaseUrl } : {}),
    maxRetries: 2,
  });
  const storageRoot = config.storage ?? config.dataDir;
  const s3 = () => s3Client(config.s3 ?? s3SettingsFromEnv());
  return {
    store: openStore({ dataDir: config.dataDir, allowedRoots: config.allowedRoots, storageRoot, s3 }),
    anthropic,
    prices: loadPriceTable(config.pricesFile),
    models: loadModelCatalog(),
    modelDirectory: new ModelDirectory(anthropic),
    dataDir: config.dataDir,
    storageRoot,
    webhookAllowlist: config.webhookAllowlist,
    reconcileSettleMs: config.reconcileSettleMs,
    earlyCreateHoldMs: config.earlyCreateHoldMs,
    pricesMaxAgeMs: config.pricesMaxAgeMs,
    workspaceFingerprint: workspaceFingerprint(anthropic.baseURL, config.anthropicApiKey, config.workspace),
  };
}

/** A worker for batch jobs: workflows plus activities bound to storage and an Anthropic client built from the config. */
export async function createBatchWorker(options: BatchWorkerOptions): Promise<Worker> {
  const { config } = options;
  // Wherever a worker runs (the worker command, the dev stack, an embedding app), its garbage is bounded alike.
  ensureHeapGuard(config.heapSlackMb);
  const activities = createActivities(activityDeps(config));
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: config.taskQueue,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : existsSync(workflowBundlePath)
        ? { workflowBundle: { codePath: workflowBundlePath } }
        : { workflowsPath }),
    activities,
    // Let short activities finish on shutdown; long ones heartbeat and resume on another worker.
    shutdownGraceTime: '10s',
    // A job's next workflow task waits this long for the worker that ran its last one before any worker takes
    // it: after a worker dies, every job it held stalls that long (the SDK's default is 10 s).
    stickyQueueScheduleToStartTimeout: '3s',
    ...(options.interceptors ? { interceptors: options.interceptors } : {}),
    // Codecs run outside the workflow sandbox, on every payload the worker sends or receives: the bundle is as is.
    ...withCodec(config.codecKeys ? new EncryptionCodec(parseCodecKeys(config.codecKeys)) : undefined),
    // Jobs live for days: pinned to one build they would strand when its workers go. They move to the current
    // version at their next workflow task instead (AUTO_UPGRADE), and patched() keeps each change replayable.
    ...(config.deployment
      ? {
          workerDeploymentOptions: {
            version: { deploymentName: config.deployment.name, buildId: config.deployment.buildId ?? defaultBuildId() },
            useWorkerVersioning: true,
            defaultVersioningBehavior: 'AUTO_UPGRADE' as const,
          },
        }
      : {}),
  });
}

/** The package version and a digest of the workflow bundle: a new build id exactly when workflow code changes. */
export function defaultBuildId(): string {
  const version = (JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { version: string }).version;
  const code = existsSync(workflowBundlePath) ? readFileSync(workflowBundlePath) : Buffer.from('unbundled');
  return `${version}-${createHash('sha256').update(code).digest('hex').slice(0, 12)}`;
}
