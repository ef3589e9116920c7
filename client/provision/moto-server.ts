import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../ports.js';
import { cacheDir } from './temporal-binaries.js';

/**
 * moto's S3 server from the provisioned venv (`npm run provision` installs moto[server]): a real S3 API on a
 * loopback port, for the tests (test/helpers/s3.ts) and the job benchmark on S3 (scripts/bench-job.ts). Data is
 * held in its memory; nothing is written to disk.
 */
export interface MotoServer {
  endpoint: string;
  child: ChildProcess;
  /** What a process needs to reach the server: endpoint, region, and moto's dummy credentials. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startMotoServer(): Promise<MotoServer> {
  const bin = path.join(cacheDir(), 'py', 'bin', 'moto_server');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run provision\` (installs moto[server])`);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode}):\n${log}`);
    const up = await fetch(`${endpoint}/moto-api/`).then(
      async (r) => (await r.arrayBuffer(), true),
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer at ${endpoint} within 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    child,
    env: {
      S3_ENDPOINT: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      running.delete(child);
    },
  };
}
