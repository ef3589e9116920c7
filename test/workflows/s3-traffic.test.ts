import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { registry } from '../../activities/metrics.js';
import { freePort } from '../../client/ports.js';
import { s3Client, s3SettingsFromEnv } from '../../storage/s3-client.js';
import { S3Store } from '../../storage/s3-store.js';
import { startS3, type S3Harness } from '../helpers/s3.js';

const MiB = 1024 * 1024;

interface Traffic {
  requests: Record<string, number>;
  sent: number;
  received: number;
}

/** The counters as the worker's registry exports them (so this also checks they are registered there). */
async function traffic(): Promise<Traffic> {
  const metrics = await registry.getMetricsAsJSON();
  const values = (name: string) => metrics.find((m) => m.name === name)?.values ?? [];
  const requests: Record<string, number> = {};
  for (const v of values('claude_batch_storage_requests_total')) requests[String(v.labels.operation)] = v.value;
  const bytes = (direction: string) =>
    values('claude_batch_storage_bytes_total').find((v) => v.labels.direction === direction)?.value ?? NaN;
  return { requests, sent: bytes('sent'), received: bytes('received') };
}

/** What `fn` added to the counters: only the operations that moved, each by how much. */
async function counted(fn: () => Promise<unknown>): Promise<Traffic> {
  const before = await traffic();
  await fn();
  const after = await traffic();
  const requests: Record<string, number> = {};
  for (const [op, n] of Object.entries(after.requests)) {
    const d = n - (before.requests[op] ?? 0);
    if (d !== 0) requests[op] = d;
  }
  return { requests, sent: after.sent - before.sent, received: after.received - before.received };
}

const drain = async (stream: Readable): Promise<number> => {
  let bytes = 0;
  for await (const chunk of stream) bytes += (chunk as Buffer).length;
  return bytes;
};

describe('S3 traffic counters: requests by operation and bytes, against a real S3 server (moto)', () => {
  let s3: S3Harness;
  let store: S3Store;
  let root: string;

  before(async () => {
    s3 = await startS3('cb-traffic');
    root = `s3://${s3.bucket}/t`;
    // 5 MiB parts (S3's minimum), so that 11 MiB is a multipart upload of three.
    store = new S3Store(s3.client, [root], { partSize: 5 * MiB, queueSize: 2 });
  });
  after(async () => s3?.stop());

  it('a PUT counts its body sent, a GET its body received, a HEAD no body', async () => {
    const value = { hello: 'wörld', n: [1, 2, 3] };
    const body = JSON.stringify(value, null, 2);
    const size = Buffer.byteLength(body);
    assert.notEqual(size, body.length, 'a multi-byte character: bytes, not characters, are counted');

    const put = await counted(() => store.writeJson(`${root}/a.json`, value));
    assert.deepEqual(put.requests, { PutObject: 1 });
    assert.equal(put.sent, size);

    const get = await counted(() => store.readText(`${root}/a.json`));
    assert.deepEqual(get.requests, { GetObject: 1 });
    assert.equal(get.sent, 0);
    assert.equal(get.received, size);

    const head = await counted(() => store.size(`${root}/a.json`));
    assert.deepEqual(head.requests, { HeadObject: 1 });
    assert.equal(head.received, 0, "a HEAD's Content-Length is the object's, not a body");

    const ranged = await counted(async () =>
      assert.equal(await drain(store.read(`${root}/a.json`, { start: 10 })), size - 10),
    );
    assert.deepEqual(ranged.requests, { GetObject: 1 });
    assert.equal(ranged.received, size - 10, 'a ranged GET receives the rest only');
  });

  it('a request S3 refuses counts too (a 404 is billed)', async () => {
    const missing = await counted(() =>
      assert.rejects(store.readText(`${root}/missing.json`), (err: NodeJS.ErrnoException) => err.code === 'ENOENT'),
    );
    assert.deepEqual(missing.requests, { GetObject: 1 });
  });

  it('a streamed write is a multipart upload: create, a part per 5 MiB, complete; its bytes are the parts', async () => {
    const size = 11 * MiB;
    const write = await counted(async () => {
      const w = await store.write(`${root}/big.bin`);
      await pipeline(
        Readable.from(
          (function* () {
            for (let i = 0; i < 11; i++) yield Buffer.alloc(MiB, i);
          })(),
        ),
        w.stream,
      );
      await w.commit();
    });
    assert.deepEqual(write.requests, { CreateMultipartUpload: 1, UploadPart: 3, CompleteMultipartUpload: 1 });
    // The parts, plus the small XML listing them that completes the upload.
    assert.ok(write.sent >= size && write.sent < size + 4096, `sent ${write.sent} bytes for ${size}`);
    assert.ok(write.received > 0 && write.received < 4096, `received ${write.received} (the XML answers)`);
  });

  it('list, move and remove are the requests S3 needs for them', async () => {
    const list = await counted(async () => assert.deepEqual((await store.list(root)).sort(), ['a.json', 'big.bin']));
    assert.deepEqual(list.requests, { ListObjectsV2: 1 });
    assert.ok(list.received > 0);

    const move = await counted(() => store.move(`${root}/a.json`, `${root}/b.json`));
    assert.deepEqual(move.requests, { HeadObject: 1, CopyObject: 1, DeleteObject: 1 });
    assert.equal(move.sent, 0, 'a server-side copy sends no data');

    const remove = await counted(() => store.remove(root));
    // The folder's key as an object (none here, but S3 cannot tell without asking), then one listing page and one
    // batch delete of what it lists.
    assert.deepEqual(remove.requests, { DeleteObject: 1, ListObjectsV2: 1, DeleteObjects: 1 });
    assert.deepEqual(await store.list(root), []);
  });

  it('each attempt of a retried request counts: three for a server that is not there', async () => {
    const port = await freePort(); // nothing listens on it
    const client = s3Client(s3SettingsFromEnv({ ...s3.env, S3_ENDPOINT: `http://127.0.0.1:${port}` }), {
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    try {
      const refused = await counted(() => assert.rejects(client.send(new HeadBucketCommand({ Bucket: 'x' }))));
      assert.deepEqual(refused.requests, { HeadBucket: 3 }, 'maxAttempts is 3');
      assert.equal(refused.received, 0);
    } finally {
      client.destroy();
    }
  });

  it('exports the series under their names, labelled by operation and direction', async () => {
    const text = await registry.metrics();
    assert.match(text, /^claude_batch_storage_requests_total\{operation="PutObject"\} [1-9]/m);
    assert.match(text, /^claude_batch_storage_bytes_total\{direction="sent"\} [1-9]/m);
    assert.match(text, /^claude_batch_storage_bytes_total\{direction="received"\} [1-9]/m);
  });
});
