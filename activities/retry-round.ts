import { heartbeat } from '@temporalio/activity';
import type { ChunkRef } from '../shared/job-types.js';
import { ChunkWriter } from './chunk-writer.js';
import type { ActivityDeps } from './deps.js';
import { lines } from './jsonl.js';

export interface RetryRoundArgs {
  jobDir: string;
  round: number;
  /** The previous round's chunks that have requests to send again (all of a chunk's when it has no `retryUri`). */
  from: { uri: string; retryUri?: string }[];
  chunk: { maxRequests: number; maxBytes: number };
}

/**
 * Writes the next round's chunks: the original request lines of every request to retry (expired, canceled, or
 * errored with a retryable type). Memory holds only the ids being retried.
 */
export function retryRoundActivities(deps: ActivityDeps) {
  return {
    async planRetryRound(args: RetryRoundArgs): Promise<ChunkRef[]> {
      const writer = new ChunkWriter(deps.store, args.jobDir, args.round, args.chunk);
      try {
        for (const source of args.from) {
          const ids = new Set<string>();
          if (source.retryUri) for await (const id of lines(deps.store.read(source.retryUri))) if (id) ids.add(id);
          let read = 0;
          for await (const line of lines(deps.store.read(source.uri))) {
            const { custom_id } = JSON.parse(line) as { custom_id: string };
            if (!source.retryUri || ids.has(custom_id)) await writer.add(line);
            if (++read % 10_000 === 0) heartbeat({ read });
          }
        }
        return await writer.finish();
      } catch (err) {
        await writer.abort();
        throw err;
      }
    },
  };
}
