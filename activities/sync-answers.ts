import { cancellationSignal, heartbeat, log } from '@temporalio/activity';
import { APIError } from '@anthropic-ai/sdk';
import {
  addTokens,
  costOf,
  promptTokensOf,
  requestNanoUsd,
  tokensOfUsage,
  usdOfNano,
  ZERO_TOKENS,
} from '../shared/pricing.js';
import type { ModelPrice, TokensByModel } from '../shared/pricing.js';
import type { ChunkOutcome, ChunkRef } from '../shared/job-types.js';
import { erroredResult, outcomeOf, type ResultLine } from '../shared/results.js';
import { addAnswer, emptyMeasure, percentile, type PilotMeasure } from '../shared/pilot.js';
import { errorTypeOfStatus, retryableStatus, retryAfterSeconds, syncRetryDelayMs } from '../shared/sync-retry.js';
import { jobPrices, saveJobPrices } from './job-prices.js';
import { countableParams } from '../shared/estimate-sampling.js';
import { outcomeUri } from './fetch.js';
import type { ActivityDeps } from './deps.js';
import { lines, writeLines } from './jsonl.js';
import { countOutcome } from './metrics.js';

type Params = Record<string, unknown>;

export interface SyncChunkArgs {
  jobDir: string;
  chunk: ChunkRef;
  /** Requests in flight at once. */
  concurrency: number;
  /** Epoch ms after which nothing is sent and no retry waits (the job's deadline); null when there is none. */
  stopAt: number | null;
  /**
   * The most these requests may cost (standard rates). Each request is held at `perRequestUsd` (the estimate's
   * worst case per request) or, without it, at its own worst case from count_tokens, before it is sent.
   */
  budget: { maxUsd: number; perRequestUsd?: number } | null;
  /**
   * Requests left without an answer (over budget, past the deadline, failing after every retry): `retry` lists
   * them for the next round of batches (a pilot); `answer` gives each an errored line of its own (the last round).
   */
  leftovers: 'retry' | 'answer';
  /** Measure output against max_tokens and answer times (a pilot). */
  measure?: boolean;
  /** The job was canceled: send nothing more, keep what was answered, and answer the rest `canceled`. */
  canceled?: boolean;
  /** Prices the user gave for the job: the job's table is fixed now if the pilot comes before the estimate. */
  prices?: Record<string, ModelPrice>;
}

/** A part is committed after this many answers or this long, whichever comes first: what a crash can cost again. */
const PART_ANSWERS = 50;
const PART_MS = 2000;

interface Answer {
  id: string;
  line: string;
}

/**
 * Answers a chunk's requests through the synchronous Messages API — a pilot before the batches, or what is left at
 * a deadline — `concurrency` at a time, waiting out 429/529 as `retry-after` says, within a budget and a stop
 * time. Answers are committed in small parts as they come, so a retried attempt sends only what has no answer yet
 * (the Messages API has no idempotency key: an answer lost in a crash is paid again, at most a part's worth).
 * Each result line carries `"via": "sync"`; the outcome is priced at standard rates.
 */
