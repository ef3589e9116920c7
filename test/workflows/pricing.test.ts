import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadPriceTable } from '../../config/load.js';
import {
  costOf,
  priceOf,
  priceTableAgeDays,
  ratesFor,
  requestNanoUsd,
  unpricedModels,
  UserPriceSchema,
  usdOfNano,
  withPrices,
  ZERO_TOKENS,
  type TokenTotals,
} from '../../shared/pricing.js';

/**
 * The price math against figures worked out by hand from Anthropic's pricing and model pages (USD per million
 * tokens, standard rates; batch = half of every rate).
 */
describe('price table and price math', () => {
  const table = loadPriceTable();
  const t = (over: Partial<TokenTotals>): TokenTotals => ({ ...ZERO_TOKENS, ...over });
  const usd = (model: string, tokens: TokenTotals, tier: 'batch' | 'standard') =>
    usdOfNano(table, requestNanoUsd(table, model, tokens)!, tier);

  it('is dated and sourced, and names every current model', () => {
    assert.match(table.asOf, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(table.sources.some((s) => s.includes('platform.claude.com/docs/en/about-claude/pricing')));
    for (const m of [
      'claude-opus-5-5',
      'claude-sonnet-5-5',
      'claude-haiku-5-5',
      'claude-fable-5-1',
      'claude-haiku-4-5',
    ])
      assert.ok(priceOf(table, m), m);
  });

  it('a plain model: Haiku 4.5, 1M input + 1M output at batch = $0.50 + $2.50', () => {
    assert.equal(usd('claude-haiku-4-5', t({ input: 1_000_000, output: 1_000_000 }), 'batch'), 3);
    assert.equal(usd('claude-haiku-4-5', t({ input: 1_000_000, output: 1_000_000 }), 'standard'), 6);
  });

  it('per-model cache rates: Opus 5.5 reads the cache at $0.20 (0.05× input), not 0.1×, and writes at $5 / $8', () => {
    // 2,000 uncached input × $4 + 10,000 5m writes × $5 + 3,000 1h writes × $8 + 100,000 reads × $0.20
    // + 500 output × $20 = 0.008 + 0.05 + 0.024 + 0.02 + 0.01 = $0.112 standard, $0.056 batch.
    const tokens = t({ input: 2000, cacheWrite5m: 10_000, cacheWrite1h: 3000, cacheRead: 100_000, output: 500 });
    assert.equal(usd('claude-opus-5-5', tokens, 'standard'), 0.112);
    assert.equal(usd('claude-opus-5-5', tokens, 'batch'), 0.056);
    // The same tokens at the old uniform multipliers (read 0.1× = $0.40) would be $0.132: the table is per model.
    assert.notEqual(usd('claude-opus-5-5', tokens, 'standard'), 0.132);
  });

  it('Sonnet 5.5: $2 / $10, cache read $0.10', () => {
    // 1,000 input × 2 + 50,000 reads × 0.10 + 1,000 output × 10 = 0.002 + 0.005 + 0.01 = $0.017
    assert.equal(usd('claude-sonnet-5-5', t({ input: 1000, cacheRead: 50_000, output: 1000 }), 'standard'), 0.017);
  });

  it('Haiku 5.5 by prompt length: a prompt of exactly 100,000 tokens is the low tier, one more token the high one, on every token', () => {
    const at = t({ input: 40_000, cacheRead: 60_000, output: 2000 }); // prompt = 100,000
    // 40,000 × 0.10 + 60,000 × 0.01 + 2,000 × 0.50 = 0.004 + 0.0006 + 0.001 = $0.0056 standard, $0.0028 batch
    assert.equal(usd('claude-haiku-5-5', at, 'standard'), 0.0056);
    assert.equal(usd('claude-haiku-5-5', at, 'batch'), 0.0028);
    const over = t({ input: 40_001, cacheRead: 60_000, output: 2000 }); // prompt = 100,001
    // 40,001 × 0.50 + 60,000 × 0.05 + 2,000 × 2.50 = 0.0200005 + 0.003 + 0.005 = $0.0280005
    assert.equal(usd('claude-haiku-5-5', over, 'standard'), 0.0280005);
    // Cache writes count toward the prompt and are priced in the tier too: 100,001 5m writes × $0.625
    assert.equal(usd('claude-haiku-5-5', t({ cacheWrite5m: 100_001 }), 'standard'), 0.062500625);
    // Batch halves it: 31,250,312.5 nano-dollars, the half rounded up as the bill rounds it.
    assert.equal(usd('claude-haiku-5-5', t({ cacheWrite5m: 100_001 }), 'batch'), 0.031250313);
    assert.equal(ratesFor(priceOf(table, 'claude-haiku-5-5')!, 100_000).input, 0.1);
    assert.equal(ratesFor(priceOf(table, 'claude-haiku-5-5')!, 100_001).input, 0.5);
  });

  it('sums by request are exact whatever the order (whole nano-dollars), and tiers are chosen per request', () => {
    const small = t({ input: 1000, output: 10 });
    const big = t({ input: 150_000, output: 10 });
    const a = requestNanoUsd(table, 'claude-haiku-5-5', small)! + requestNanoUsd(table, 'claude-haiku-5-5', big)!;
    const b = requestNanoUsd(table, 'claude-haiku-5-5', big)! + requestNanoUsd(table, 'claude-haiku-5-5', small)!;
    assert.equal(a, b);
    assert.ok(Number.isInteger(a));
    // 1,000 × 0.10 + 10 × 0.50 = 105 µ$… in nano: 100,000 + 5,000; 150,000 × 0.50 + 10 × 2.50 = 75,025,000
    assert.equal(a, 105_000 + 75_025_000);
    // Priced on the totals at the base rate, the big request would be far too cheap: per request matters.
    assert.ok(costOf(table, 'claude-haiku-5-5', t({ input: 151_000, output: 20 }), 'standard')! < a / 1e9 / 4);
  });

  it('snapshots and aliases find their row; a model the table lacks has no price (never $0)', () => {
    assert.equal(priceOf(table, 'claude-haiku-4-5-20251001'), table.models['claude-haiku-4-5']);
    assert.equal(priceOf(table, 'claude-3-5-haiku-latest'), table.models['claude-haiku-3-5']);
    assert.equal(requestNanoUsd(table, 'claude-unknown-9', t({ input: 10 })), undefined);
    assert.deepEqual(unpricedModels(table, ['claude-haiku-4-5', 'claude-unknown-9', 'claude-unknown-9']), [
      'claude-unknown-9',
    ]);
  });

  it("the user's own prices: cache rates default to the usual multiples; they join or replace the table's rows", () => {
    const own = UserPriceSchema.parse({ input: 3, output: 12 });
    assert.deepEqual(own, { input: 3, output: 12, cacheWrite5m: 3.75, cacheWrite1h: 6, cacheRead: 0.3 });
    const mine = withPrices(table, { 'claude-unknown-9': own });
    assert.deepEqual(unpricedModels(mine, ['claude-unknown-9']), []);
    // 1M input × $3 + 1M output × $12, batch: $7.50
    assert.equal(
      usdOfNano(mine, requestNanoUsd(mine, 'claude-unknown-9', t({ input: 1e6, output: 1e6 }))!, 'batch'),
      7.5,
    );
    assert.equal(table.models['claude-unknown-9'], undefined, 'the worker table is not changed');
  });

  it('knows its age', () => {
    assert.equal(priceTableAgeDays({ ...table, asOf: '2026-09-01' }, Date.parse('2026-12-01T12:00:00Z')), 91);
  });
});
