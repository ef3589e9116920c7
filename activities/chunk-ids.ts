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

/** The custom_ids of a chunk's requests, read from its chunk file (heartbeating: a chunk holds up to 100,000). */
export async function chunkCustomIds(store: BlobStore, chunk: ChunkRef): Promise<Set<string>> {
  const beat = beater();
  const ids = new Set<string>();
  for await (const batch of lineBatches(store.read(chunk.uri))) {
    for (const line of batch) {
      const id = customIdOfLine(line);
      if (id === null) throw new Error(`chunk file ${chunk.uri} has a line without a custom_id`);
      ids.add(id);
    }
    beat({ expected: ids.size });
  }
  return ids;
}
