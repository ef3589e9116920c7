import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cutoffAt, deadlineAt, defaultMarginMs, readableDeadline, syncDrainMs } from '../../shared/deadline.js';
import { errorTypeOfStatus, retryableStatus, retryAfterSeconds, syncRetryDelayMs } from '../../shared/sync-retry.js';
import { addAnswer, emptyMeasure, outputRatioOf, percentile, Reservoir } from '../../shared/pilot.js';
import { initialState, roundFinished, unansweredRequests, type ChunkState } from '../../shared/job-state.js';
import { syncReservationUsd } from '../../shared/budget.js';
import { estimateJob, seededRandom, type ModelSample } from '../../shared/estimate.js';
import { loadPriceTable } from '../../config/load.js';

const START = Date.parse('2026-12-02T00:00:00Z');

describe('deadline: when the job stops waiting for batches', () => {
  it('reads an absolute time as given and a duration from the start', () => {
    assert.equal(deadlineAt('2026-12-02T06:00:00Z', START), START + 6 * 3600_000);
    assert.equal(deadlineAt('6h', START), START + 6 * 3600_000);
    assert.ok(readableDeadline('90m'));
    assert.ok(readableDeadline('2026-12-02T06:00:00+01:00'));
    assert.ok(!readableDeadline('2026-12-02 06:00'), 'a time without a zone is ambiguous');
    assert.ok(!readableDeadline('tomorrow'));
  });

  it('counts back the synchronous drain and the margin, and moves later as requests are answered', () => {
    assert.equal(syncDrainMs(100, 8, 30_000), 13 * 30_000);
    const d = { at: '6h', margin: '10m', concurrency: 8 };
    // 100 requests, 8 at a time, 30 s each (the default): 13 × 30 s = 6.5 min; then 10 min of margin.
    assert.equal(cutoffAt(d, START, 100, null), START + 6 * 3600_000 - 390_000 - 600_000);
    assert.equal(cutoffAt(d, START, 8, null), START + 6 * 3600_000 - 30_000 - 600_000);
    // A pilot's measured answer time replaces the assumption.
    assert.equal(cutoffAt(d, START, 100, 2000), START + 6 * 3600_000 - 26_000 - 600_000);
    assert.equal(cutoffAt({ ...d, requestSeconds: 1 }, START, 16, null), START + 6 * 3600_000 - 2000 - 600_000);
  });

  it('keeps a tenth of the time as margin by default, between one minute and half an hour', () => {
    assert.equal(defaultMarginMs(START + 3600_000, START), 360_000);
    assert.equal(defaultMarginMs(START + 60_000, START), 60_000);
    assert.equal(defaultMarginMs(START + 24 * 3600_000, START), 1_800_000);
  });

  it('counts the unanswered requests of the current round only', () => {
    const state = initialState(START);
    const c = (id: string, requests: number, over: Partial<ChunkState>): ChunkState => ({
      ref: { id, round: 0, index: 0, uri: id, requests, bytes: 1 },
      status: 'pending',
      ...over,
    });
    state.chunks = [
      c('a', 10, { status: 'done', outcome: { retryUri: 'x', retryable: 3, outcomes: {}, costUsd: 0 } }),
      c('b', 20, { status: 'in_progress' }),
      c('c', 30, {}),
      c('d', 40, { status: 'held_back' }),
    ];
    assert.equal(unansweredRequests(state), 3 + 20 + 30);
    state.chunks[1]!.status = 'done';
    state.chunks[2]!.status = 'rerouted';
    assert.ok(roundFinished(state), 'a rerouted chunk finishes its round: the synchronous round answers it');
  });
});

describe('synchronous fallback: what is tried again, and when', () => {
  it('retries rate limits, overload, server errors and lost connections; not a refused request', () => {
    for (const s of [429, 529, 500, 503, undefined]) assert.ok(retryableStatus(s), String(s));
    for (const s of [400, 401, 403, 404, 413]) assert.ok(!retryableStatus(s), String(s));
    assert.equal(errorTypeOfStatus(529), 'overloaded_error');
    assert.equal(errorTypeOfStatus(429), 'rate_limit_error');
    assert.equal(errorTypeOfStatus(400), 'invalid_request_error');
  });

  it('waits as retry-after says, backs off without it, and gives up rather than pass the stop time', () => {
    assert.equal(syncRetryDelayMs(1, 3, 0, 60_000, 0.5), 3000);
    assert.equal(syncRetryDelayMs(1, null, 0, 60_000, 0), 500);
    assert.equal(syncRetryDelayMs(4, null, 0, 60_000, 1 - 1e-9) !== null, true);
    assert.ok(syncRetryDelayMs(4, null, 0, 60_000, 0.999)! <= 8000);
    assert.equal(syncRetryDelayMs(10, null, 0, Infinity, 0.999)! <= 60_000, true, 'capped at a minute');
    assert.equal(syncRetryDelayMs(1, 30, 0, 20_000, 0.5), null, 'retry-after beyond the deadline');
    assert.equal(retryAfterSeconds('7', 0), 7);
    assert.equal(retryAfterSeconds(new Date(10_000).toUTCString(), 0), 10);
    assert.equal(retryAfterSeconds(null, 0), null);
  });

  it("holds one synchronous request at the estimate's worst case per request, at standard rates", () => {
    const worst = { tokens: { input: 0, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 } };
    const estimate = {
      requests: 50,
      inputErrorBound: 0.1,
      worst: { ...worst, batchUsd: 1, standardUsd: 2 },
    } as Parameters<typeof syncReservationUsd>[0];
    assert.ok(Math.abs(syncReservationUsd(estimate)! - (2 / 50) * 1.1) < 1e-15);
    assert.equal(syncReservationUsd(null), undefined);
  });
});

