import { costOf, type PriceTable, type TokenTotals } from './pricing.js';

/** What the estimate activity measured for one model's requests of a job. */
export interface ModelSample {
  /** All requests of the job for this model. */
  requests: number;
  /** Exact sum of max_tokens over those requests. */
  maxTokensSum: number;
  /** Chunks (batches) that carry requests of this model: each writes a shared cached prefix once. */
  chunks: number;
  /** Requests whose input tokens were counted (all of them, or a random sample). */
  counted: number;
  inputSum: number;
  inputSquares: number;
  /** Of the counted requests, those with a cache breakpoint in tools/system, and their prefix tokens. */
  cacheableCounted: number;
  prefixSum: number;
  cacheTtl: '5m' | '1h';
  /** The model's minimum cacheable prompt length (no caching below it). */
  minCacheableTokens: number;
}

export interface Estimate {
  method: 'exhaustive' | 'sample';
  sampleSize: number;
  /** Half-width of the 95% confidence interval of the input-token total, as a share of it (0 when exhaustive). */
  inputErrorBound: number;
  outputRatio: number;
  requests: number;
  tokens: TokenTotals;
  batchUsd: number;
  /** The same tokens at synchronous (standard) prices. */
  standardUsd: number;
  /**
   * The most the same requests can cost: no cache hit at all (every cacheable prefix written again, at the write
   * rate) and every answer using its whole max_tokens. Absent in estimates of older builds.
   */
  worst?: { tokens: TokenTotals; batchUsd: number; standardUsd: number };
  /** What the expected figure assumes about prompt caching, in words. */
  cacheAssumption?: string;
  priceTableAsOf: string;
  /** Set when the price table is older than the worker allows (`CLAUDE_BATCH_PRICES_MAX_AGE`). */
  priceTableWarning?: string;
  unknownModels: string[];
  /**
   * The pilot that measured the output (absent: `outputRatio` is the job's assumption). Its requests are not in
   * this estimate's figures: they were answered already, through the Messages API, for `costUsd`.
   */
  pilot?: {
    requests: number;
    answered: number;
    costUsd: number;
    /** Half-width of the 95% interval of the measured output ratio, as a share of it. */
    outputErrorBound: number;
    latencyP90Ms: number | null;
  };
  /**
   * The expected cost's range at batch prices: the 95% bounds of the input sample's and the pilot's errors, and at
   * its low end the best case of caching (every request reads a prefix cached already, e.g. by the pilot).
   */
  expectedRange?: { lowUsd: number; highUsd: number };
}

/**
 * Extrapolates counted input tokens to the whole job, models prompt caching (each batch writes the shared prefix
 * once; the rest of its requests read it), takes output as `outputRatio × max_tokens`, and prices it all at batch
 * and at standard prices.
 */
export function estimateJob(
  samples: Record<string, ModelSample>,
  prices: PriceTable,
  outputRatio: number,
  /** `per-batch`: each batch writes the shared prefix once; `all-read`: it is cached already (the best case). */
  caching: 'per-batch' | 'all-read' = 'per-batch',
  /**
   * In the best case, the share of each cacheable request's prompt left uncached when a pilot measured it lower
   * than count_tokens differences make it (the API may count framing tokens in the cached prefix).
   */
  uncachedShare: number | null = null,
): Estimate {
  const tokens: TokenTotals = { input: 0, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 };
  const worstTokens: TokenTotals = { ...tokens };
  const worst = { batchUsd: 0, standardUsd: 0 };
  let cachedRequests = 0;
  let batchUsd = 0;
  let standardUsd = 0;
  let variance = 0;
  let totalInput = 0;
  let counted = 0;
  let requests = 0;
  let exhaustive = true;
  const unknownModels: string[] = [];

  for (const [model, s] of Object.entries(samples)) {
    requests += s.requests;
    counted += s.counted;
    if (s.counted < s.requests) exhaustive = false;
    const n = Math.max(1, s.counted);
    const mean = s.inputSum / n;
    const modelInput = mean * s.requests;
    totalInput += modelInput;
    if (s.counted > 1 && s.counted < s.requests) {
      const sampleVariance = Math.max(0, (s.inputSquares - n * mean * mean) / (n - 1));
      const fpc = (s.requests - n) / Math.max(1, s.requests - 1);
      variance += ((s.requests * s.requests * sampleVariance) / n) * fpc;
    }

    const cacheableShare = s.counted > 0 ? s.cacheableCounted / s.counted : 0;
    const prefix = s.cacheableCounted > 0 ? s.prefixSum / s.cacheableCounted : 0;
    const cacheable = prefix >= s.minCacheableTokens ? Math.round(cacheableShare * s.requests) : 0;
    const writes = caching === 'all-read' ? 0 : Math.min(cacheable, s.chunks);
    let uncached = modelInput - cacheable * prefix;
    let cachedPrefix = prefix;
    if (caching === 'all-read' && uncachedShare !== null && cacheable > 0 && uncachedShare * modelInput < uncached) {
      uncached = uncachedShare * modelInput;
      cachedPrefix = (modelInput - uncached) / cacheable;
    }
    const t: TokenTotals = {
      input: Math.round(uncached),
      output: Math.round(s.maxTokensSum * outputRatio),
      cacheWrite5m: s.cacheTtl === '5m' ? Math.round(writes * prefix) : 0,
      cacheWrite1h: s.cacheTtl === '1h' ? Math.round(writes * prefix) : 0,
      cacheRead: Math.round((cacheable - writes) * cachedPrefix),
    };
    for (const k of Object.keys(tokens) as (keyof TokenTotals)[]) tokens[k] += t[k];
    cachedRequests += cacheable;
    // No hits: each cacheable request writes its prefix again (a write costs more than plain input).
    const w: TokenTotals = {
      input: t.input,
      output: s.maxTokensSum,
      cacheWrite5m: s.cacheTtl === '5m' ? Math.round(cacheable * prefix) : 0,
      cacheWrite1h: s.cacheTtl === '1h' ? Math.round(cacheable * prefix) : 0,
      cacheRead: 0,
    };
    for (const k of Object.keys(worstTokens) as (keyof TokenTotals)[]) worstTokens[k] += w[k];
    worst.batchUsd += costOf(prices, model, w, 'batch', mean) ?? 0;
    worst.standardUsd += costOf(prices, model, w, 'standard', mean) ?? 0;
    // A tiered model's tier depends on each request's prompt; the estimate goes by the mean one.
    const batch = costOf(prices, model, t, 'batch', mean);
    const standard = costOf(prices, model, t, 'standard', mean);
    if (batch === undefined || standard === undefined) unknownModels.push(model);
    batchUsd += batch ?? 0;
    standardUsd += standard ?? 0;
  }

  return {
    method: exhaustive ? 'exhaustive' : 'sample',
    sampleSize: counted,
    inputErrorBound: totalInput > 0 ? (1.96 * Math.sqrt(variance)) / totalInput : 0,
    outputRatio,
    requests,
    tokens,
    batchUsd,
    standardUsd,
    worst: { tokens: worstTokens, batchUsd: worst.batchUsd, standardUsd: worst.standardUsd },
    cacheAssumption:
      cachedRequests > 0
        ? 'each batch writes a shared cached prefix once and its other requests read it (hits in batches are best-effort; the worst case has none)'
        : 'no request has a cacheable prefix long enough to cache',
    priceTableAsOf: prices.asOf,
    unknownModels,
  };
}

/** Seeded PRNG (mulberry32): the same seed samples the same requests, so an estimate can be reproduced. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
