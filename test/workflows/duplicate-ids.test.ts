import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BloomFilter,
  bloomFalsePositiveRate,
  bloomSize,
  hash32,
  partitionOf,
  partitionsFor,
  repeatsAmong,
  type IdRecord,
} from '../../shared/duplicate-ids.js';
import { mergeSorted } from '../../shared/sorted-merge.js';

async function* from<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('duplicate ids: hashing and filter sizing', () => {
  it('hash32 is a deterministic unsigned 32-bit hash that depends on the seed and every character', () => {
    assert.equal(hash32('req-1', 1), hash32('req-1', 1));
    assert.notEqual(hash32('req-1', 1), hash32('req-1', 2));
    assert.notEqual(hash32('req-1', 1), hash32('req-2', 1));
    assert.notEqual(hash32('ab', 1), hash32('ba', 1));
    assert.notEqual(hash32('', 1), hash32('\0', 1));
    for (const s of ['', 'a', 'r-999999', 'x'.repeat(64)]) {
      const h = hash32(s, 7);
      assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32, `${s}: ${h}`);
    }
  });

  it('hash32 spreads sequential ids evenly over buckets', () => {
    const buckets = new Array<number>(64).fill(0);
    const n = 64_000;
    for (let i = 0; i < n; i++) buckets[hash32(`req-${i}`, 3) % 64]!++;
    for (const b of buckets) assert.ok(Math.abs(b - n / 64) < (n / 64) * 0.1, `bucket of ${b}`);
  });

  it('bloomSize: 10 million ids at 1% is ~12 MB and 7 hashes; smaller rates cost more bits', () => {
    const size = bloomSize(10_000_000, 0.01);
    assert.equal(size.hashes, 7);
    assert.ok(Math.abs(size.bits / 8 / 1e6 - 11.98) < 0.01, `${size.bits / 8} bytes`);
    assert.ok(bloomSize(1000, 0.001).bits > bloomSize(1000, 0.01).bits);
    assert.equal(bloomSize(1, 0.5).hashes, 1);
    assert.throws(() => bloomSize(0, 0.01), RangeError);
    assert.throws(() => bloomSize(10, 1), RangeError);
    assert.ok(Math.abs(bloomFalsePositiveRate(size.bits, size.hashes, 10_000_000) - 0.01) < 0.0005);
  });

  it('a Bloom filter never forgets an id, and its false positives stay near the rate it was sized for', () => {
    const { bits, hashes } = bloomSize(20_000, 0.01);
    const filter = new BloomFilter(bits, hashes);
    assert.equal(filter.bytes, Math.ceil(bits / 32) * 4);
    for (let i = 0; i < 20_000; i++) filter.add(`in-${i}`);
    for (let i = 0; i < 20_000; i++) assert.equal(filter.has(`in-${i}`), true, `in-${i} forgotten`);
    assert.equal(filter.add('in-5'), true, 'added before');
    let falsePositives = 0;
    for (let i = 0; i < 100_000; i++) if (filter.has(`out-${i}`)) falsePositives++;
    assert.ok(falsePositives / 100_000 < 0.02, `${falsePositives} false positives in 100,000`);
    assert.ok(falsePositives > 0, 'a filter at capacity has some');
  });

  it('a tiny filter says "maybe" to almost everything, and add() reports it', () => {
    const filter = new BloomFilter(8, 1);
    let maybes = 0;
    for (let i = 0; i < 100; i++) if (filter.add(`id-${i}`)) maybes++;
    assert.ok(maybes >= 90, `${maybes}`);
    assert.throws(() => new BloomFilter(0, 1), RangeError);
    assert.throws(() => new BloomFilter(8, 0), RangeError);
    assert.throws(() => new BloomFilter(8.5, 1), RangeError);
  });

  it('partitions: every id in exactly one of them, about evenly; enough of them for the candidates', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[partitionOf(`c-${i}`, 4)]!++;
    for (const c of counts) assert.ok(c > 850 && c < 1150, `${c}`);
    assert.equal(partitionOf('anything', 1), 0);
    assert.equal(partitionsFor(0, 100), 1);
    assert.equal(partitionsFor(100, 100), 1);
    assert.equal(partitionsFor(101, 100), 2);
    assert.equal(partitionsFor(5, 0), 5);
  });
});

describe('duplicate ids: confirming candidates exactly', () => {
  const records = (...ids: string[]): IdRecord[] => ids.map((id, i) => ({ line: i + 1, id }));

  it('every occurrence after the first of a candidate, in order; non-candidates and first ones are not', async () => {
    const input = records('a', 'b', 'a', 'c', 'b', 'a', 'd');
    const found = await all(repeatsAmong(from(input), new Set(['a', 'b', 'd', 'zz'])));
    assert.deepEqual(found, [
      { line: 3, id: 'a' },
      { line: 5, id: 'b' },
      { line: 6, id: 'a' },
    ]);
  });

  it('a candidate that is only a false positive of the filter is not a repeat', async () => {
    assert.deepEqual(await all(repeatsAmong(from(records('x', 'y')), new Set(['x', 'y']))), []);
  });

  it('records known to come first (line 0) count as first occurrences', async () => {
    const input = [{ line: 0, id: 'a' }, { line: 0, id: 'b' }, ...records('c', 'a')];
    assert.deepEqual(await all(repeatsAmong(from(input), new Set(['a']))), [{ line: 2, id: 'a' }]);
  });
});

describe('mergeSorted: k-way merge of sorted runs', () => {
  it('merges runs into one sorted stream', async () => {
    const runs = [[1, 4, 9], [2, 3, 10, 11], [], [5, 6, 7, 8]];
    assert.deepEqual(await all(mergeSorted(runs.map(from), (n) => n)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('is stable: equal keys come out in source order, and in order within a source', async () => {
    const a = [
      { k: 1, s: 'a1' },
      { k: 2, s: 'a2' },
      { k: 2, s: 'a3' },
    ];
    const b = [
      { k: 1, s: 'b1' },
      { k: 2, s: 'b2' },
    ];
    const out = await all(mergeSorted([from(a), from(b)], (x) => x.k));
    assert.deepEqual(
      out.map((x) => x.s),
      ['a1', 'b1', 'a2', 'a3', 'b2'],
    );
  });

  it('many runs (a heap, not a scan): the same as sorting everything', async () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const runs = Array.from({ length: 37 }, () =>
      Array.from({ length: Math.floor(random() * 50) }, () => Math.floor(random() * 1000)).sort((x, y) => x - y),
    );
    const merged = await all(mergeSorted(runs.map(from), (n) => n));
    assert.deepEqual(
      merged,
      runs.flat().sort((x, y) => x - y),
    );
  });

  it('no sources, or only empty ones: nothing', async () => {
    assert.deepEqual(await all(mergeSorted([], (n: number) => n)), []);
    assert.deepEqual(await all(mergeSorted([from<number>([]), from<number>([])], (n) => n)), []);
  });

  it('a source out of order is an error, not a silently wrong merge', async () => {
    await assert.rejects(all(mergeSorted([from([1, 3, 2]), from([5])], (n) => n)), /not sorted/);
  });

  it('stopping early closes every source', async () => {
    const closed: number[] = [];
    const source = (n: number) =>
      (async function* () {
        try {
          for (let i = 0; i < 10; i++) yield i * 10 + n;
        } finally {
          closed.push(n);
        }
      })();
    for await (const x of mergeSorted([source(1), source(2), source(3)], (v) => v)) if (x > 20) break;
    assert.deepEqual(closed.sort(), [1, 2, 3]);
  });
});
