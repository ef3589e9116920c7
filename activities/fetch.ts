import { activityInfo, cancellationSignal, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { once } from 'node:events';
import { usdOfNano, type PriceTable } from '../shared/pricing.js';
import { jobPrices } from './job-prices.js';
import { AnsweredIds, beater, chunkCustomIds, type ChunkIds } from './chunk-ids.js';
import type { ChunkOutcome, ChunkRef } from '../shared/job-types.js';
import type { ResultLine } from '../shared/results.js';
import type { ActivityDeps } from './deps.js';
import { PartWriter, listParts, partLineBatches } from './download-parts.js';
import { writeLines } from './jsonl.js';
import { customIdOfLine, lineBatches } from './line-batches.js';
import { ResultTally } from './result-tally.js';
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
   * The lines of the download's parts that the results keep, a block at a time: complete lines of distinct,
   * expected ids (added to `have`), in the order they were downloaded. Anything else — a half line, a line twice,
   * an id not of this chunk: what a dying or overlapping attempt can leave — is left out, and `onSkip` hears of it.
   */
  async function* keptLines(
    args: FetchArgs,
    expected: ChunkIds,
    have: AnsweredIds,
    onSkip: () => void = () => {},
  ): AsyncGenerator<string[]> {
    for await (const batch of partLineBatches(store, partsDir(args), onSkip)) {
      const kept: string[] = [];
      for (const line of batch) {
        const id = customIdOfLine(line);
        if (id === null || have.mark(id) !== 'new') {
          onSkip();
          continue;
        }
        kept.push(line);
      }
      if (kept.length > 0) yield kept;
    }
  }

  /**
   * Reads the parts an earlier attempt committed into `have` and the tally. Returns whether the parts hold nothing
   * but kept lines — then the results file is the parts end to end; otherwise only the kept lines go into it.
   */
  async function readParts(
    args: FetchArgs,
    expected: ChunkIds,
    have: AnsweredIds,
    tally: ResultTally,
  ): Promise<boolean> {
    const beat = beater();
    let clean = true;
    for await (const batch of keptLines(args, expected, have, () => (clean = false))) {
      for (const line of batch) tally.add(JSON.parse(line) as ResultLine);
      beat({ kept: have.size });
    }
    return clean;
  }

  /**
   * Writes the results file from the parts (streamed, committed at once), then removes the parts. A worker that
   * dies in between leaves both: the next attempt makes the same file from the same parts. Clean parts are copied
   * as bytes; otherwise only the kept lines are written, and tallied again.
   */
  async function assemble(
    args: FetchArgs,
    expected: ChunkIds,
    resultsUri: string,
    clean: boolean,
    tally: ResultTally,
  ): Promise<ResultTally> {
    const file = await store.write(resultsUri);
    const write = async (data: Buffer | string) => {
      if (!file.stream.write(data)) await once(file.stream, 'drain');
    };
    const beat = beater();
    try {
      if (clean) {
        let bytes = 0;
        for (const part of await listParts(store, partsDir(args)))
          for await (const block of store.read(part.uri) as AsyncIterable<Buffer>) {
            await write(block);
            bytes += block.length;
            beat({ assembledBytes: bytes });
          }
      } else {
        tally = new ResultTally(tally.prices);
        const have = new AnsweredIds(expected);
        for await (const batch of keptLines(args, expected, have)) {
          for (const line of batch) tally.add(JSON.parse(line) as ResultLine);
          await write(batch.join('\n') + '\n');
          beat({ assembled: have.size });
        }
      }
    } catch (err) {
      await file.abort();
      throw err;
    }
    await file.commit();
    await store.remove(partsDir(args));
    return tally;
  }

  /**
   * Downloads into parts (`download/<chunk>/`), tallying each line as it is stored, and makes the parts into
   * `results` once complete. Returns the tally of the results file and the lines kept from before.
   */
  async function download(
    args: FetchArgs,
    expected: ChunkIds,
    resultsUri: string,
    prices: PriceTable,
  ): Promise<{ tally: ResultTally; kept: number; have: AnsweredIds }> {
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
    const have = new AnsweredIds(expected);
    const tally = new ResultTally(prices);
    let clean = true;
    // A first attempt starts afresh: parts left by an earlier run of the same job id are not this batch's.
    if (attempt > 1) clean = await readParts(args, expected, have, tally);
    else await store.remove(partsDir(args));
    const kept = have.size;
    if (kept > 0 && kept === expected.size) {
      // The earlier attempt had it all and died before making the results file: every request has its one line.
      return { tally: await assemble(args, expected, resultsUri, clean, tally), kept, have };
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
      const body = await resultsBody(args.batchId, signal);
      for await (const batch of lineBatches(body)) {
        const keep: string[] = [];
        for (const raw of batch) {
          const line = JSON.parse(raw) as ResultLine;
          received++;
          const id = line.custom_id;
          const marked = have.mark(id);
          if (marked === 'stranger') {
            // Never written: it is not an answer to any request of this chunk.
            strangers++;
            unexpected ??= id;
            continue;
          }
          if (marked === 'again') continue;
          tally.add(line);
          keep.push(raw);
        }
        await out.lines(keep);
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
      const which = preview(have.missing());
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
    return { tally: await assemble(args, expected, resultsUri, clean, tally), kept, have };
  }

  /**
   * The results stream as the API's own bytes, through the official SDK as `batches.results()` fetches it (the
   * batch's `results_url`, as binary): each line is then parsed once, to check and tally it, and stored as it came —
   * not parsed by the SDK and serialized again. The signal stops a canceled or timed-out attempt from writing parts
   * alongside its successor.
   */
  async function resultsBody(batchId: string, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    const batch = await deps.anthropic.messages.batches.retrieve(batchId, {}, { signal });
    if (!batch.results_url) throw new Error(`batch ${batchId} has no results_url yet (${batch.processing_status})`);
    const response = await deps.anthropic
      .get<Response>(batch.results_url, {
        headers: { Accept: 'application/binary' },
        __binaryResponse: true,
        signal,
      })
      .asResponse();
    if (!response.body) throw new Error(`the results of batch ${batchId} came without a body`);
    return response.body as AsyncIterable<Uint8Array>;
  }

  /** The chunk's outcome from the tally of its results file; requests without a result line are sent again. */
  async function conclude(
    args: FetchArgs,
    expected: ChunkIds,
    resultsUri: string,
    stored: { tally: ResultTally; kept: number; have: AnsweredIds },
    prices: PriceTable,
  ): Promise<ChunkOutcome> {
    const { chunk } = args;
    const { tally, kept: resumedFromLine, have } = stored;
    const retryIds = tally.retryIds;
    // Requests the API never answered (after every download allowed) are sent again: the retry round gives each
    // its one output line. They get no outcome key: they have no result yet.
    if (have.size < expected.size) for (const id of have.missing()) retryIds.push(id);
    const retryUri = store.join(roundDir(args), 'retry', `${chunk.id}.ids`);
    if (retryIds.length > 0) await writeLines(store, retryUri, retryIds);
    else await store.remove(retryUri); // an earlier attempt's, which this outcome does not point at
    const { nanoUsd, unpriced } = tally;
    const outcome: ChunkOutcome = {
      chunkId: chunk.id,
      round: chunk.round,
      batchId: args.batchId,
      requests: expected.size,
      resultsUri,
      retryUri: retryIds.length > 0 ? retryUri : null,
      retryable: retryIds.length,
      outcomes: tally.outcomes,
      tokens: tally.tokens,
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
      const prices = await jobPrices(deps, args.jobDir);
      const stored = await download(args, expected, resultsUri, prices);
      const outcome = await conclude(args, expected, resultsUri, stored, prices);
      countOutcome(outcome);
      return outcome;
    },
  };
}
