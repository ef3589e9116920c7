import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { startHeapGuard } from '../../worker/heap-guard.js';
import { until } from '../helpers/wait.js';

describe('heap guard: garbage does not pile up in a worker with a big heap limit', () => {
  it('runs a full collection once the heap has grown by the slack, and keeps what is still held', async () => {
    const guard = startHeapGuard(8, { everyMs: 20 });
    try {
      const kept = Array.from({ length: 20_000 }, (_, i) => ({ i, text: `kept-${i}` }));
      const before = getHeapStatistics().used_heap_size;
      // ~60 MB that is held across a few of the guard's checks, then let go.
      let garbage: unknown[] | null = Array.from({ length: 600_000 }, (_, i) => ({ i, text: `garbage-${i}` }));
      assert.ok(getHeapStatistics().used_heap_size - before > 20 * 1024 * 1024, 'the garbage took room');
      await until(() => guard.collections >= 1, 'a collection by the guard', 5000);
      garbage = null;
      // Work goes on (as in a pass over a file: blocks that live a little — long enough to leave the young
      // generation — then die): the next growth past the slack collects what was let go.
      const collected = guard.collections;
      const recent: unknown[][] = [];
      await until(
        () => {
          recent.push(Array.from({ length: 50_000 }, (_, i) => ({ i, text: `block-${i}` })));
          if (recent.length > 6) recent.shift();
          return guard.collections > collected && getHeapStatistics().used_heap_size < before + 24 * 1024 * 1024;
        },
        'the heap back to what is held',
        10_000,
      );
      assert.equal(garbage, null);
      assert.equal(kept[19_999]!.text, 'kept-19999', 'what is held stays');
    } finally {
      guard.stop();
    }
  });

  it('does not count the young generation: short-lived garbage, however much, never makes it collect', async () => {
    // A slack smaller than the young generation: counting it, this collected ~36 times.
    const guard = startHeapGuard(2, { everyMs: 5 });
    try {
      // Hundreds of MB allocated in small blocks, each dead before the next: the young generation takes it all.
      for (let round = 0; round < 40; round++) {
        for (let k = 0; k < 400; k++) void Array.from({ length: 1_000 }, (_, i) => ({ i, text: `young-${i}` }));
        await new Promise((r) => setTimeout(r, 5));
      }
      // What little outlives its block (the test runner's own work meanwhile) may add up to one collection.
      assert.ok(guard.collections <= 1, `${guard.collections} collections`);
    } finally {
      guard.stop();
    }
  });

  it('leaves a heap that has not grown by the slack alone', async () => {
    const guard = startHeapGuard(512, { everyMs: 20 });
    try {
      const small = Array.from({ length: 10_000 }, (_, i) => ({ i }));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(small.length, 10_000);
      assert.equal(guard.collections, 0);
    } finally {
      guard.stop();
    }
  });

  it('sweeps the dead buffers of a file read block by block before they pile up', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'heap-guard-'));
    const file = path.join(dir, 'results.jsonl');
    await writeFile(file, Buffer.alloc(96 * 1024 * 1024, 'x'));
    // A slack far above the file: only the buffer watch may collect.
    const guard = startHeapGuard(4096, { everyMs: 5, bufferSlackMb: 4 });
    try {
      const start = process.memoryUsage().arrayBuffers;
      let most = 0;
      let bytes = 0;
      // As finalize copies a results file: each block is used once and dropped.
      for await (const block of createReadStream(file, { highWaterMark: 120 * 1024 }) as AsyncIterable<Buffer>) {
        bytes += block.length;
        most = Math.max(most, process.memoryUsage().arrayBuffers - start);
      }
      assert.equal(bytes, 96 * 1024 * 1024);
      // Left to V8, the 96 MB read stayed in dead buffers (its young generation fills with their small objects
      // only after gigabytes); the watch sweeps every 4 MB or 5 ms.
      assert.ok(most < 20 * 1024 * 1024, `dead buffers reached ${(most / 1048576).toFixed(1)} MB`);
      assert.ok(guard.youngCollections > 0);
      assert.equal(guard.collections, 0);
    } finally {
      guard.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
