import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps the worker's JavaScript heap near what it really holds. Node sizes its heap from the machine (up to 4 GB
 * here) and V8 collects old garbage only as the heap nears its limit, so a job's passes over millions of lines leave
 * hundreds of MB of dead objects behind: the worker's RSS grows with the job although nothing is kept (measured: a
 * million-request prepare at +140 MB, +30 MB with a full collection every two seconds, and no slower). Once the
 * heap (outside the young generation) has grown by `slackMb` from its lowest point since the last full collection,
 * this runs one — tens of milliseconds for a worker's heap, from a timer, so between the awaits of the activities.
 * Like GOGC for a Go service: a bound on garbage, not on memory; what activities hold is theirs to bound. The timer
 * looks every 100 ms: a million-request job grows the heap by tens of MB between looks 250 ms apart, so the slack
 * was overshot by more than itself (worker peak 234 → 222 MB with a 16 MB slack, the same CPU).
 */
export function startHeapGuard(slackMb: number, everyMs = 100): { stop(): void; readonly collections: number } {
  const gc = exposedGc();
  const slack = slackMb * 1024 * 1024;
  let base = held();
  let collections = 0;
  const timer = setInterval(() => {
    const now = held();
    // V8's own collections lower the mark too: growth is counted from the lowest point since the last one.
    base = Math.min(base, now);
    if (now - base < slack) return;
    gc();
    collections++;
    base = held();
  }, everyMs);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    get collections() {
      return collections;
    },
  };
}

let running: { stop(): void; readonly collections: number } | null = null;

/**
 * The process's one guard, started by the first worker created in it (a process may hold several workers: the
 * dev stack, tests); later calls keep the first slack.
 */
export function ensureHeapGuard(slackMb: number): void {
  if (slackMb > 0) running ??= startHeapGuard(slackMb);
}

/**
 * The heap in use outside the young generation, plus the memory outside the heap that its objects own (buffers of
 * streams, requests, files). Not the young generation: it fills and empties with every few MB allocated, so
 * counting it ran a full collection every 16 MB of allocation instead of growth (a 300,000-request prepare: ten
 * collections and a second of CPU; without it, two, and the same peak).
 */
function held(): number {
  let used = getHeapStatistics().external_memory;
  for (const space of getHeapSpaceStatistics())
    if (space.space_name !== 'new_space' && space.space_name !== 'new_large_object_space')
      used += space.space_used_size;
  return used;
}

/** V8's `gc()`, which Node hides unless started with --expose-gc: the flag set now, read from a fresh context. */
function exposedGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
