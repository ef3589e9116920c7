import { activityInfo, cancellationSignal, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  addTokens,
  requestNanoUsd,
  tokensOfUsage,
  usdOfNano,
  ZERO_TOKENS,
  type TokensByModel,
} from '../shared/pricing.js';
import { jobPrices } from './job-prices.js';
import { beater, chunkCustomIds } from './chunk-ids.js';
import type { ChunkOutcome, ChunkRef } from '../shared/job-types.js';
import { outcomeOf, shouldRetry, type ResultLine } from '../shared/results.js';
import type { ActivityDeps } from './deps.js';
import { PartWriter, partLines } from './download-parts.js';
import { lines, writeLines } from './jsonl.js';
import { countOutcome, resultLines } from './metrics.js';

export interface FetchArgs {
  jobDir: string;
  chunk: ChunkRef;
  batchId: string;
}

export const outcomeUri = (deps: ActivityDeps, jobDir: string, chunk: ChunkRef) =>
  deps.store.join(jobDir, 'rounds', String(chunk.round), 'outcomes', `${chunk.id}.json`);

/**
 * From this attempt on, a download that ends cleanly but without some of the chunk's requests is taken as the
 * API's final word: those requests are sent again in the retry round instead of downloading forever. Earlier
 * attempts fail and download again, as results can lag right after a batch ends.
 */
export const RESULTS_FULL_ATTEMPTS = 5;

/** The retry delay after a short download grows with the attempt: 5 s, 10 s, 15 s, 20 s. */
const SHORT_DOWNLOAD_DELAY_S = 5;

