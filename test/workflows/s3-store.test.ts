import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import type { BlobStore } from '../../storage/blob-store.js';
import { FileStore } from '../../storage/file-store.js';
import { S3Store } from '../../storage/s3-store.js';
import { openStore } from '../../storage/routed-store.js';
import { PartWriter, listParts, partLines } from '../../activities/download-parts.js';
import { workerConfigFromEnv } from '../../worker/config.js';
import { startS3, type S3Harness } from '../helpers/s3.js';

const MiB = 1024 * 1024;

async function text(stream: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

async function sha256(stream: Readable): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { hash: h.digest('hex'), bytes };
}

/** `size` bytes of varied content, produced a MiB at a time (never held whole). */
function* pattern(size: number, seed: string): Generator<Buffer> {
  for (let at = 0, i = 0; at < size; i++) {
    const block = Buffer.alloc(Math.min(MiB, size - at));
    const fill = createHash('sha256').update(`${seed}-${i}`).digest();
    for (let j = 0; j < block.length; j++) block[j] = fill[j % fill.length]! ^ (j & 0xff);
    at += block.length;
    yield block;
  }
}

const refused = (type: string) => (err: unknown) => {
  assert.ok(err instanceof ApplicationFailure, String(err));
  assert.equal(err.type, type, err.message);
  return true;
};

