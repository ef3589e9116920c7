import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { startEmulator, type RunningEmulator } from '../emulator/server.js';
import type { EmulatorOptionsInput } from '../emulator/options.js';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes.js';
import { createBatchWorker } from '../worker/create-worker.js';
import { WorkerConfigSchema, type WorkerConfig } from '../worker/config.js';
import { UserError } from './cli-errors.js';
import { commandName } from './command-name.js';
import { freePort } from './ports.js';
import { clientCodec } from './connection.js';
import { withCodec } from '../worker/payload-codec.js';
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
  /** The caller's flags for each port (`dev`: --temporal-port…), for a busy port's hint; none: no flag to name. */
  portFlags?: Partial<Record<PortRole, string>>;
}

type PortRole = 'temporal' | 'ui' | 'emulator';
const PORT_ROLES: Record<PortRole, string> = { temporal: 'Temporal gRPC', ui: 'Temporal web UI', emulator: 'emulator' };

function portInUse(o: DevStackOptions, role: PortRole, port: number, detail?: string): UserError {
  const flag = o.portFlags?.[role];
  return new UserError(
    `port ${port} (${PORT_ROLES[role]}) is in use${detail ? `: ${detail}` : ''}`,
    flag
      ? `another process listens on it (another \`${commandName()} dev\`?); choose another port with ${flag}`
      : 'another process listens on it; stop that process, or choose another port',
  );
}

/** Busy ports fail here with the flag to change, rather than as a dev server that exits or a bare EADDRINUSE. */
async function checkPortsFree(o: DevStackOptions, withEmulator: boolean): Promise<void> {
  const ports: [PortRole, number][] = [
    ['temporal', o.temporalPort],
    ['ui', o.uiPort],
    ...(withEmulator ? [['emulator', o.emulatorPort] as [PortRole, number]] : []),
  ];
  for (const [role, port] of ports) if (port !== 0 && (await freePort(port)) !== port) throw portInUse(o, role, port);
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
  const realKey = process.env.ANTHROPIC_API_KEY && !process.env.ANTHROPIC_BASE_URL;
  await checkPortsFree(o, !realKey);
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
    const connection = await waitForTemporal(o, temporalAddress, server, () => serverErr);
    stops.push(() => connection.close());

    let emulator: RunningEmulator | null = null;
    if (!realKey) {
      emulator = await startEmulator({
        ...o.emulatorOptions,
        port: o.emulatorPort,
        dataDir: path.join(o.dataDir, 'emulator'),
        timeScale: o.emulatorTimeScale,
      }).catch((err: unknown) => {
        // Taken since the check above.
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw portInUse(o, 'emulator', o.emulatorPort);
        throw err;
      });
      stops.push(() => emulator!.close());
    }
    const anthropicUrl = emulator?.url ?? process.env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com';
    const config: WorkerConfig = WorkerConfigSchema.parse({
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
      // Our emulator lists a batch as soon as it exists (unless its list-lag fault is set); the real API may lag.
      reconcileSettleMs: emulator ? 2000 : 60_000,
      codecKeys: process.env.CLAUDE_BATCH_CODEC_KEYS || undefined,
    });
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
      client: new Client({ connection, namespace: 'default', ...withCodec(clientCodec()) }),
      worker,
      config,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The dev server's own words for a busy port: "can't set frontend port 7233: … address already in use". */
function exitedOnBusyPort(o: DevStackOptions, stderr: string): UserError | null {
  if (!/address already in use/i.test(stderr)) return null;
  const line = stderr
    .split('\n')
    .find((l) => /address already in use/i.test(l))
    ?.trim();
  if (/frontend port/i.test(stderr)) return portInUse(o, 'temporal', o.temporalPort, line);
  if (/UI port/i.test(stderr)) return portInUse(o, 'ui', o.uiPort, line);
  return null;
}

async function waitForTemporal(
  o: DevStackOptions,
  address: string,
  server: ChildProcess,
  stderr: () => string,
): Promise<Connection> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) {
      const busy = exitedOnBusyPort(o, stderr());
      if (busy) throw busy;
      const flags = [o.portFlags?.temporal, o.portFlags?.ui].filter(Boolean);
      throw new UserError(
        `the Temporal dev server exited (${server.exitCode}): ${stderr().trim().split('\n').slice(-3).join(' / ')}`,
        `its last words are above${flags.length ? `; if a port it needs is taken, choose others with ${flags.join(' and ')}` : ''}`,
      );
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: '2s' });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      if (Date.now() > deadline)
        throw new UserError(
          `the Temporal dev server did not come up at ${address}: ${String(err)}`,
          'it started but did not answer within 60 s; a busy machine can be that slow, so try again',
        );
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
