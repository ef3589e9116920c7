import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { withCoalescedWrites } from '../../activities/coalesced-writes.js';
import { writeLine } from '../../activities/jsonl.js';
import type { AtomicWrite, BlobStore } from '../../storage/blob-store.js';
import { FileStore } from '../../storage/file-store.js';

/** The chunk files' writes in blocks (activities/coalesced-writes): the same bytes, the same failures. */
describe('coalesced writes', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'cb-coalesce-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const store = new FileStore(root, []);

  it('the file holds every line, in order, once committed; nothing before', async () => {
    const uri = path.join(root, 'out.jsonl');
    const lines = Array.from({ length: 20_000 }, (_, i) => `{"i":${i},"text":"${'é€😀'.repeat(i % 50)}"}`);
    const file = await withCoalescedWrites(store).write(uri);
    for (const line of lines) await writeLine(file.stream, line);
    assert.equal(existsSync(uri), false, 'not visible before the commit');
    await file.commit();
    assert.equal(readFileSync(uri, 'utf8'), lines.join('\n') + '\n');
  });

  it('an aborted write leaves no file', async () => {
    const uri = path.join(root, 'aborted.jsonl');
    const file = await withCoalescedWrites(store).write(uri);
    for (let i = 0; i < 5000; i++) await writeLine(file.stream, `line ${i}`);
    await file.abort();
    assert.equal(existsSync(uri), false);
  });

  it("the file's own error fails the write that waits and the commit, and the file is aborted", async () => {
    const failing = failingStore(100_000);
    const file = await withCoalescedWrites(failing.store).write('x');
    await assert.rejects(async () => {
      for (let i = 0; i < 100_000; i++) await writeLine(file.stream, 'y'.repeat(100));
    }, /ENOSPC/);
    await assert.rejects(file.commit(), /ENOSPC/);
    assert.equal(failing.aborted(), true);
    assert.equal(failing.committed(), false);
  });

  it('a failure at the last block fails the commit with it', async () => {
    const failing = failingStore(100_000);
    const file = await withCoalescedWrites(failing.store).write('x');
    for (let i = 0; i < 999; i++) await writeLine(file.stream, 'y'.repeat(100));
    await assert.rejects(file.commit(), /ENOSPC/);
    assert.equal(failing.committed(), false);
  });
});

/** A store whose file fails (a full disk) once it has taken `limit` bytes, and slowly drains before. */
function failingStore(limit: number) {
  let aborted = false;
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
      committed = true;
    },
    abort: async () => {
      aborted = true;
      stream.destroy();
    },
  };
  const store = { write: async () => write } as unknown as BlobStore;
  return { store, aborted: () => aborted, committed: () => committed };
}