/** The custom_id of a results line, or null when the line is not one (a half line, garbage). */
function customIdOf(raw: string): string | null {
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return null;
    const id = (parsed as { custom_id?: unknown }).custom_id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

const preview = (ids: Iterable<string>, max = 3): string => {
  const first: string[] = [];
  for (const id of ids) {
    if (first.length === max) return `${first.join(', ')}, …`;
    first.push(`'${id}'`);
  }
  return first.join(', ');
};

/**
 * Streams a batch's results into storage, then tallies them. The results file holds exactly one line per request
 * of the chunk that the API answered — nothing else: a result of another batch (one adopted by mistake during
 * reconciliation, or an API fault) never reaches the file finalize reads: the download is tried again
 * (`ResultsMismatch`, retryable) and in the end the chunk's requests it did not answer are sent again; a result sent
 * twice is kept once.
 *
 * The API has no ranged download and does not promise the same order twice, so a retried download resumes by
 * custom_id: the download is stored as parts committed as it goes (download-parts.ts), a retry keeps the lines its
 * parts hold and writes only the ids not among them, in parts after them. A download that breaks off or comes back
 * short fails (retryably) and keeps its parts for the next attempt; from attempt `RESULTS_FULL_ATTEMPTS` on,
 * requests still missing from a complete download are sent again. Once complete, the parts are made into the one
 * results file, so every later reader (tally, finalize) reads one file, in S3 as on disk.
 */
export function fetchActivities(deps: ActivityDeps) {
  const { store } = deps;

  const roundDir = (args: FetchArgs) => store.join(args.jobDir, 'rounds', String(args.chunk.round));

  /** Where a chunk's download keeps its parts until they make the results file (see download-parts). */
  const partsDir = (args: FetchArgs) => store.join(roundDir(args), 'download', args.chunk.id);

  /**
   * The lines of the download's parts that the results file keeps: complete lines of distinct, expected ids, in
   * the order they were downloaded. Anything else (a line a dying download cut, anything unexpected) is skipped.
   */
  async function* keptLines(args: FetchArgs, expected: Set<string>): AsyncGenerator<{ id: string; line: string }> {
    const seen = new Set<string>();
    for await (const line of partLines(store, partsDir(args))) {
      const id = customIdOf(line);
      if (id === null || !expected.has(id) || seen.has(id)) continue;
      seen.add(id);
      yield { id, line };
    }
  }

  /** The ids an earlier attempt's parts already hold. */
  async function keepEarlierLines(args: FetchArgs, expected: Set<string>, have: Set<string>): Promise<void> {
    const beat = beater();
    for await (const { id } of keptLines(args, expected)) {
      have.add(id);
      beat({ kept: have.size });
    }
  }

  /**
   * Writes the results file from the parts (streamed, committed at once), then removes the parts. A worker that
   * dies in between leaves both: the next attempt makes the same file from the same parts.
   */
  async function assemble(args: FetchArgs, expected: Set<string>, resultsUri: string): Promise<void> {
    const beat = beater();
    let written = 0;
    async function* kept() {
      for await (const { line } of keptLines(args, expected)) yield line;
    }
    await writeLines(store, resultsUri, kept(), () => beat({ assembled: ++written }));
    await store.remove(partsDir(args));
  }

  /** Downloads into parts (`download/<chunk>/`), made into `results` once complete; returns the lines kept from before. */
  async function download(args: FetchArgs, expected: Set<string>, resultsUri: string): Promise<number> {
    const { attempt } = activityInfo();
    /** A complete download that came back wrong: tried again, with a growing pause, up to the bound. */
    const downloadAgain = (type: 'ResultsMismatch' | 'ResultsIncomplete', what: string, details?: unknown[]) =>
      ApplicationFailure.create({
        type,
        message: `${what}; downloading again (attempt ${attempt} of ${RESULTS_FULL_ATTEMPTS})`,
        nonRetryable: false,
        nextRetryDelay: `${SHORT_DOWNLOAD_DELAY_S * attempt}s`,
        ...(details ? { details } : {}),
      });
    const have = new Set<string>();
    // A first attempt starts afresh: parts left by an earlier run of the same job id are not this batch's.
    if (attempt > 1) await keepEarlierLines(args, expected, have);
    else await store.remove(partsDir(args));
    const kept = have.size;
    if (kept > 0 && kept === expected.size) {
      // The earlier attempt had it all and died before making the results file: every request has its one line.
      await assemble(args, expected, resultsUri);
      return kept;
    }
    if (kept > 0) log.info(`resuming the results download of ${args.batchId}: ${kept} results kept from before`);

    const beat = beater();
    beat({ kept, received: 0, written: kept }, true);
    const out = await PartWriter.after(store, partsDir(args));
    const signal = cancellationSignal();
    let received = 0;
    let unexpected: string | null = null;
    let strangers = 0;
    try {
      // Passing the signal stops a canceled or timed-out attempt from writing parts alongside its successor.
      const stream = await deps.anthropic.messages.batches.results(args.batchId, {}, { signal });
      for await (const line of stream) {
        received++;
        const id = line.custom_id;
        if (!expected.has(id)) {
          // Never written: it is not an answer to any request of this chunk.
          strangers++;
          unexpected ??= id;
          continue;
        }
        if (!have.has(id)) {
          await out.line(JSON.stringify(line));
          have.add(id);
        }
        beat({ kept, received, written: have.size });
      }
    } catch (err) {
      // Whatever broke (the connection, a 404 right after the batch ended, a half line), what was downloaded
      // stays for the next attempt: commit the part in progress and fail normally.
      await out.commit().catch(() => undefined);
      if (signal.aborted) throw signal.reason ?? err;
      if (out.error) throw out.error;
      throw ApplicationFailure.create({
        type: 'ResultsIncomplete',
        message: `the results download of batch ${args.batchId} broke off after ${received} lines (${have.size} of ${expected.size} results stored): ${err instanceof Error ? err.message : String(err)}`,
        nonRetryable: false,
        cause: err instanceof Error ? err : undefined,
        details: [{ received, onDisk: have.size, expected: expected.size }],
      });
    } finally {
      resultLines.inc(received);
    }
    await out.commit();
    beat({ kept, received, written: have.size }, true);
    if (unexpected !== null) {
      const what = `batch ${args.batchId} returned ${strangers} results that are not requests of chunk ${args.chunk.id} (e.g. '${unexpected}')`;
      // The lines that are ours stay on disk; a fresh download may come back right. If it never does, the
      // requests it did not answer are sent again below, like any missing ones: a paid chunk never fails for it.
      if (attempt < RESULTS_FULL_ATTEMPTS) throw downloadAgain('ResultsMismatch', what);
      log.error(`${what}, after ${attempt} downloads; they are left out`);
    }

    const missing = expected.size - have.size;
    if (missing > 0) {
      const which = preview([...expected].filter((id) => !have.has(id)));
      if (attempt < RESULTS_FULL_ATTEMPTS)
        throw downloadAgain(
          'ResultsIncomplete',
          `the results of batch ${args.batchId} lack ${missing} of ${expected.size} requests of chunk ${args.chunk.id} (${which})`,
          [{ received, onDisk: have.size, expected: expected.size }],
        );
      log.warn(
        `the results of batch ${args.batchId} still lack ${missing} requests after ${attempt} downloads (${which}); they go to the retry round`,
      );
    }
    await assemble(args, expected, resultsUri);
    return kept;
  }

  async function tally(
    args: FetchArgs,
    expected: Set<string>,
    resultsUri: string,
    resumedFromLine: number,
  ): Promise<ChunkOutcome> {
    const { chunk } = args;
    const beat = beater();
    const seen = new Set<string>();
    const retryIds: string[] = [];
    const outcomes: Record<string, number> = {};
    const tokens: TokensByModel = {};
    const prices = await jobPrices(deps, args.jobDir);
    let nanoUsd = 0;
    const unpriced = new Set<string>();
    beat({ tallied: 0, of: expected.size }, true);
    for await (const raw of lines(store.read(resultsUri))) {
      if (!raw) continue;
      const line = JSON.parse(raw) as ResultLine;
      // The download let nothing else through; a file changed behind its back must not reach the output either.
      if (!expected.has(line.custom_id) || seen.has(line.custom_id)) {
        await store.remove(resultsUri);
        throw ApplicationFailure.nonRetryable(
          `the results file of chunk ${chunk.id} holds '${line.custom_id}' ${seen.has(line.custom_id) ? 'twice' : 'which is not one of its requests'}`,
          'ResultsMismatch',
        );
      }
      seen.add(line.custom_id);
      const key = outcomeOf(line.result);
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      if (line.result.type === 'succeeded') {
        const m = line.result.message;
        const used = tokensOfUsage(m.usage);
        tokens[m.model] = addTokens(tokens[m.model] ?? ZERO_TOKENS, used);
        const nano = requestNanoUsd(prices, m.model, used);
        if (nano === undefined) unpriced.add(m.model);
        else nanoUsd += nano;
      }
      if (shouldRetry(line.result, false)) retryIds.push(line.custom_id);
      beat({ tallied: seen.size, of: expected.size });
    }
    // Requests the API never answered (after every download allowed) are sent again: the retry round gives each
    // its one output line. They get no outcome key: they have no result yet.
    for (const id of expected) if (!seen.has(id)) retryIds.push(id);

    const retryUri = store.join(roundDir(args), 'retry', `${chunk.id}.ids`);
    if (retryIds.length > 0) await writeLines(store, retryUri, retryIds);
    else await store.remove(retryUri); // an earlier attempt's, which this outcome does not point at
    beat({ tallied: seen.size, of: expected.size }, true);
    const outcome: ChunkOutcome = {
      chunkId: chunk.id,
      round: chunk.round,
      batchId: args.batchId,
      requests: expected.size,
      resultsUri,
      retryUri: retryIds.length > 0 ? retryUri : null,
      retryable: retryIds.length,
      outcomes,
      tokens,
      costUsd: usdOfNano(prices, nanoUsd, 'batch'),
      standardUsd: usdOfNano(prices, nanoUsd, 'standard'),
      standardNanoUsd: nanoUsd,
      ...(unpriced.size ? { unpricedModels: [...unpriced].sort() } : {}),
      resumedFromLine,
    };
    await store.writeJson(outcomeUri(deps, args.jobDir, chunk), outcome);
    return outcome;
  }

  return {
    async fetchResults(args: FetchArgs): Promise<ChunkOutcome> {
      const { chunk } = args;
      const dir = roundDir(args);
      // A dead attempt's temp files are removed by the store when this attempt writes the same files.
      const resultsUri = store.join(dir, 'results', `${chunk.id}.jsonl`);
      const expected = await chunkCustomIds(store, chunk);
      const resumedFromLine = await download(args, expected, resultsUri);
      const outcome = await tally(args, expected, resultsUri, resumedFromLine);
      countOutcome(outcome);
      return outcome;
    },
  };
}
