import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnsweredIds, ChunkIdsBuilder } from '../../activities/chunk-ids.js';

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
});