export function syncAnswerActivities(deps: ActivityDeps) {
  const { store } = deps;

  return {
    async answerSynchronously(args: SyncChunkArgs): Promise<ChunkOutcome> {
      const dir = store.join(args.jobDir, 'rounds', String(args.chunk.round), 'sync', args.chunk.id);
      const prices = args.prices
        ? await saveJobPrices(deps, args.jobDir, args.prices)
        : await jobPrices(deps, args.jobDir);
      const parts = (await store.list(dir)).filter((n) => /^part-\d+\.jsonl$/.test(n)).sort();
      const answered = new Set<string>();
      let spentUsd = 0;
      for (const name of parts)
        for await (const raw of lines(store.read(store.join(dir, name)))) {
          if (!raw) continue;
          const line = JSON.parse(raw) as ResultLine;
          answered.add(line.custom_id);
          spentUsd += usdOfLine(line);
        }
      const kept = answered.size;
      if (kept > 0)
        log.info(`chunk ${args.chunk.id}: ${answered.size} synchronous answers kept from an earlier attempt`);

      function usdOfLine(line: ResultLine): number {
        if (line.result.type !== 'succeeded') return 0;
        const m = line.result.message;
        return (requestNanoUsd(prices, m.model, tokensOfUsage(m.usage)) ?? 0) / 1e9;
      }

      let pending: Answer[] = [];
      let partNo = parts.length;
      let lastFlush = Date.now();
      let flushing: Promise<void> = Promise.resolve();
      const flush = () => {
        if (pending.length === 0) return flushing;
        const batch = pending;
        pending = [];
        lastFlush = Date.now();
        const uri = store.join(dir, `part-${String(++partNo).padStart(5, '0')}.jsonl`);
        flushing = flushing.then(async () => {
          await writeLines(
            store,
            uri,
            batch.map((a) => a.line),
          );
          heartbeat({ answered: answered.size });
        });
        return flushing;
      };

      const signal = cancellationSignal();
      const latencies: number[] = [];
      let held = 0;
      let sent = 0;
      const leftover: { id: string; result: ResultLine['result'] }[] = [];
      const keep = (id: string, result: ResultLine['result']) => {
        answered.add(id);
        pending.push({ id, line: JSON.stringify({ custom_id: id, result, via: 'sync' }) });
        if (pending.length >= PART_ANSWERS || Date.now() - lastFlush >= PART_MS) void flush();
      };

      const holdFor = async (params: Params): Promise<number> => {
        if (!args.budget) return 0;
        if (args.budget.perRequestUsd !== undefined) return args.budget.perRequestUsd;
        const input = (await deps.anthropic.messages.countTokens(countableParams(params) as never)).input_tokens;
        // No cache hit and a full answer: every input token at the 1h cache-write rate (the dearest input rate).
        const worst = { ...ZERO_TOKENS, cacheWrite1h: input, output: Number(params.max_tokens) || 0 };
        return costOf(prices, String(params.model), worst, 'standard', input) ?? Infinity;
      };

      /** One request, tried until it is answered, fails for good, or the stop time would pass; returns its cost. */
      async function answer(id: string, params: Params): Promise<number> {
        for (let attempt = 1; ; attempt++) {
          if (signal.aborted) throw signal.reason;
          const now = Date.now();
          if (args.stopAt !== null && now >= args.stopAt) {
            leftover.push({ id, result: erroredResult('deadline_exceeded', 'the job reached its deadline first') });
            return 0;
          }
          const started = Date.now();
          try {
            const timeout = args.stopAt !== null ? Math.max(5000, args.stopAt - now) : 10 * 60_000;
            const message = await deps.anthropic.messages.create({ ...params, stream: false } as never, {
              maxRetries: 0,
              timeout,
              signal,
            });
            latencies.push(Date.now() - started);
            sent++;
            const result = { type: 'succeeded', message } as ResultLine['result'];
            keep(id, result);
            return usdOfLine({ custom_id: id, result });
          } catch (err) {
            if (signal.aborted) throw signal.reason ?? err;
            const status = err instanceof APIError ? err.status : undefined;
            const message = err instanceof Error ? err.message : String(err);
            const type = errorTypeOfStatus(status);
            if (!retryableStatus(status)) {
              keep(id, erroredResult(type, message)); // the request itself is wrong: sending it again fails again
              return 0;
            }
            const retryAfter =
              err instanceof APIError ? retryAfterSeconds(err.headers?.get('retry-after'), Date.now()) : null;
            const delay = syncRetryDelayMs(attempt, retryAfter, Date.now(), args.stopAt ?? Infinity, Math.random());
            if (delay === null || attempt >= 10) {
              leftover.push({ id, result: erroredResult(type, `${message} (after ${attempt} attempts)`) });
              return 0;
            }
            heartbeat({ answered: answered.size, waitingMs: delay });
            await new Promise((resolve) => setTimeout(resolve, delay));
          }
        }
      }

      async function* requests(): AsyncGenerator<{ id: string; params: Params }> {
        for await (const raw of lines(store.read(args.chunk.uri))) {
          if (!raw) continue;
          const { custom_id, params } = JSON.parse(raw) as { custom_id: string; params: Params };
          if (!answered.has(custom_id)) yield { id: custom_id, params };
        }
      }

      const beat = setInterval(() => heartbeat({ answered: answered.size }), 5000);
      const queue = requests();
      if (args.canceled)
        for (let next = await queue.next(); !next.done; next = await queue.next())
          leftover.push({ id: next.value.id, result: { type: 'canceled' } });
      try {
        const worker = async () => {
          for (let next = await queue.next(); !next.done; next = await queue.next()) {
            const { id, params } = next.value;
            if (args.budget) {
              const hold = await holdFor(params);
              if (spentUsd + held + hold > args.budget.maxUsd + 1e-12) {
                const why = 'not sent: its worst case could pass the budget';
                leftover.push({ id, result: erroredResult('budget_exceeded', why) });
                continue;
              }
              held += hold;
              // Not `spentUsd += await …`: that reads spentUsd before the await and loses other workers' answers.
              const cost = await answer(id, params);
              spentUsd += cost;
              held -= hold;
            } else await answer(id, params);
          }
        };
        // Every worker settles first: an answer that arrives while another worker fails is kept too.
        const settled = await Promise.allSettled(Array.from({ length: Math.max(1, args.concurrency) }, worker));
        const failed = settled.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      } catch (err) {
        // Canceled or failed: every answer received is committed, so the next attempt does not pay for it again.
        await flush().catch(() => undefined);
        throw err;
      } finally {
        clearInterval(beat);
      }
      await flush();
      if (sent > 0) log.info(`chunk ${args.chunk.id}: ${sent} requests answered synchronously`);
      return finish(args, dir, leftover, latencies, kept);
    },
  };

  /** Merges the parts (and, in the last round, the leftovers' own lines) into the chunk's results, and tallies. */
  async function finish(
    args: SyncChunkArgs,
    dir: string,
    leftover: { id: string; result: ResultLine['result'] }[],
    latencies: number[],
    kept: number,
  ): Promise<ChunkOutcome> {
    const prices = await jobPrices(deps, args.jobDir);
    const roundDir = store.join(args.jobDir, 'rounds', String(args.chunk.round));
    const resultsUri = store.join(roundDir, 'results', `${args.chunk.id}.jsonl`);
    const maxTokens = args.measure ? await maxTokensOf(args.chunk) : new Map<string, number>();
    const measure: PilotMeasure = emptyMeasure();
    const outcomes: Record<string, number> = {};
    const tokens: TokensByModel = {};
    let nano = 0;
    const unpriced = new Set<string>();
    const tally = (raw: string) => {
      const line = JSON.parse(raw) as ResultLine;
      const key = outcomeOf(line.result);
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      if (line.result.type !== 'succeeded') return;
      const m = line.result.message;
      const used = tokensOfUsage(m.usage);
      tokens[m.model] = addTokens(tokens[m.model] ?? ZERO_TOKENS, used);
      const cost = requestNanoUsd(prices, m.model, used);
      if (cost === undefined) unpriced.add(m.model);
      else nano += cost;
      if (args.measure)
        addAnswer(measure, used.output, maxTokens.get(line.custom_id) ?? 0, {
          uncached: used.input,
          prompt: promptTokensOf(used),
        });
    };
    async function* merged() {
      for (const name of (await store.list(dir)).filter((n) => /^part-\d+\.jsonl$/.test(n)).sort())
        for await (const raw of lines(store.read(store.join(dir, name)))) if (raw) yield raw;
      if (args.leftovers === 'answer')
        for (const { id, result } of leftover) yield JSON.stringify({ custom_id: id, result, via: 'sync' });
    }
    await writeLines(store, resultsUri, merged(), tally);
    const retryIds = args.leftovers === 'retry' ? leftover.map((l) => l.id) : [];
    const retryUri = store.join(roundDir, 'retry', `${args.chunk.id}.ids`);
    if (retryIds.length > 0) await writeLines(store, retryUri, retryIds);
    else await store.remove(retryUri);
    measure.latencyP90Ms = percentile(latencies, 0.9);
    const outcome: ChunkOutcome = {
      chunkId: args.chunk.id,
      round: args.chunk.round,
      batchId: null,
      via: 'sync',
      requests: args.chunk.requests,
      resultsUri,
      retryUri: retryIds.length > 0 ? retryUri : null,
      retryable: retryIds.length,
      outcomes,
      tokens,
      // The Messages API bills at standard rates: no batch discount on either figure.
      costUsd: usdOfNano(prices, nano, 'standard'),
      standardUsd: usdOfNano(prices, nano, 'standard'),
      standardNanoUsd: nano,
      ...(unpriced.size ? { unpricedModels: [...unpriced].sort() } : {}),
      ...(args.measure ? { measure } : {}),
      resumedFromLine: kept,
    };
    await store.writeJson(outcomeUri(deps, args.jobDir, args.chunk), outcome);
    countOutcome(outcome);
    return outcome;
  }

  async function maxTokensOf(chunk: ChunkRef): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for await (const raw of lines(store.read(chunk.uri))) {
      if (!raw) continue;
      const { custom_id, params } = JSON.parse(raw) as { custom_id: string; params: Params };
      out.set(custom_id, Number(params.max_tokens) || 0);
    }
    return out;
  }
}
