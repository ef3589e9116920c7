import { existsSync, mkdtempSync } from 'node:fs';
import { freePort } from '../../client/ports.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { SearchAttributeType } from '@temporalio/common';
import { temporalCli, testServer } from '../../client/provision/temporal-binaries.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';
import { createBatchWorker, workflowBundlePath, workflowsPath } from '../../worker/create-worker.js';
import { WorkerConfigSchema, type WorkerConfig } from '../../worker/config.js';
import { startTestEmulator, TEST_KEY, type EmulatorHarness } from './emulator.js';
import type { EmulatorOptionsInput } from '../../emulator/options.js';

// Worker state changes and retries are logged at INFO; tests only want warnings.
Runtime.install({ logger: new DefaultLogger('WARN') });

/** A real Temporal dev server (CLI `start-dev`) from the provisioned binary, with our search attributes. */
export async function startDevServer(extraArgs: string[] = []): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCli({ install: false }).path },
      searchAttributes: SEARCH_ATTRIBUTES,
      extraArgs,
    },
  });
}

/** A dev server like `startDevServer`, with its web UI on a free port; resolves once the UI answers. */
export async function startDevServerWithUi(
  extraArgs: string[] = [],
): Promise<{ env: TestWorkflowEnvironment; uiUrl: string }> {
  const uiPort = await freePort();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCli({ install: false }).path },
      searchAttributes: SEARCH_ATTRIBUTES,
      ip: '127.0.0.1',
      ui: true,
      uiPort,
      // The UI reads whole histories, which the server logs as a warning.
      log: { format: 'pretty', level: 'error' },
      extraArgs,
    },
  });
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answered = await fetch(`${uiUrl}/api/v1/settings`).then(
      async (r) => (await r.arrayBuffer(), r.ok),
      () => false,
    );
    if (answered) return { env, uiUrl };
    if (Date.now() > deadline) {
      await env.teardown();
      throw new Error(`the Temporal UI did not answer at ${uiUrl} within 30 s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The time-skipping test server, with our search attributes registered through its operator service. */
export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServer({ install: false }).path } },
  });
  const types: Record<string, number> = {
    [SearchAttributeType.KEYWORD]: 2,
    [SearchAttributeType.DOUBLE]: 4,
    [SearchAttributeType.BOOL]: 5,
  };
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k.name, types[k.type]!])),
  });
  return env;
}

let bundled: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle `npm run build` wrote (the test command builds first), else one bundled once per process. */
export async function workflowBundle(): Promise<WorkflowBundleWithSourceMap | { codePath: string }> {
  if (existsSync(workflowBundlePath)) return { codePath: workflowBundlePath };
  bundled ??= bundleWorkflowCode({
    workflowsPath,
    logger: { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never,
  });
  return bundled;
}

export function testWorkerConfig(emulatorUrl: string, overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  const dataDir = overrides.dataDir ?? mkdtempSync(path.join(tmpdir(), 'cb-worker-'));
  return WorkerConfigSchema.parse({
    anthropicApiKey: TEST_KEY,
    anthropicBaseUrl: emulatorUrl,
    taskQueue: `test-${Math.random().toString(36).slice(2, 10)}`,
    dataDir,
    allowedRoots: [tmpdir()],
    webhookAllowlist: [],
    // The emulator's list shows a batch at once unless a test sets its list lag.
    reconcileSettleMs: 500,
    ...overrides,
  });
}

export async function startTestWorker(
  env: TestWorkflowEnvironment,
  config: WorkerConfig,
  interceptors?: Parameters<typeof createBatchWorker>[0]['interceptors'],
) {
  return createBatchWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    config,
    workflowBundle: await workflowBundle(),
    ...(interceptors ? { interceptors } : {}),
  });
}

/** A batch worker polling `config.taskQueue` until `stop()`. */
export async function runTestWorker(
  env: TestWorkflowEnvironment,
  config: WorkerConfig,
  interceptors?: Parameters<typeof createBatchWorker>[0]['interceptors'],
) {
  const worker = await startTestWorker(env, config, interceptors);
  const running = worker.run();
  return {
    worker,
    stop: async () => {
      worker.shutdown();
      await running;
    },
  };
}

/** The environment the real `claude-batch` binary needs to reach `env` and a worker's task queue. */
export function cliEnvFor(env: TestWorkflowEnvironment, taskQueue: string): NodeJS.ProcessEnv {
  return { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', CLAUDE_BATCH_TASK_QUEUE: taskQueue };
}

/** A dev server, an emulator and an in-process worker on it: what most job tests start before their cases. */
export interface JobStack {
  env: TestWorkflowEnvironment;
  em: EmulatorHarness;
  config: WorkerConfig;
  stop(): Promise<void>;
}

export async function startJobStack(
  emulator: Partial<EmulatorOptionsInput> = {},
  worker: (em: EmulatorHarness) => Partial<WorkerConfig> = () => ({}),
): Promise<JobStack> {
  const env = await startDevServer();
  const em = await startTestEmulator(emulator);
  const config = testWorkerConfig(em.url, worker(em));
  const running = await runTestWorker(env, config);
  return {
    env,
    em,
    config,
    async stop() {
      await running.stop();
      await em.close();
      await env.teardown();
    },
  };
}
