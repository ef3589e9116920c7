import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type Anthropic from '@anthropic-ai/sdk';
import { Bill, PriceList, usdOf, totalOf, type TokenTotals } from '../../emulator/billing.js';
import { loadModelCatalog } from '../../emulator/catalog.js';
import { collect, startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';

// Every expected figure below is worked out by hand from the pricing page, not read from emulator/prices.json: the
// point is to catch a wrong row in that file. The sums in the comments are tokens × USD per million tokens, so the
// dollars are that sum / 1,000,000.

const catalog = loadModelCatalog();
const prices = PriceList.load(catalog);
const pricesFile = fileURLToPath(new URL('../../../emulator/prices.json', import.meta.url));

const tokens = (t: Partial<TokenTotals>): TokenTotals => ({
  input: 0,
  output: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  cacheRead: 0,
  ...t,
});
const MTOK = 1_000_000;
const usd = (model: string, t: Partial<TokenTotals>, tier: 'batch' | 'standard') =>
  usdOf(totalOf(prices.charge(model, tokens(t), tier).amount));

/** Exact to the nano-dollar the bill rounds to; a hand figure in floating point may be off in its last bits. */
function assertUsd(actual: number, expected: number, what: string) {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} ≠ ${expected}`);
}

describe('emulator prices, worked out by hand', () => {
  it('bills a plain model class by class, batch at half of standard', () => {
    const t = { input: 1000, output: 500, cacheWrite5m: 2000, cacheWrite1h: 3000, cacheRead: 4000 };
    // Haiku 4.5: 1000×$1 + 500×$5 + 2000×$1.25 + 3000×$2 + 4000×$0.10 = 12,400.
    assertUsd(usd('claude-haiku-4-5', t, 'standard'), 0.0124, 'Haiku 4.5 standard');
    assertUsd(usd('claude-haiku-4-5', t, 'batch'), 0.0062, 'Haiku 4.5 batch');
    // Sonnet 4.5: 1000×3 + 500×15 + 2000×3.75 + 3000×6 + 4000×0.30 = 37,200.
    assertUsd(usd('claude-sonnet-4-5', t, 'standard'), 0.0372, 'Sonnet 4.5 standard');
    // Opus 4.1: one million 1h cache writes at $30, half in a batch.
    assertUsd(usd('claude-opus-4-1', { cacheWrite1h: MTOK }, 'standard'), 30, 'Opus 4.1 1h write');
    assertUsd(usd('claude-opus-4-1', { cacheWrite1h: MTOK }, 'batch'), 15, 'Opus 4.1 1h write, batch');
  });

  it('uses each model’s own cache rates, not one ratio of input', () => {
    const read = { cacheRead: MTOK };
    // 0.1 × input would be $0.40 for Opus 5.5; its page says $0.20 (0.05×).
    assertUsd(usd('claude-opus-5-5', read, 'standard'), 0.2, 'Opus 5.5 read');
    assertUsd(usd('claude-opus-5-5', read, 'batch'), 0.1, 'Opus 5.5 read, batch');
    assertUsd(usd('claude-opus-5-5', { cacheWrite5m: MTOK }, 'standard'), 5, 'Opus 5.5 5m write');
    assertUsd(usd('claude-opus-5-5', { cacheWrite1h: MTOK }, 'standard'), 8, 'Opus 5.5 1h write');
    assertUsd(usd('claude-opus-5', read, 'standard'), 0.5, 'Opus 5 read');
    assertUsd(usd('claude-sonnet-5-5', read, 'standard'), 0.1, 'Sonnet 5.5 read, after the 2026-10-07 cut');
    assertUsd(usd('claude-sonnet-5', read, 'standard'), 0.2, 'Sonnet 5 read');
    assertUsd(usd('claude-fable-5-1', read, 'standard'), 0.25, 'Fable 5.1 read (0.025×)');
    assertUsd(usd('claude-mythos-5-1', read, 'standard'), 0.25, 'Mythos 5.1 read');
    assertUsd(usd('claude-fable-5', read, 'standard'), 1, 'Fable 5 read');
    assertUsd(usd('claude-fable-5-1', { output: MTOK }, 'batch'), 25, 'Fable 5.1 output, batch');
    assertUsd(usd('claude-sonnet-4-6', read, 'batch'), 0.15, 'Sonnet 4.6 read, batch');
  });

  it('prices Haiku 5.5 by the prompt length of each request, for all of its tokens', () => {
    // Exactly 100,000 prompt tokens (40,000 + 50,000 + 6,000 + 4,000): still the low tier.
    const atLimit = { input: 40_000, cacheRead: 50_000, cacheWrite5m: 6_000, cacheWrite1h: 4_000, output: 2_000 };
    const low = prices.charge('claude-haiku-5-5', tokens(atLimit), 'standard');
    assert.equal(low.promptTokens, 100_000);
    assert.equal(low.longPrompt, false);
    // 40,000×0.10 + 50,000×0.01 + 6,000×0.125 + 4,000×0.20 + 2,000×0.50 = 4,000 + 500 + 750 + 800 + 1,000
    assertUsd(usdOf(totalOf(low.amount)), 0.00705, 'Haiku 5.5 at 100,000');
    assertUsd(usd('claude-haiku-5-5', atLimit, 'batch'), 0.003525, 'Haiku 5.5 at 100,000, batch');

    // One token more: every token of the request, output included, at the long-prompt rates.
    const above = { ...atLimit, input: 40_001 };
    const high = prices.charge('claude-haiku-5-5', tokens(above), 'standard');
    assert.equal(high.promptTokens, 100_001);
    assert.equal(high.longPrompt, true);
    // 40,001×0.50 + 50,000×0.05 + 6,000×0.625 + 4,000×1.00 + 2,000×2.50 = 20,000.5 + 2,500 + 3,750 + 4,000 + 5,000
    assertUsd(usdOf(totalOf(high.amount)), 0.0352505, 'Haiku 5.5 at 100,001');
    assertUsd(usd('claude-haiku-5-5', above, 'batch'), 0.01762525, 'Haiku 5.5 at 100,001, batch');
    assertUsd(usdOf(high.amount.output), 0.005, 'the output of a long prompt pays $2.50');

    // Output is not prompt: 100,000 in and 60,000 out stays low (10,000 + 30,000).
    assertUsd(usd('claude-haiku-5-5', { input: 100_000, output: 60_000 }, 'standard'), 0.04, 'output does not tier');
  });

  it('bills a batch request by request, so the tier of one does not leak into another', () => {
    const bill = new Bill(prices, 'batch');
    bill.add('claude-haiku-5-5', tokens({ input: 100_000, output: 2_000 }));
    bill.add('claude-haiku-5-5', tokens({ input: 100_001, output: 2_000 }));
    // (100,000×0.10 + 2,000×0.50) / 2 + (100,001×0.50 + 2,000×2.50) / 2 = 5,500 + 27,500.25 (per million)
    assertUsd(usdOf(totalOf(bill.amount)), 0.03300025, 'per request');
    assert.deepEqual(bill.tokens, {
      'claude-haiku-5-5': { input: 200_001, output: 4_000, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 },
    });
    // The same token totals priced as one request would all be long: (200,001×0.50 + 4,000×2.50) / 2 = 55,000.25.
    assertUsd(usd('claude-haiku-5-5', bill.tokens['claude-haiku-5-5']!, 'batch'), 0.05500025, 'aggregated');
    assert.equal(bill.requests, 2);
  });

  it('resolves dated snapshots through the catalogue', () => {
    const t = tokens({ input: 1000, output: 1000 });
    assert.equal(prices.charge('claude-haiku-4-5-20251001', t, 'batch').model, 'claude-haiku-4-5');
    assert.equal(prices.charge('claude-3-5-haiku-20241022', t, 'batch').model, 'claude-haiku-3-5');
    // Haiku 3.5: 1000×0.80 + 1000×4 = 4,800.
    assertUsd(usd('claude-3-5-haiku-20241022', t, 'standard'), 0.0048, 'Haiku 3.5 by snapshot');
    assertUsd(usd('claude-sonnet-4-5-20250929', t, 'standard'), 0.018, 'Sonnet 4.5 by snapshot');
    assert.throws(() => prices.charge('claude-unknown-9', t, 'batch'), /no price for model claude-unknown-9/);
  });

  it('halves every class of every model in a batch', () => {
    for (const model of Object.keys(catalog.models)) {
      const t = tokens({ input: MTOK, output: MTOK, cacheWrite5m: MTOK, cacheWrite1h: MTOK, cacheRead: MTOK });
      const standard = prices.charge(model, t, 'standard').amount;
      const batch = prices.charge(model, t, 'batch').amount;
      for (const c of Object.keys(standard) as (keyof typeof standard)[])
        assert.equal(batch[c] * 2n, standard[c], `${model} ${c}`);
    }
  });

  it('sums exactly, whatever the order, and rounds a total half up to the nano-dollar', () => {
    const a = new Bill(prices, 'batch');
    const b = new Bill(prices, 'batch');
    const requests = Array.from({ length: 500 }, (_, i) =>
      tokens({ input: 7 + i, output: 3 + (i % 17), cacheRead: i % 5 ? 4096 : 0 }),
    );
    for (const t of requests) a.add('claude-sonnet-5-5', t);
    for (const t of [...requests].reverse()) b.add('claude-sonnet-5-5', t);
    assert.deepEqual(a.amount, b.amount);
    assert.equal(usdOf(500_000n), 1e-9, 'half a nano-dollar rounds up');
    assert.equal(usdOf(499_999n), 0);
    // One Haiku 5.5 input token in a batch is $0.00000005 = 50,000,000 femto-dollars, exactly.
    assert.equal(prices.charge('claude-haiku-5-5', tokens({ input: 1 }), 'batch').amount.input, 50_000_000n);
  });

  it('prices every model of the catalogue, and nothing else', () => {
    const raw = JSON.parse(readFileSync(pricesFile, 'utf8')) as { models: Record<string, unknown> };
    assert.deepEqual(Object.keys(raw.models).sort(), Object.keys(catalog.models).sort());
    const { 'claude-opus-5-5': _dropped, ...rest } = raw.models;
    assert.throws(() => PriceList.load(catalog, { ...raw, models: rest }), /no price for claude-opus-5-5/);
    assert.throws(
      () =>
        PriceList.load(catalog, { ...raw, models: { ...raw.models, 'claude-opus-9': raw.models['claude-opus-5'] } }),
      /prices claude-opus-9, which emulator\/models.json lacks/,
    );
    const tooFine = {
      ...raw,
      models: { ...raw.models, 'claude-opus-5': { ...(raw.models['claude-opus-5'] as object), input: 1e-10 } },
    };
    assert.throws(() => PriceList.load(catalog, tooFine), /too fine to bill/);
  });
});

const HAIKU_55 = 'claude-haiku-5-5';

/** A one-message prompt of exactly `n` tokens for the emulator's tokenizer: 3 framing + 4 message + 1 per 4 bytes. */
const promptOf = (n: number) => 'a'.repeat((n - 7) * 4);

const LOW = { input: 0.1, output: 0.5 };
const HIGH = { input: 0.5, output: 2.5 };

describe('the ledger bills Haiku 5.5 per request, over HTTP', () => {
  let h: EmulatorHarness;
  before(async () => {
    h = await startTestEmulator();
  });
  after(() => h.close());

  it('bills a 100,000-token prompt at the low tier and a 100,001-token one at the high tier', async () => {
    for (const n of [100_000, 100_001]) {
      const counted = await h.client.messages.countTokens({
        model: HAIKU_55,
        messages: [{ role: 'user', content: promptOf(n) }],
      });
      assert.equal(counted.input_tokens, n, 'the prompt has the intended length');
    }
    const req = (id: string, n: number) => ({
      custom_id: id,
      params: { model: HAIKU_55, max_tokens: 20, messages: [{ role: 'user' as const, content: promptOf(n) }] },
    });
    const created = await h.client.messages.batches.create({
      requests: [req('at-limit', 100_000), req('above', 100_001), req('small', 50)],
    });
    await h.advance(600);
    const lines = await collect(await h.client.messages.batches.results(created.id));
    const usage = new Map<string, Anthropic.Messages.Usage>();
    for (const line of lines) {
      assert.equal(line.result.type, 'succeeded', JSON.stringify(line.result));
      if (line.result.type === 'succeeded') usage.set(line.custom_id, line.result.message.usage);
    }
    const at = usage.get('at-limit')!;
    const above = usage.get('above')!;
    const small = usage.get('small')!;
    assert.equal(at.input_tokens, 100_000);
    assert.equal(above.input_tokens, 100_001);
    const half = (rates: typeof LOW, u: Anthropic.Messages.Usage) =>
      ((u.input_tokens * rates.input + u.output_tokens * rates.output) / MTOK) * 0.5;
    const expected = half(LOW, at) + half(HIGH, above) + half(LOW, small);
    const outputUsd =
      ((at.output_tokens * LOW.output + above.output_tokens * HIGH.output + small.output_tokens * LOW.output) / MTOK) *
      0.5;

    const sync = await h.client.messages.create({
      model: HAIKU_55,
      max_tokens: 20,
      messages: [{ role: 'user', content: promptOf(100_001) }],
    });
    assert.equal(sync.usage.input_tokens, 100_001);
    const syncExpected = (sync.usage.input_tokens * HIGH.input + sync.usage.output_tokens * HIGH.output) / MTOK;

    const stats = (await h.stats()) as unknown as {
      batches: { list: { id: string; billed: { usd: number; usdByClass: TokenTotals } | null }[] };
      billed: {
        batch: { usd: number; usdByClass: TokenTotals };
        sync: { usd: number; usdByClass: TokenTotals };
        totalUsd: number;
      };
    };
    const entry = stats.batches.list.find((b) => b.id === created.id);
    assertUsd(entry!.billed!.usd, Math.round(expected * 1e9) / 1e9, 'the batch');
    assertUsd(entry!.billed!.usdByClass.output, Math.round(outputUsd * 1e9) / 1e9, 'its output');
    assertUsd(stats.billed.batch.usd, entry!.billed!.usd, 'the only batch');
    assertUsd(stats.billed.sync.usd, Math.round(syncExpected * 1e9) / 1e9, 'the synchronous call, standard rates');
    assertUsd(stats.billed.totalUsd, Math.round((expected + syncExpected) * 1e9) / 1e9, 'the total');
    assert.equal(stats.billed.sync.usdByClass.cacheRead, 0);
  });
});
