import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ChunkWriter, type ChunkCopy } from '../../activities/chunk-writer.js';
import type { AtomicWrite, BlobStore } from '../../storage/blob-store.js';
import { FileStore } from '../../storage/file-store.js';

/** Chunk files written in blocks (activities/chunk-writer): the same bytes, digests and copies, the same failures. */
describe('chunk writer', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'cb-chunks-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const store = new FileStore(root, []);
  const local = (uri: string) => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);

  /** Adds each line as prepare does: awaiting only what add returns. */
  async function addAll(writer: ChunkWriter, lines: readonly string[]): Promise<void> {
    for (const line of lines) {
      const waiting = writer.add(line);
      if (waiting) await waiting;
    }
  }

  it('every line in order, split by the limits, each file with its digest and figures, the copies byte for byte', async () => {
    // Multi-byte characters, and lines longer than a block (120 KB) among short ones.
    const lines = Array.from({ length: 6_000 }, (_, i) =>
      i % 1_500 === 7 ? `{"i":${i},"big":"${'x'.repeat(400_000)}"}` : `{"i":${i},"text":"${'é€😀'.repeat(i % 50)}"}`,
    );
    const copied = new Map<number, { bytes: Buffer[]; end?: { requests: number; bytes: number; digest: string } }>();
    const copyOf = (index: number): ChunkCopy | null =>
      index > 1
        ? null
        : {
            add: async (bytes) => void copied.get(index)!.bytes.push(Buffer.from(bytes)),
            finish: async (end) => void (copied.get(index)!.end = end),
            abort: async () => {},
          };
    const writer = new ChunkWriter(
      store,
      path.join(root, 'job'),
      0,
      { maxRequests: 2_500, maxBytes: 5_000_000 },
      (i) => {
        copied.set(i, { bytes: [] });
        return copyOf(i);
      },
    );
    await addAll(writer, lines);
    const chunks = await writer.finish();
    const texts = chunks.map((c) => readFileSync(local(c.uri)));
    assert.equal(Buffer.concat(texts).toString('utf8'), lines.join('\n') + '\n');
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    chunks.forEach((c, i) => {
      const text = texts[i]!;
      assert.equal(c.index, i);
      assert.equal(c.bytes, text.length, `${c.id}: bytes`);
      assert.equal(c.requests, text.toString('utf8').split('\n').length - 1, `${c.id}: requests`);
      assert.ok(c.requests <= 2_500 && c.bytes <= 5_000_000, `${c.id} within the limits`);
      assert.equal(c.digest, createHash('sha256').update(text).digest('hex'), `${c.id}: digest`);
    });
    for (const i of [0, 1]) {
      const copy = copied.get(i)!;
      assert.deepEqual(Buffer.concat(copy.bytes), texts[i], `chunk ${i}: the copy is the file`);
      const { requests, bytes, digest } = copy.end!;
      assert.deepEqual(
        { requests, bytes, digest },
        {
          requests: chunks[i]!.requests,
          bytes: chunks[i]!.bytes,
          digest: chunks[i]!.digest,
        },
      );
    }
    assert.equal(copied.get(2)!.bytes.length, 0, 'no copy asked for the third');
  });

  it('an aborted writer leaves no file and aborts its copies', async () => {
    let aborted = 0;
    const copy: ChunkCopy = { add: async () => {}, finish: async () => {}, abort: async () => void aborted++ };
    const writer = new ChunkWriter(
      store,
      path.join(root, 'aborted'),
      0,
      { maxRequests: 1_000, maxBytes: 1e9 },
      () => copy,
    );
    await addAll(
      writer,
      Array.from({ length: 2_500 }, (_, i) => `line ${i}`),
    );
    await writer.abort();
    for (const id of ['r0-c0001', 'r0-c0002', 'r0-c0003'])
      assert.equal(existsSync(path.join(root, 'aborted', 'rounds', '0', 'chunks', `${id}.jsonl`)), false, id);
    assert.equal(aborted, 3, 'each copy made');
  });

  it("the file's own error fails the add that waits on it and the finish, and nothing is committed", async () => {
    const failing = failingStore(100_000);
    const writer = new ChunkWriter(failing.store, 'job', 0, { maxRequests: 100_000, maxBytes: 1e9 });
    await assert.rejects(
      addAll(
        writer,
        Array.from({ length: 100_000 }, () => 'y'.repeat(100)),
      ),
      /ENOSPC/,
    );
    await assert.rejects(writer.finish(), /ENOSPC/);
    assert.equal(failing.committed(), false);
  });

  it('a failure at the last block fails the finish with it', async () => {
    const failing = failingStore(100_000);
    const writer = new ChunkWriter(failing.store, 'job', 0, { maxRequests: 100_000, maxBytes: 1e9 });
    await addAll(
      writer,
      Array.from({ length: 999 }, () => 'y'.repeat(100)),
    );
    await assert.rejects(writer.finish(), /ENOSPC/);
    assert.equal(failing.committed(), false);
  });
});

/** A store whose file fails (a full disk) once it has taken `limit` bytes, and slowly drains before. */
function failingStore(limit: number) {
  let committed = false;
  let taken = 0;
  const stream = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      taken += chunk.length;
      setImmediate(() =>
        done(taken > limit ? Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' }) : null),
      );
    },
  });
  let failure: Error | null = null;
  stream.on('error', (err) => (failure ??= err));
  const write: AtomicWrite = {
    stream,
    commit: async () => {
      if (failure) throw failure;
      await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
      if (failure) throw failure;
      committed = true;
    },
    abort: async () => void stream.destroy(),
  };
  const store = { write: async () => write, join: (...parts: string[]) => parts.join('/') } as unknown as BlobStore;
  return { store, committed: () => committed };
}
