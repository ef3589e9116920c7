import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileStore } from '../../storage/file-store.js';

describe('FileStore writes', () => {
  it('a write removes what a dead attempt left beside its target, and leaves no temp file of its own', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cb-store-'));
    const store = new FileStore(dir, []);
    writeFileSync(path.join(dir, '.results.jsonl.partial-123-456'), 'half a file');
    writeFileSync(path.join(dir, 'other.jsonl'), 'not ours to touch');
    const w = await store.write(path.join(dir, 'results.jsonl'));
    w.stream.write('a\n');
    await w.commit();
    assert.deepEqual(readdirSync(dir).sort(), ['other.jsonl', 'results.jsonl']);
    assert.equal(readFileSync(path.join(dir, 'results.jsonl'), 'utf8'), 'a\n');
  });

  it('a failed stream rejects the commit instead of crashing the process, and nothing is moved into place', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cb-store-'));
    const store = new FileStore(dir, []);
    const w = await store.write(path.join(dir, 'out.jsonl'));
    w.stream.destroy(new Error('disk on fire'));
    await assert.rejects(w.commit(), /disk on fire/);
    assert.deepEqual(readdirSync(dir), []);
  });
});
