import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { startEmulator, type RunningEmulator } from '../emulator/server.js';
import type { EmulatorOptionsInput } from '../emulator/options.js';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes.js';
import { createBatchWorker } from '../worker/create-worker.js';
import type { WorkerConfig } from '../worker/config.js';
import { UserError } from './cli-errors.js';
import { temporalCli } from './provision/temporal-binaries.js';

export interface DevStackOptions {
  dataDir: string;
  temporalPort: number;
  uiPort: number;
  emulatorPort: number;
  /** Virtual seconds per second on the emulator's clock. */
  emulatorTimeScale: number;
  /** More emulator settings (faults, processing model, counts mode), e.g. for the demo. */
  emulatorOptions?: Partial<EmulatorOptionsInput>;
  taskQueue: string;
  log: (line: string) => void;
}

export interface DevStack {
  temporalAddress: string;
  uiUrl: string;
  emulator: RunningEmulator | null;
  anthropicUrl: string;
  client: Client;
  worker: Worker;
  config: WorkerConfig;
  stop(): Promise<void>;
}

/** The local default: Temporal dev server (SQLite + UI), the emulator (unless a real API key is configured), a worker. */
export async function startDevStack(o: DevStackOptions): Promise<DevStack> {
  mkdirSync(o.dataDir, { recursive: true });
  const cli = temporalCli({ log: (s) => o.log(`provisioning: ${s}`) });
  const server = spawn(
    cli.path,
    [
      'server',
      'start-dev',
      '--db-filename',
      path.join(o.dataDir, 'temporal.db'),
      '--ip',
      '127.0.0.1',
      '--port',
      String(o.temporalPort),
      '--ui-port',
      String(o.uiPort),
      '--log-level',
      'error',
      ...SEARCH_ATTRIBUTE_FLAGS.flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let serverErr = '';
  server.stderr!.on('data', (d: Buffer) => (serverErr += d.toString()));
  const temporalAddress = `127.0.0.1:${o.temporalPort}`;
  const stops: (() => Promise<unknown>)[] = [() => stopProcess(server)];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const connection = await waitForTemporal(temporalAddress, server, () => serverErr);
    stops.push(() => connection.close());

    const realKey = process.env.ANTHROPIC_API_KEY && !process.env.ANTHROPIC_BASE_URL;
    let emulator: RunningEmulator | null = null;
    if (!realKey) {
      emulator = await startEmulator({
        ...o.emulatorOptions,
        port: o.emulatorPort,
        dataDir: path.join(o.dataDir, 'emulator'),
        timeScale: o.emulatorTimeScale,
      });
      stops.push(() => emulator!.close());
    }
    const anthropicUrl = emulator?.url ?? process.env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com';
    const config: WorkerConfig = {
      anthropicApiKey: process.env.ANTHROPIC_API_KEY || 'sk-ant-local-emulator',
      ...(emulator
        ? { anthropicBaseUrl: emulator.url }
        : process.env.ANTHROPIC_BASE_URL
          ? { anthropicBaseUrl: process.env.ANTHROPIC_BASE_URL }
          : {}),
      taskQueue: o.taskQueue,
      dataDir: o.dataDir,
      allowedRoots: process.env.CLAUDE_BATCH_ALLOWED_ROOTS?.split(path.delimiter).filter(Boolean) ?? [process.cwd()],
      webhookAllowlist: (process.env.CLAUDE_BATCH_WEBHOOK_ALLOWLIST ?? '').split(',').filter(Boolean),
    };
    const native = await NativeConnection.connect({ address: temporalAddress });
    stops.push(() => native.close());
    const worker = await createBatchWorker({ connection: native, namespace: 'default', config });
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
    });
    return {
      temporalAddress,
      uiUrl: `http://127.0.0.1:${o.uiPort}`,
      emulator,
      anthropicUrl,
      client: new Client({ connection, namespace: 'default' }),
      worker,
      config,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function waitForTemporal(address: string, server: ChildProcess, stderr: () => string): Promise<Connection> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null)
      throw new UserError(
        `the Temporal dev server exited (${server.exitCode}): ${stderr().trim().split('\n').slice(-3).join(' / ')}`,
        'is the port in use? choose others with --temporal-port and --ui-port',
      );
    try {
      const connection = await Connection.connect({ address, connectTimeout: '2s' });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      if (Date.now() > deadline)
        throw new UserError(`the Temporal dev server did not come up at ${address}: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
