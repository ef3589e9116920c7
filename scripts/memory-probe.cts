/**
 * A preload for a benchmark's worker (`BENCH_WORKER_MEMORY=1 npm run bench:job`): what the worker's memory is made
 * of at its highest. It is `--require`d, since an `--import` does not reach worker threads, and so runs in each
 * thread: the workflow thread posts its V8 heap every 20 ms; the main thread samples the RSS, its own heap and Node's
 * buffers, and at each new high writes the breakdown (MB) to MEMORY_PROBE_OUT.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

const EVERY_MS = 20;
const MB = 1024 * 1024;
const channel = new BroadcastChannel('claude-batch-memory-probe');
channel.unref();

function heap(): { committed: number; young: number } {
  let committed = 0;
  let young = 0;
  for (const space of getHeapSpaceStatistics()) {
    committed += space.physical_space_size;
    if (space.space_name === 'new_space' || space.space_name === 'new_large_object_space')
      young += space.physical_space_size;
  }
  return { committed, young };
}

if (!isMainThread) {
  setInterval(() => channel.postMessage({ threadId, committed: heap().committed }), EVERY_MS).unref();
} else {
  const out = process.env.MEMORY_PROBE_OUT;
  const threads = new Map<number, number>();
  channel.onmessage = (event) => {
    const { threadId: id, committed } = (event as { data: { threadId: number; committed: number } }).data;
    threads.set(id, committed);
  };
  const started = Date.now();
  let high = 0;
  setInterval(() => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    const rss = kb('VmRSS');
    if (!out || rss < high + MB) return;
    high = rss;
    const main = heap();
    const buffers = process.memoryUsage().arrayBuffers;
    const otherThreads = [...threads.values()].reduce((a, b) => a + b, 0);
    const files = kb('RssFile') + kb('RssShmem');
    const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;
    writeFileSync(
      out,
      JSON.stringify({
        seconds: (Date.now() - started) / 1000,
        rss: mb(rss),
        files: mb(files),
        mainHeap: mb(main.committed),
        mainYoung: mb(main.young),
        buffers: mb(buffers),
        workflowThreads: mb(otherThreads),
        otherNative: mb(rss - files - main.committed - buffers - otherThreads),
      }),
    );
  }, EVERY_MS).unref();
}
