import { once } from 'node:events';
import { activityInfo, heartbeat, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { addTokens, batchCostUsd, tokensOfUsage, ZERO_TOKENS, type TokensByModel } from '../shared/pricing.js';
import type { ChunkOutcome, ChunkRef } from '../shared/job-types.js';
import { outcomeOf, shouldRetry, type ResultLine } from '../shared/results.js';
import type { ActivityDeps } from './deps.js';
import { lines, writeLine } from './jsonl.js';

export interface FetchArgs {
  jobDir: string;
  chunk: ChunkRef;
  batchId: string;
}

export const outcomeUri = (deps: ActivityDeps, jobDir: string, chunk: ChunkRef) =>
  deps.store.join(jobDir, 'rounds', String(chunk.round), 'outcomes', `${chunk.id}.json`);

/**
 * Streams a batch's results into storage, then tallies them. The download resumes after a crash or a cut-off
 * stream: the complete lines already on disk are kept and skipped in the new stream (the API has no ranged
 * download). The tally checks the results are exactly this chunk's requests, one line each — a batch adopted by
 * mistake during reconciliation would be caught here, not in the output.
 */
export function fetchActivities(deps: ActivityDeps) {
  const { store } = deps;

  async function download(args: FetchArgs, resultsUri: string): Promise<number> {
    const partial = `${resultsUri}.download`;
    let keep = 0;
    let keepBytes = 0;
    if (activityInfo().attempt > 1 && (await store.exists(partial))) {
      for await (const line of lines(store.read(partial))) {
        try {
          JSON.parse(line);
        } catch {
          break; // the half line a dying download left behind
        }
        keep++;
        keepBytes += Buffer.byteLength(line) + 1;
      }
      await store.truncate(partial, keepBytes);
      if (keep > 0) log.info(`resuming the results download of ${args.batchId} after line ${keep}`);
    } else await store.remove(partial);

    const out = await store.append(partial);
    let n = 0;
    try {
      for await (const line of await deps.anthropic.messages.batches.results(args.batchId)) {
        if (n++ < keep) continue;
        await writeLine(out, JSON.stringify(line));
        if (n % 2000 === 0) heartbeat({ lines: n });
      }
    } finally {
      out.end();
      await once(out, 'close');
    }
    await store.move(partial, resultsUri);
    return keep;
  }

  async function tally(args: FetchArgs, resultsUri: string, resumedFromLine: number): Promise<ChunkOutcome> {
    const { chunk } = args;
    const expected = new Set<string>();
    for await (const line of lines(store.read(chunk.uri)))
      expected.add((JSON.parse(line) as { custom_id: string }).custom_id);
    const retryUri = store.join(args.jobDir, 'rounds', String(chunk.round), 'retry', `${chunk.id}.ids`);
    const retry = await store.write(retryUri);
    const outcomes: Record<string, number> = {};
    const tokens: TokensByModel = {};
    let retryable = 0;
    let count = 0;
    for await (const raw of lines(store.read(resultsUri))) {
      const line = JSON.parse(raw) as ResultLine;
      if (!expected.delete(line.custom_id)) {
        await retry.abort();
        throw ApplicationFailure.nonRetryable(
          `batch ${args.batchId} returned '${line.custom_id}', which is not (or no longer) a request of chunk ${chunk.id}`,
          'ResultsMismatch',
        );
      }
      count++;
      const key = outcomeOf(line.result);
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      if (line.result.type === 'succeeded') {
        const m = line.result.message;
        tokens[m.model] = addTokens(tokens[m.model] ?? ZERO_TOKENS, tokensOfUsage(m.usage));
      }
      if (shouldRetry(line.result, false)) {
        retryable++;
        await writeLine(retry.stream, line.custom_id);
      }
    }
    if (expected.size > 0) {
      await retry.abort();
      throw ApplicationFailure.nonRetryable(
        `batch ${args.batchId} has no result for ${expected.size} requests of chunk ${chunk.id}`,
        'ResultsMismatch',
      );
    }
    await retry.commit();
    const outcome: ChunkOutcome = {
      chunkId: chunk.id,
      round: chunk.round,
      batchId: args.batchId,
      requests: count,
      resultsUri,
      retryUri: retryable > 0 ? retryUri : null,
      retryable,
      outcomes,
      tokens,
      costUsd: batchCostUsd(deps.prices, tokens, 'batch'),
      resumedFromLine,
    };
    await store.writeJson(outcomeUri(deps, args.jobDir, chunk), outcome);
    return outcome;
  }

  return {
    async fetchResults(args: FetchArgs): Promise<ChunkOutcome> {
      const resultsUri = store.join(
        args.jobDir,
        'rounds',
        String(args.chunk.round),
        'results',
        `${args.chunk.id}.jsonl`,
      );
      const resumedFromLine = await download(args, resultsUri);
      return tally(args, resultsUri, resumedFromLine);
    },
  };
}