describe('BlobStore contract, on the file system and on a real S3 server (moto)', () => {
  let s3: S3Harness;
  let dir: string;
  const stores: { name: string; store: BlobStore; root: string }[] = [];

  before(async () => {
    s3 = await startS3();
    dir = mkdtempSync(path.join(tmpdir(), 'cb-contract-'));
    stores.push({ name: 'FileStore', store: new FileStore(dir, []), root: pathToFileURL(path.join(dir, 'c')).href });
    stores.push({
      name: 'S3Store',
      // 5 MiB parts (S3's minimum) so that 12 MiB takes three.
      store: new S3Store(s3.client, [`s3://${s3.bucket}/contract`], { partSize: 5 * MiB, queueSize: 2 }),
      root: `s3://${s3.bucket}/contract`,
    });
  });
  after(async () => {
    await s3?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `fn` against each store, in its own folder. */
  const each = (name: string, fn: (store: BlobStore, root: string, kind: string) => Promise<void>): void => {
    it(name, async () => {
      for (const s of stores) {
        const root = s.store.join(s.root, name.replace(/\W+/g, '-').slice(0, 40));
        await fn(s.store, root, s.name).catch((err: Error) => {
          err.message = `${s.name}: ${err.message}`;
          throw err;
        });
      }
    });
  };

  each('a write is invisible until commit, then whole', async (store, root) => {
    const uri = store.join(root, 'out.jsonl');
    const w = await store.write(uri);
    w.stream.write('{"a":1}\n');
    w.stream.write('{"b":2}\n');
    assert.equal(await store.exists(uri), false, 'nothing before commit');
    await assert.rejects(text(store.read(uri)), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
    await w.commit();
    assert.equal(await text(store.read(uri)), '{"a":1}\n{"b":2}\n');
    assert.equal(await store.size(uri), 16);
    const entry = await store.inspect(uri);
    assert.equal(entry?.kind, 'file');
    assert.equal(entry?.size, 16);
  });

  each('ending the stream before commit does not publish it; abort leaves nothing', async (store, root) => {
    const uri = store.join(root, 'aborted.jsonl');
    const w = await store.write(uri);
    w.stream.write('half');
    await new Promise<void>((resolve) => w.stream.end(resolve));
    // Ending is not committing (LineWriter.close() ends the stream before commit() is called).
    assert.equal(await store.exists(uri), false, 'not there after end()');
    await w.abort();
    assert.equal(await store.exists(uri), false, 'not there after abort()');
    assert.deepEqual(
      (await store.list(root)).filter((n) => !n.startsWith('.')),
      [],
      'no object and no visible temp file',
    );
    // The same name can be written afterwards.
    const again = await store.write(uri);
    again.stream.write('whole\n');
    await again.commit();
    assert.equal(await store.readText(uri), 'whole\n');
  });

  each('a failed or destroyed stream fails the commit, and nothing is put in place', async (store, root) => {
    const uri = store.join(root, 'failed.jsonl');
    const w = await store.write(uri);
    w.stream.write('x\n');
    w.stream.destroy(new Error('disk on fire'));
    await assert.rejects(w.commit(), /disk on fire/);
    assert.equal(await store.exists(uri), false);
  });

  each('read from a start offset', async (store, root) => {
    const uri = store.join(root, 'digits.txt');
    await store.writeJson(uri, '0123456789');
    assert.equal(await store.readText(uri), '"0123456789"');
    assert.equal(await text(store.read(uri, { start: 5 })), '456789"');
    assert.equal(await text(store.read(uri, { start: 0 })), '"0123456789"');
  });

  each('createExclusive: true the first time, false after, and the first content stays', async (store, root) => {
    const uri = store.join(root, 'claims', 'msgbatch_1');
    assert.equal(await store.createExclusive(uri, 'first'), true);
    assert.equal(await store.createExclusive(uri, 'second'), false);
    assert.equal(await store.readText(uri), 'first');
    const racers = await Promise.all(
      [1, 2, 3, 4].map((i) => store.createExclusive(store.join(root, 'claims', 'race'), `r${i}`)),
    );
    assert.equal(racers.filter(Boolean).length, 1, 'one of four concurrent creates wins');
  });

  each('list, exists and inspect of files, folders and absent things', async (store, root) => {
    await store.writeJson(store.join(root, 'a.json'), 1);
    await store.writeJson(store.join(root, 'sub', 'b.json'), 2);
    await store.writeJson(store.join(root, 'sub', 'deeper', 'c.json'), 3);
    assert.deepEqual((await store.list(root)).sort(), ['a.json', 'sub']);
    assert.deepEqual((await store.list(store.join(root, 'sub'))).sort(), ['b.json', 'deeper']);
    assert.deepEqual(await store.list(store.join(root, 'nothing')), []);
    assert.equal((await store.inspect(store.join(root, 'sub')))?.kind, 'directory');
    assert.equal(await store.inspect(store.join(root, 'absent.json')), null);
    assert.equal(await store.exists(store.join(root, 'absent.json')), false);
    assert.equal(await store.exists(store.join(root, 'sub', 'b.json')), true);
    assert.deepEqual(await store.readJson(store.join(root, 'sub', 'deeper', 'c.json')), 3);
    await assert.rejects(
      store.readText(store.join(root, 'absent.json')),
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
    );
    // A folder is removed with everything in it; removing what is not there is no error.
    await store.remove(store.join(root, 'sub'));
    assert.deepEqual(await store.list(root), ['a.json']);
    await store.remove(store.join(root, 'sub'));
  });

  each('move: the target has the content, the source is gone', async (store, root) => {
    const from = store.join(root, 'done.json');
    const to = store.join(root, 'aside', 'done.json.superseded-1');
    await store.writeJson(from, { batch: 'msgbatch_x' });
    await store.move(from, to);
    assert.equal(await store.exists(from), false);
    assert.deepEqual(await store.readJson(to), { batch: 'msgbatch_x' });
  });

  each('a 12 MiB write is streamed (several parts in S3) and reads back equal', async (store, root, kind) => {
    const uri = store.join(root, 'big.bin');
    const size = 12 * MiB;
    const w = await store.write(uri);
    await pipeline(Readable.from(pattern(size, 'big')), w.stream);
    await w.commit();
    const expected = await sha256(Readable.from(pattern(size, 'big')));
    assert.deepEqual(await sha256(store.read(uri)), expected);
    const tail = await sha256(store.read(uri, { start: 7 * MiB }));
    assert.equal(tail.bytes, 5 * MiB, 'a ranged read from 7 MiB');
    if (kind === 'S3Store') {
      const head = await s3.client.send(
        new HeadObjectCommand({ Bucket: s3.bucket, Key: uri.slice(`s3://${s3.bucket}/`.length) }),
      );
      assert.match(head.ETag ?? '', /-3"$/, 'a multipart upload of three parts');
      const open = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
      assert.deepEqual(open.Uploads ?? [], [], 'no multipart upload left open');
    }
  });

  each('an aborted multi-part write leaves no object and no open upload', async (store, root, kind) => {
    const uri = store.join(root, 'aborted-big.bin');
    const w = await store.write(uri);
    for (const block of pattern(11 * MiB, 'ab'))
      if (!w.stream.write(block)) await new Promise((r) => w.stream.once('drain', r));
    await w.abort();
    assert.equal(await store.exists(uri), false);
    if (kind === 'S3Store') {
      // The SDK aborts the multipart upload in the background: wait for it.
      for (let i = 0; ; i++) {
        const open = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
        if ((open.Uploads ?? []).length === 0) break;
        if (i > 50) assert.fail('the multipart upload was not aborted');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  each('locations outside the roots are refused', async (store) => {
    const outside = store instanceof S3Store ? `s3://${s3.bucket}/elsewhere/x.json` : path.join(tmpdir(), 'x.json');
    assert.throws(() => store.resolve(outside), refused('StorageAccessDenied'));
    await assert.rejects(store.writeJson(outside, 1), refused('StorageAccessDenied'));
  });

  each('download parts: committed as they fill, read back in order, continued after', async (store, root) => {
    const parts = store.join(root, 'download', 'r0-c0001');
    const first = await PartWriter.after(store, parts, { bytes: 40, ms: 60_000 });
    for (let i = 0; i < 10; i++) await first.line(`{"custom_id":"id-${i}"}`);
    // Parts of ≥ 40 bytes are committed as they fill; the one in progress is not visible yet.
    const committed = (await listParts(store, parts)).length;
    assert.ok(committed >= 4, `${committed} parts committed while writing`);
    await first.commit();
    const next = await PartWriter.after(store, parts, { bytes: 40, ms: 60_000 });
    await next.line('{"custom_id":"id-10"}');
    await next.commit();
    const got: string[] = [];
    for await (const line of partLines(store, parts)) got.push(line);
    assert.deepEqual(
      got,
      Array.from({ length: 11 }, (_, i) => `{"custom_id":"id-${i}"}`),
    );
    const indexes = (await listParts(store, parts)).map((p) => p.index);
    assert.deepEqual(
      indexes,
      indexes.map((_, i) => i + 1),
      'numbered 1, 2, 3, … without gaps',
    );
  });
});

describe('S3Store specifics', () => {
  let s3: S3Harness;
  before(async () => (s3 = await startS3('cb-specifics')));
  after(async () => s3?.stop());

  it('canonical URIs normalise keys; `..` cannot climb out of a root or above the bucket', () => {
    const store = new S3Store(s3.client, [`s3://${s3.bucket}/jobs`]);
    assert.equal(store.canonical(`s3://${s3.bucket}/jobs/a//b/../c.json`), `s3://${s3.bucket}/jobs/a/c.json`);
    assert.equal(store.join(`s3://${s3.bucket}/jobs`, 'x', 'y.json'), `s3://${s3.bucket}/jobs/x/y.json`);
    assert.throws(() => store.resolve(`s3://${s3.bucket}/jobs/../secrets`), refused('StorageAccessDenied'));
    assert.throws(() => store.resolve(`s3://${s3.bucket}/jobs2/x`), refused('StorageAccessDenied'));
    assert.throws(() => store.resolve(`s3://${s3.bucket}/../x`), refused('StorageBadUri'));
  });

  it('unwritable: null in an existing bucket, "no folder" for a missing one', async () => {
    const store = new S3Store(s3.client, [`s3://${s3.bucket}`, 's3://no-such-bucket-here']);
    assert.equal(await store.unwritable(`s3://${s3.bucket}/new/deep/out.jsonl`), null);
    assert.match((await store.unwritable('s3://no-such-bucket-here/out.jsonl')) ?? '', /^no folder of .*no bucket/);
    assert.equal(await store.inspect('s3://no-such-bucket-here/out.jsonl'), null);
    assert.deepEqual(await store.list('s3://no-such-bucket-here/x'), []);
  });

  it('a routed store sends s3:// to the bucket and paths to the disk, each within its own roots', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cb-routed-'));
    try {
      const store = openStore({
        dataDir: path.join(dir, 'data'),
        allowedRoots: [dir, `s3://${s3.bucket}/in`],
        storageRoot: `s3://${s3.bucket}/jobs`,
        s3: () => s3.client,
      });
      await s3.put('in/input.jsonl', 'line\n');
      assert.equal(await store.readText(`s3://${s3.bucket}/in/input.jsonl`), 'line\n');
      await store.writeJson(`s3://${s3.bucket}/jobs/jobs/j1/manifest.json`, { ok: true });
      assert.equal(await s3.get('jobs/jobs/j1/manifest.json'), '{\n  "ok": true\n}');
      await store.writeJson('relative.json', 1);
      assert.equal(await store.readText(path.join(dir, 'data', 'relative.json')), '1');
      assert.throws(() => store.resolve(`s3://${s3.bucket}/other/x`), refused('StorageAccessDenied'));
      await assert.rejects(
        store.move(`s3://${s3.bucket}/in/input.jsonl`, path.join(dir, 'x')),
        refused('StorageUnsupported'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('worker settings: s3:// roots survive the `:` separator, the storage root and the S3 endpoint come from the environment', () => {
    const config = workerConfigFromEnv({
      ANTHROPIC_API_KEY: 'sk-test',
      CLAUDE_BATCH_DATA_DIR: '/var/cb',
      CLAUDE_BATCH_ALLOWED_ROOTS: '/in:s3://bucket-a/jobs:/out:s3://bucket-b',
      CLAUDE_BATCH_STORAGE: 's3://bucket-a/claude-batch',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
    });
    assert.deepEqual(config.allowedRoots, ['/in', 's3://bucket-a/jobs', '/out', 's3://bucket-b']);
    assert.equal(config.storage, 's3://bucket-a/claude-batch');
    assert.deepEqual(config.s3, { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, region: 'us-east-1' });
    const aws = workerConfigFromEnv({
      ANTHROPIC_API_KEY: 'sk-test',
      AWS_REGION: 'eu-west-1',
      CLAUDE_BATCH_STORAGE: 'rel',
    });
    assert.deepEqual(aws.s3, { endpoint: undefined, forcePathStyle: false, region: 'eu-west-1' });
    assert.equal(aws.storage, path.resolve('rel'), 'a local storage root is made absolute');
    const virtualHosted = workerConfigFromEnv({
      ANTHROPIC_API_KEY: 'sk-test',
      AWS_ENDPOINT_URL_S3: 'https://s3.example.test',
      S3_FORCE_PATH_STYLE: 'false',
    });
    assert.equal(virtualHosted.s3?.forcePathStyle, false);
    assert.equal(virtualHosted.s3?.endpoint, 'https://s3.example.test');
  });
});
