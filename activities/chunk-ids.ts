import { heartbeat } from '@temporalio/activity';
import type { ChunkRef } from '../shared/job-types.js';
import { customIdOfLine, lineBatches } from './line-batches.js';
import type { BlobStore } from '../storage/blob-store.js';

/** Heartbeats at most this often: a line-by-line beat would cost more than the work. */
const HEARTBEAT_EVERY_MS = 1000;

/** A heartbeat that sends at most once per interval, unless forced (phase boundaries). */
export function beater() {
  let last = 0;
  return (details: Record<string, number>, force = false) => {
    const now = Date.now();
    if (!force && now - last < HEARTBEAT_EVERY_MS) return;
    last = now;
    heartbeat(details);
  };
}

/**
 * The custom_ids of a chunk's requests, read from its chunk file (heartbeating: a chunk holds up to 100,000), each
 * with its place among them (0, 1, … in file order): what an `AnsweredIds` marks.
 */
export async function chunkCustomIds(store: BlobStore, chunk: ChunkRef): Promise<Map<string, number>> {
  const beat = beater();
  const ids = new Map<string, number>();
  for await (const batch of lineBatches(store.read(chunk.uri))) {
    for (const line of batch) {
      const id = customIdOfLine(line);
      if (id === null) throw new Error(`chunk file ${chunk.uri} has a line without a custom_id`);
      if (!ids.has(id)) ids.set(id, ids.size);
    }
    beat({ expected: ids.size });
  }
  return ids;
}

/**
 * Which of a chunk's requests have their result: one byte per request, by its place in `chunkCustomIds`, rather
 * than a second set of 100,000 id strings (~6 MB held through each download).
 */
export class AnsweredIds {
  private readonly answered: Uint8Array;
  size = 0;

  constructor(private readonly expected: ReadonlyMap<string, number>) {
    this.answered = new Uint8Array(expected.size);
  }

  has(id: string): boolean {
    const at = this.expected.get(id);
    return at !== undefined && this.answered[at] === 1;
  }

  /** Marks an expected id answered (an id not expected is a caller's bug: it checks `expected` first). */
  add(id: string): void {
    const at = this.expected.get(id);
    if (at === undefined) throw new Error(`${id} is not a request of this chunk`);
    if (this.answered[at] === 1) return;
    this.answered[at] = 1;
    this.size++;
  }
}
