import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnsweredIds, ChunkIdsBuilder, customIdsOf } from '../../activities/chunk-ids.js';
import { customIdOfLine, lineBatches } from '../../activities/line-batches.js';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';

/** Deterministic pseudo-random ids as the API allows them (^[a-zA-Z0-9_-]{1,64}$). */
function randomIds(n: number, seed: number): string[] {
  let x = seed;
  // The high bits: an LCG's low bits repeat within a few dozen steps.
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16;
  const seen = new Set<string>();
  while (seen.size < n) {
    const length = 1 + (next() % 24);
    let id = '';
    for (let i = 0; i < length; i++) id += ALPHABET[next() % ALPHABET.length];
    seen.add(id);
  }
  return [...seen];
}

async function* blocksOf(file: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < file.length; at += size) yield file.subarray(at, at + size);
}

function build(ids: string[], hash?: (id: string) => number) {
  const builder = new ChunkIdsBuilder(hash);
  for (const id of ids) builder.add(id);
  return builder.done();
}

describe('ChunkIds: a chunk’s custom_ids and their places, without an object per id', () => {
  it('finds every id at its place in file order, and nothing else (against a Map)', () => {
    const ids = randomIds(20_000, 1);
    const chunk = build(ids);
    const model = new Map(ids.map((id, i) => [id, i]));
    assert.equal(chunk.size, ids.length);
    for (const [id, place] of model) assert.equal(chunk.indexOf(id), place, id);
    assert.deepEqual(
      Array.from({ length: chunk.size }, (_, place) => chunk.idAt(place)),
      ids,
    );
    // Strangers, and near misses of real ids: one character more, less or changed.
    const strangers = [
      ...randomIds(5_000, 2),
      ...ids.slice(0, 2_000).flatMap((id) => [`${id}x`, id.slice(0, -1), `-${id.slice(1)}`]),
    ];
    for (const id of strangers) assert.equal(chunk.indexOf(id), model.get(id) ?? -1, id);
  });

  it('stays exact when ids share a hash: the hash finds candidates, their bytes decide', () => {
    const ids = randomIds(600, 3);
    const chunk = build(ids, (id) => id.length % 3); // three huge runs of one hash each
    ids.forEach((id, place) => assert.equal(chunk.indexOf(id), place));
    for (const id of randomIds(300, 4)) assert.equal(chunk.indexOf(id), ids.indexOf(id));
    assert.equal(chunk.indexOf(''), -1);
  });

  it('sequential ids (req-000001 …) at the API’s 100,000 per batch', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => `req-${String(i).padStart(6, '0')}`);
    const chunk = build(ids);
    for (let i = 0; i < ids.length; i += 997) assert.equal(chunk.indexOf(ids[i]!), i);
    assert.equal(chunk.indexOf('req-100000'), -1);
    assert.equal(chunk.idAt(99_999), 'req-099999');
  });

  it('refuses a custom_id twice in one chunk file, naming it', () => {
    assert.throws(() => build(['a', 'b', 'c', 'b']), /custom_id b twice/);
    assert.throws(() => build(['x', 'y', 'x'], () => 1), /custom_id x twice/);
  });

  it('AnsweredIds marks answers by place: new, again, stranger; and lists what is missing in file order', () => {
    const chunk = build(['r1', 'r2', 'r3', 'r4']);
    const have = new AnsweredIds(chunk);
    assert.equal(have.mark('r3'), 'new');
    assert.equal(have.mark('r3'), 'again');
    assert.equal(have.mark('r9'), 'stranger');
    have.add('r1');
    assert.throws(() => have.add('r9'), /not a request of this chunk/);
    assert.equal(have.size, 2);
    assert.ok(have.has('r1') && have.has('r3') && !have.has('r2') && !have.has('r9'));
    assert.deepEqual([...have.missing()], ['r2', 'r4']);
  });

  it('reads ids from a chunk file’s bytes as a full parse of each line would, however the file is cut into blocks', async () => {
    const ids = randomIds(3_000, 5);
    // Lines as prepare writes them, and the odd ones a reader must still take: the id not first, an escape in it,
    // a CRLF ending, blank lines, a long line, no newline at the end.
    const lines = ids.map((id, i) => {
      const params = JSON.stringify({
        model: 'm',
        max_tokens: 8,
        messages: [{ role: 'user', content: 'é'.repeat(i % 50) }],
      });
      if (i % 97 === 0) return `{"params":${params},"custom_id":"${id}"}`;
      if (i % 89 === 0) return `{"custom_id":"${id.slice(0, 1)}\\u0041${id.slice(1)}","params":${params}}`;
      if (i % 83 === 0) return `{"custom_id":"${id}","params":${params}}\r`;
      if (i % 1499 === 0) return `\n{"custom_id":"${id}","params":${JSON.stringify({ text: 'x'.repeat(200_000) })}}`;
      return `{"custom_id":"${id}","params":${params}}`;
    });
    const file = Buffer.from(lines.join('\n'));
    const expected: string[] = [];
    for await (const batch of lineBatches(blocksOf(file, file.length)))
      for (const line of batch) expected.push(customIdOfLine(line)!);
    assert.equal(expected.length, ids.length);
    for (const size of [3, 1_000, 120 * 1024, file.length]) {
      const chunk = await customIdsOf(blocksOf(file, size), 'test');
      assert.deepEqual(
        Array.from({ length: chunk.size }, (_, place) => chunk.idAt(place)),
        expected,
        `blocks of ${size} bytes`,
      );
      for (const [place, id] of expected.entries()) assert.equal(chunk.indexOf(id), place);
    }
    await assert.rejects(
      customIdsOf(blocksOf(Buffer.from('{"custom_id":"a","params":{}}\n{"params":{}}\n'), 9), 'c.jsonl'),
      /c.jsonl has a line without a custom_id/,
    );
  });
});
