import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../../client/ports.js';
import { cacheDir } from '../../client/provision/temporal-binaries.js';
import { s3Client, s3SettingsFromEnv } from '../../storage/s3-client.js';

/** A real S3-compatible server for tests: moto's server mode from the provisioned venv (`npm run provision`). */
export interface S3Harness {
  endpoint: string;
  bucket: string;
  /** What a process needs to reach the server: endpoint, region, and moto's dummy credentials. */
  env: NodeJS.ProcessEnv;
  /** A client of this server with those settings (the SDK's own, nothing mocked). */
  client: S3Client;
  put(key: string, body: string | Buffer): Promise<void>;
  get(key: string): Promise<string>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startS3(bucket = 'cb-test'): Promise<S3Harness> {
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

  const env: NodeJS.ProcessEnv = {
    S3_ENDPOINT: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
  // Explicit credentials: this test process's own environment stays as it is.
  const client = s3Client(s3SettingsFromEnv(env), {
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    env,
    client,
    async put(key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async get(key) {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await res.Body?.transformToString('utf8')) ?? '';
    },
    async stop() {
      client.destroy();
      child.kill('SIGTERM');
      await exited;
      running.delete(child);
    },
  };
}
