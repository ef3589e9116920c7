import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps the worker's JavaScript heap near what it really holds. Node sizes its heap from the machine (up to 4 GB
 * here) and V8 collects old garbage only as the heap nears its limit, so a job's passes over millions of lines leave
 * hundreds of MB of dead objects behind: the worker's RSS grows with the job although nothing is kept (measured: a
 * million-request prepare at +140 MB, +30 MB with a full collection every two seconds, and no slower). Once the
 * heap (outside the young generation) and the buffers it owns have grown by `slackMb` from their lowest point since
 * the last full collection, this runs one — tens of milliseconds for a worker's heap, from a timer, so between the
 * awaits of the activities. Like GOGC for a Go service: a bound on garbage, not on memory; what activities hold is
 * theirs to bound.
 *
 * Buffers need a bound of their own. A stream over a file or a download hands out a new buffer per block, dead once
 * written or split, and V8 sweeps dead buffers only when it collects the young generation — which it does when that
 * fills with objects, and a buffer's object is tiny. A copy of a results file (hundreds of MB/s) left 15–28 MB of
 * dead buffers behind at every job's end, and the worker's peak depended on when the guard happened to look. So
 * whenever buffers have grown by `bufferSlackMb`, the guard collects the young generation alone: about a millisecond,
 * since little in it is alive. It looks every 5 ms (~15 µs a look): a copy from the page cache allocates 10 MB in
 * 20 ms, and looking every 20 ms a million-request job still peaked with 24 MB of buffers. Worker CPU went down, not
 * up (bench:job, 1,000,000 requests: 34 → 28 s, peak 241–246 → 219–223 MB with `ChunkIds`): the young collections
 * come while little in the young generation is alive, and the full ones no longer follow a stale figure.
 */
export function startHeapGuard(
  slackMb: number,
  o: { everyMs?: number; bufferSlackMb?: number } = {},
): { stop(): void; readonly collections: number; readonly youngCollections: number } {
  const gc = exposedGc();
  const slack = slackMb * 1024 * 1024;
  const bufferSlack = (o.bufferSlackMb ?? 4) * 1024 * 1024;
  let base = held();
  let bufferBase = buffers();
  let collections = 0;
  let youngCollections = 0;
  const timer = setInterval(() => {
    let now = buffers();
    // Growth is counted from the lowest point since the last collection: V8's own collections lower the mark too.
    bufferBase = Math.min(bufferBase, now);
    if (now - bufferBase >= bufferSlack) {
      gc({ type: 'minor' });
      youngCollections++;
      bufferBase = now = buffers();
    }
    const heap = oldGenerations() + now;
    base = Math.min(base, heap);
    if (heap - base < slack) return;
    gc();
    collections++;
    base = held();
    bufferBase = buffers();
  }, o.everyMs ?? 5);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    get collections() {
      return collections;
    },
    get youngCollections() {
      return youngCollections;
    },
  };
}

let running: { stop(): void } | null = null;

/**
 * The process's one guard, started by the first worker created in it (a process may hold several workers: the
 * dev stack, tests); later calls keep the first slack.
 */
export function ensureHeapGuard(slackMb: number): void {
  if (slackMb > 0) running ??= startHeapGuard(slackMb);
}

/**
 * What the heap holds outside the young generation, plus the buffers its objects own (of streams, requests, files).
 * Not the young generation: it fills and empties with every few MB allocated, so counting it ran a full collection
 * every 16 MB of allocation instead of growth (a 300,000-request prepare: ten collections and a second of CPU;
 * without it, two, and the same peak).
 */
function held(): number {
  return oldGenerations() + buffers();
}

function oldGenerations(): number {
  let used = 0;
  for (const space of getHeapSpaceStatistics())
    if (space.space_name !== 'new_space' && space.space_name !== 'new_large_object_space')
      used += space.space_used_size;
  return used;
}

/**
 * The bytes of live and not yet swept buffers, as Node's allocator counts them (~10 µs to read). V8's own count of
 * external memory is no use here: it is brought up to date only by full collections, so it misses both the growth
 * and what young collections free.
 */
function buffers(): number {
  return process.memoryUsage().arrayBuffers;
}

type Gc = (options?: { type?: 'minor' | 'major' }) => void;

/** V8's `gc()`, which Node hides unless started with --expose-gc: the flag set now, read from a fresh context. */
function exposedGc(): Gc {
  const existing = (globalThis as { gc?: Gc }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Gc;
}
