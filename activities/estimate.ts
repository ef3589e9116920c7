import { createHash } from 'node:crypto';
import { heartbeat } from '@temporalio/activity';
import { NotFoundError } from '@anthropic-ai/sdk';
import { findModel } from '../config/load.js';
import { estimateJob, type Estimate, type ModelSample } from '../shared/estimate.js';
import {
  countableParams,
  maxTokensOf,
  ModelSamples,
  ModelTotals,
  type ModelRequests,
  type SampleRule,
} from '../shared/estimate-sampling.js';
import type { ChunkRef } from '../shared/job-types.js';
import { ApplicationFailure } from '@temporalio/common';
import { priceTableAgeDays, roundUsd, unpricedModels, withPrices, type ModelPrice } from '../shared/pricing.js';
import { outputRatioOf, uncachedShareOf, type PilotMeasure } from '../shared/pilot.js';
import { saveJobPrices } from './job-prices.js';
import { beforeSubmitError } from './api-errors.js';
import type { ActivityDeps } from './deps.js';
import { lines } from './jsonl.js';
import { recordedRequests } from './estimate-sample.js';
import { estimatedUsd } from './metrics.js';

type Params = Record<string, unknown>;
const COUNT_CONCURRENCY = 8;

export interface EstimateArgs {
  chunks: ChunkRef[];
  estimate: { outputRatio: number; exhaustiveMax: number; sampleSize: number; seed: number };
  /** Where the job keeps the price table it is costed with (absent for jobs of older builds). */
  jobDir?: string;
  /** Prices the user gave for the job, per model: added to the worker's table or put in place of its rows. */
  prices?: Record<string, ModelPrice>;
  /** What the job's pilot measured: its output ratio replaces the assumed one. */
  pilot?: { requests: number; costUsd: number; measure: PilotMeasure };
}

function cacheTtl(params: Params): '5m' | '1h' | null {
  const blocks = [
    ...(Array.isArray(params.system) ? params.system : []),
    ...(Array.isArray(params.tools) ? params.tools : []),
  ];
  let ttl: '5m' | '1h' | null = null;
  for (const b of blocks as { cache_control?: { ttl?: string } }[]) {
    if (b?.cache_control) ttl = b.cache_control.ttl === '1h' || ttl === '1h' ? '1h' : '5m';
  }
  return ttl;
}

/**
 * Input tokens from count_tokens (every request of a small job; a seeded random sample per model otherwise, with a
 * 95% error bound), output from max_tokens × the expected-output ratio, caching from the shared prefixes, all
 * priced at batch and at synchronous prices.
 */