describe('pilot: measuring output', () => {
  it('estimates the output ratio as Σ output / Σ max_tokens, with a 95% bound worked out by hand', () => {
    const m = emptyMeasure();
    addAnswer(m, 50, 100);
    addAnswer(m, 30, 100);
    addAnswer(m, 70, 100);
    addAnswer(m, 50, 100);
    const r = outputRatioOf(m)!;
    assert.equal(r.ratio, 0.5);
    // Residuals 0, −20, 20, 0: Σ² = 800; /(n−1) = 266.67; /(n · 100²) = 0.0066667; √ = 0.08165; ×1.96 / 0.5.
    assert.ok(Math.abs(r.errorBound - (1.96 * Math.sqrt(800 / 3 / 40_000)) / 0.5) < 1e-12, String(r.errorBound));
    assert.equal(outputRatioOf(emptyMeasure()), null);
    const one = emptyMeasure();
    addAnswer(one, 10, 100);
    assert.deepEqual(outputRatioOf(one), { ratio: 0.1, errorBound: 1 }, 'one answer: no interval');
  });

  it("takes the pilot's measured uncached share for the best case of caching, keeping every prompt token", () => {
    // 100 requests of 1,100 prompt tokens, a 1,000-token cached prefix: count_tokens differences say 100 uncached.
    const s: ModelSample = {
      requests: 100,
      maxTokensSum: 10_000,
      chunks: 2,
      counted: 100,
      inputSum: 110_000,
      inputSquares: 100 * 1100 * 1100,
      cacheableCounted: 100,
      prefixSum: 100_000,
      cacheTtl: '5m',
      minCacheableTokens: 1024 - 100,
    };
    const prices = loadPriceTable();
    const planned = estimateJob({ 'claude-haiku-4-5': s }, prices, 0.5);
    assert.deepEqual(planned.tokens, {
      input: 10_000,
      output: 5000,
      cacheWrite5m: 2000,
      cacheWrite1h: 0,
      cacheRead: 98_000,
    });
    const best = estimateJob({ 'claude-haiku-4-5': s }, prices, 0.5, 'all-read');
    assert.deepEqual(best.tokens, {
      input: 10_000,
      output: 5000,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      cacheRead: 100_000,
    });
    // A pilot billed 5% of its prompts as uncached (the API put framing tokens in the prefix): the best case follows.
    const measured = estimateJob({ 'claude-haiku-4-5': s }, prices, 0.5, 'all-read', 0.05);
    assert.deepEqual(measured.tokens, {
      input: 5500,
      output: 5000,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      cacheRead: 104_500,
    });
    assert.ok(measured.batchUsd < best.batchUsd && best.batchUsd < planned.batchUsd);
    // A measured share above the count-based one never raises the best case.
    assert.deepEqual(estimateJob({ 'claude-haiku-4-5': s }, prices, 0.5, 'all-read', 0.5).tokens, best.tokens);
  });

  it('takes the nearest-rank percentile of answer times', () => {
    assert.equal(percentile([5, 1, 4, 2, 3, 6, 7, 8, 9, 10], 0.9), 9);
    assert.equal(percentile([], 0.9), null);
  });

  it('samples uniformly and hands back every item it does not keep, exactly once', () => {
    const counts = new Array<number>(50).fill(0);
    for (let run = 0; run < 400; run++) {
      const r = new Reservoir<number>(5, seededRandom(run + 1));
      const passed: number[] = [];
      for (let i = 0; i < 50; i++) {
        const back = r.offer(i);
        if (back !== undefined) passed.push(back);
      }
      assert.equal(r.sample.length, 5);
      assert.deepEqual(
        [...passed, ...r.sample].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i),
      );
      for (const k of r.sample) counts[k]!++;
    }
    // Each item is kept with probability 5/50: 40 times in 400 runs on average.
    assert.ok(Math.min(...counts) >= 20 && Math.max(...counts) <= 65, counts.join(','));
  });
});
