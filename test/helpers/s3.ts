import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startMotoServer } from '../../client/provision/moto-server.js';
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

export async function startS3(bucket = 'cb-test'): Promise<S3Harness> {
  const moto = await startMotoServer();
  const { endpoint, env } = moto;
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
      await moto.stop();
    },
  };
}