export function estimateActivities(deps: ActivityDeps) {
  return {
    async estimateCost(args: EstimateArgs): Promise<Estimate> {
      const total = args.chunks.reduce((sum, c) => sum + c.requests, 0);
      const rule: SampleRule = {
        exhaustive: total <= args.estimate.exhaustiveMax,
        sampleSize: args.estimate.sampleSize,
        seed: args.estimate.seed,
      };
      // Prepare's pass gathered it all already, for these very chunks (prepared by this build, with the default
      // sample settings); else one pass over the chunks.
      const requests =
        (await recordedRequests(deps.store, args.chunks, rule)) ?? (await readChunks(deps, args.chunks, rule));
      const perModel = new Map(
        [...requests].map(([model, r]) => {
          const s: ModelSample = {
            requests: r.requests,
            maxTokensSum: r.maxTokensSum,
            chunks: r.chunks,
            counted: 0,
            inputSum: 0,
            inputSquares: 0,
            cacheableCounted: 0,
            prefixSum: 0,
            cacheTtl: '5m',
            minCacheableTokens: findModel(deps.models, model)?.minCacheableTokens ?? 1024,
          };
          return [model, { s, reservoir: r.sample }];
        }),
      );

      // Before any token is counted: a model without a price would be costed at $0 and slip past the approval gate.
      const prices = args.jobDir
        ? await saveJobPrices(deps, args.jobDir, args.prices)
        : withPrices(deps.prices, args.prices);
      const unpriced = unpricedModels(prices, perModel.keys());
      if (unpriced.length > 0)
        throw ApplicationFailure.nonRetryable(
          `No price for ${unpriced.join(', ')} in the price table of ${prices.asOf}: a job is never costed at $0, so nothing was submitted. Give the job a price for ${unpriced.length > 1 ? 'them' : 'it'} (USD per million tokens) or use a newer price table.`,
          'UnpricedModel',
          { unpriced, asOf: prices.asOf },
        );

      const prefixCache = new Map<string, number>();
      const baseline = new Map<string, number>();
      const count = async (p: Params) => (await deps.anthropic.messages.countTokens(p as never)).input_tokens;
      const unknown = new Set<string>();
      let done = 0;

      // count_tokens may wait out rate limits (the SDK sleeps through retry-after): keep the heartbeat going meanwhile.
      const beat = setInterval(() => heartbeat({ counted: done }), 5000);
      try {
        for (const [model, { s, reservoir }] of perModel) {
          const queue = [...reservoir];
          const worker = async () => {
            for (let p = queue.shift(); p; p = queue.shift()) {
              try {
                const n = await count(countableParams(p));
                s.counted++;
                s.inputSum += n;
                s.inputSquares += n * n;
                const ttl = cacheTtl(p);
                if (ttl) {
                  if (ttl === '1h') s.cacheTtl = '1h';
                  const minimal = { model, messages: [{ role: 'user', content: '.' }] };
                  if (!baseline.has(model)) baseline.set(model, await count(minimal));
                  const key = createHash('sha256')
                    .update(JSON.stringify([model, p.system, p.tools]))
                    .digest('hex');
                  if (!prefixCache.has(key))
                    prefixCache.set(
                      key,
                      (await count({ ...minimal, system: p.system, tools: p.tools })) - baseline.get(model)!,
                    );
                  s.cacheableCounted++;
                  s.prefixSum += prefixCache.get(key)!;
                }
              } catch (err) {
                if (!(err instanceof NotFoundError)) throw beforeSubmitError(err, 'token count');
                unknown.add(model);
              }
              if (++done % 50 === 0) heartbeat({ counted: done });
            }
          };
          await Promise.all(Array.from({ length: COUNT_CONCURRENCY }, worker));
        }
      } finally {
        clearInterval(beat);
      }

      const samples = Object.fromEntries([...perModel].map(([model, { s }]) => [model, s]));
      const measured = args.pilot ? outputRatioOf(args.pilot.measure) : null;
      const ratio = measured?.ratio ?? args.estimate.outputRatio;
      const estimate = estimateJob(samples, prices, ratio);
      const outputBound = measured?.errorBound ?? 0;
      const uncachedShare = args.pilot ? uncachedShareOf(args.pilot.measure) : null;
      const clamp = (r: number) => Math.min(1, Math.max(0, r));
      const expectedRange = {
        lowUsd: roundUsd(
          estimateJob(samples, prices, clamp(ratio * (1 - outputBound)), 'all-read', uncachedShare).batchUsd *
            (1 - estimate.inputErrorBound),
        ),
        highUsd: roundUsd(
          Math.min(
            estimate.worst?.batchUsd ?? Infinity,
            estimateJob(samples, prices, clamp(ratio * (1 + outputBound))).batchUsd * (1 + estimate.inputErrorBound),
          ),
        ),
      };
      const age = priceTableAgeDays(prices, Date.now());
      estimatedUsd.inc(estimate.batchUsd);
      return {
        ...estimate,
        expectedRange,
        ...(args.pilot
          ? {
              pilot: {
                requests: args.pilot.requests,
                answered: args.pilot.measure.n,
                costUsd: args.pilot.costUsd,
                outputErrorBound: outputBound,
                latencyP90Ms: args.pilot.measure.latencyP90Ms,
              },
            }
          : {}),
        unknownModels: [...new Set([...estimate.unknownModels, ...unknown])].sort(),
        ...(age * 86_400_000 > deps.pricesMaxAgeMs
          ? {
              priceTableWarning: `the price table is ${age} days old (as of ${prices.asOf}); check the prices with \`claude-batch prices\` and Anthropic's pricing page`,
            }
          : {}),
      };
    },
  };
}

/** The estimate's figures and sample per model, from one pass over the chunks' requests in order. */
async function readChunks(
  deps: ActivityDeps,
  chunks: readonly ChunkRef[],
  rule: SampleRule,
): Promise<Map<string, ModelRequests<Params>>> {
  const totals = new ModelTotals<string>();
  const samples = new ModelSamples<Params>(rule);
  for (const chunk of chunks) {
    for await (const raw of lines(deps.store.read(chunk.uri))) {
      const params = (JSON.parse(raw) as { params: Params }).params;
      const model = String(params.model);
      totals.add(model, maxTokensOf(params), chunk.id);
      samples.offer(model, params);
    }
  }
  return new Map(
    [...totals.entries()].map(([model, t]) => [
      model,
      { requests: t.requests, maxTokensSum: t.maxTokensSum, chunks: t.chunks.size, sample: samples.of(model) },
    ]),
  );
}
