import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../config/load.js';

export const CLI = path.join(packageRoot, 'dist', 'client', 'cli.js');

export interface Spawned {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout+stderr. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Children still running when this test process exits are killed with it, even when a test failed midway. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Runs the real `claude-batch` binary (in `cwd`, default this process's). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Spawned {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  running.add(child);
  // 'close', not 'exit': only then has all of the child's output been read (under load, 'exit' comes first).
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return {
    child,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) {
            cleanup();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${out}`));
        }, timeoutMs);
        const onExit = () => {
          check();
          cleanup();
          reject(new Error(`process exited before printing ${pattern}; output:\n${out}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('close', onExit);
        };
        listeners.add(check);
        child.once('close', onExit);
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the binary to completion. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string }> {
  const p = spawnCli(args, env);
  const code = await p.exited;
  return { code, output: p.output() };
}

/** Where a `claude-batch worker` process connects and what it may touch. */
export interface WorkerProcessOptions {
  temporalAddress: string;
  taskQueue: string;
  apiKey: string;
  /** The emulator (unset: the SDK's default, for workers that never call the API). */
  anthropicUrl?: string;
  /** Its data dir is `<root>/data`, and `root` its only allowed root. */
  root?: string;
  /** Anything else of its environment, e.g. CLAUDE_BATCH_RECONCILE_SETTLE. */
  env?: NodeJS.ProcessEnv;
}

/** Starts the real `claude-batch worker` and resolves once it polls its task queue. */
export async function spawnWorker(o: WorkerProcessOptions): Promise<Spawned> {
  const w = spawnCli(['worker'], {
    TEMPORAL_ADDRESS: o.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    CLAUDE_BATCH_TASK_QUEUE: o.taskQueue,
    ANTHROPIC_API_KEY: o.apiKey,
    ...(o.anthropicUrl ? { ANTHROPIC_BASE_URL: o.anthropicUrl } : {}),
    ...(o.root ? { CLAUDE_BATCH_DATA_DIR: path.join(o.root, 'data'), CLAUDE_BATCH_ALLOWED_ROOTS: o.root } : {}),
    ...o.env,
  });
  await w.waitFor(/claude-batch worker: task queue/);
  return w;
}
