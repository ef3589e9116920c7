import { z } from 'zod';

/** Token counts by billing category. */
export interface TokenTotals {
  input: number;
  output: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
}

export const ZERO_TOKENS: TokenTotals = { input: 0, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 };

/**
 * A rate in USD per million tokens. Anthropic quotes none finer than a tenth of a cent ($0.125, $0.625), and costs
 * are summed in whole nano-dollars on that basis, so finer rates are refused rather than rounded silently.
 */
const rate = z
  .number()
  .nonnegative()
  .refine((r) => Math.abs(r * 1000 - Math.round(r * 1000)) < 1e-6, {
    message: 'USD per million tokens with at most three decimals (e.g. 0.125)',
  });
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** USD per million tokens, one rate per token class. */
export const RatesSchema = z
  .object({ input: rate, output: rate, cacheWrite5m: rate, cacheWrite1h: rate, cacheRead: rate })
  .strict();
export type Rates = z.infer<typeof RatesSchema>;

export const ModelPriceSchema = RatesSchema.extend({
  /**
   * Rates for requests whose whole prompt (input + cache writes + cache reads) is longer than `promptTokensAbove`,
   * applied to every token of such a request, output included.
   */
  tiers: z.array(RatesSchema.extend({ promptTokensAbove: z.number().int().positive() }).strict()).optional(),
  aliases: z.array(z.string()).optional(),
}).strict();
export type ModelPrice = z.infer<typeof ModelPriceSchema>;

/**
 * A price the user gives for a model (a job's `prices`): input and output are required; cache rates the user
 * leaves out are the usual multiples of input (5m write 1.25×, 1h write 2×, read 0.1×).
 */
export const UserPriceSchema = z
  .object({
    input: rate,
    output: rate,
    cacheWrite5m: rate.optional(),
    cacheWrite1h: rate.optional(),
    cacheRead: rate.optional(),
  })
  .strict()
  .transform((p): ModelPrice => ({
    input: p.input,
    output: p.output,
    cacheWrite5m: p.cacheWrite5m ?? round3(p.input * 1.25),
    cacheWrite1h: p.cacheWrite1h ?? round3(p.input * 2),
    cacheRead: p.cacheRead ?? round3(p.input * 0.1),
  }));

/** A price as the user writes it (cache rates optional). */
export type UserPrice = z.input<typeof UserPriceSchema>;

export const PriceTableSchema = z.object({
  $comment: z.string().optional(),
  /** The day the rates were read from Anthropic's pages (YYYY-MM-DD). */
  asOf: z.iso.date(),
  currency: z.literal('USD'),
  sources: z.array(z.string()).min(1),
  batchDiscount: z.number().gt(0).lte(1),
  models: z.record(z.string(), ModelPriceSchema),
});
/** USD per million tokens at standard rates, per model, dated and sourced (config/prices.json). */
export type PriceTable = z.infer<typeof PriceTableSchema>;
export type Tier = 'batch' | 'standard';

/** The price entry of a model id, alias or dated snapshot (`claude-haiku-4-5-20251001` → `claude-haiku-4-5`). */
export function priceOf(table: PriceTable, model: string): ModelPrice | undefined {
  const direct = table.models[model];
  if (direct) return direct;
  const undated = model.replace(/-\d{8}$/, '');
  if (table.models[undated]) return table.models[undated];
  return Object.values(table.models).find((m) => m.aliases?.includes(model));
}

/** The table with the user's own prices added (or put in place of the table's) for the models they name. */
export function withPrices(table: PriceTable, own: Record<string, ModelPrice> | undefined): PriceTable {
  return own && Object.keys(own).length ? { ...table, models: { ...table.models, ...own } } : table;
}

/** The models of a job that the table cannot price: a job on any of them is refused, never costed at $0. */
export function unpricedModels(table: PriceTable, models: Iterable<string>): string[] {
  return [...new Set(models)].filter((m) => !priceOf(table, m)).sort();
}

/** Whole days from the table's `asOf` to `now`. */
export function priceTableAgeDays(table: PriceTable, now: number): number {
  return Math.floor((now - Date.parse(`${table.asOf}T00:00:00Z`)) / 86_400_000);
}

/** The usage object of a Messages API response (the fields we bill). */
export interface ApiUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number } | null;
}

export function tokensOfUsage(usage: ApiUsage): TokenTotals {
  const creation = usage.cache_creation;
  return {
    input: usage.input_tokens,
    output: usage.output_tokens,
    // Without the per-TTL breakdown, all cache writes are billed as 5-minute writes.
    cacheWrite5m: creation ? creation.ephemeral_5m_input_tokens : (usage.cache_creation_input_tokens ?? 0),
    cacheWrite1h: creation ? creation.ephemeral_1h_input_tokens : 0,
    cacheRead: usage.cache_read_input_tokens ?? 0,
  };
}

export function addTokens(a: TokenTotals, b: TokenTotals): TokenTotals {
  return {
    input: a.input + b.input,
    output: a.output + b.output,
    cacheWrite5m: a.cacheWrite5m + b.cacheWrite5m,
    cacheWrite1h: a.cacheWrite1h + b.cacheWrite1h,
    cacheRead: a.cacheRead + b.cacheRead,
  };
}

/** The prompt of one request as the price tiers count it: input plus cache writes and reads. */
export const promptTokensOf = (t: TokenTotals) => t.input + t.cacheWrite5m + t.cacheWrite1h + t.cacheRead;

/** The rates that apply to a request with a prompt of `promptTokens`: the highest tier it passes, else the base. */
export function ratesFor(price: ModelPrice, promptTokens: number): Rates {
  let rates: Rates = price;
  let above = -1;
  for (const tier of price.tiers ?? [])
    if (promptTokens > tier.promptTokensAbove && tier.promptTokensAbove > above) {
      rates = tier;
      above = tier.promptTokensAbove;
    }
  return rates;
}

/**
 * Cost in billionths of a dollar: rates have at most three decimals, so tokens × rate × 1000 is a whole number and
 * sums of many requests are exact, whatever order they come in.
 */
function costNanoUsd(rates: Rates, t: TokenTotals): number {
  const milli = (rate: number) => Math.round(rate * 1000);
  return (
    t.input * milli(rates.input) +
    t.cacheWrite5m * milli(rates.cacheWrite5m) +
    t.cacheWrite1h * milli(rates.cacheWrite1h) +
    t.cacheRead * milli(rates.cacheRead) +
    t.output * milli(rates.output)
  );
}

/**
 * Cost of one request's tokens at standard rates in billionths of a dollar (whole numbers: sum them, then
 * `usdOfNano`); the tier is that request's own prompt length. Undefined for a model the table does not know.
 */
export function requestNanoUsd(table: PriceTable, model: string, tokens: TokenTotals): number | undefined {
  const price = priceOf(table, model);
  return price ? costNanoUsd(ratesFor(price, promptTokensOf(tokens)), tokens) : undefined;
}

/** Dollars, rounded to micro-dollars, of a sum of `requestNanoUsd` at batch or standard rates. */
export const usdOfNano = (table: PriceTable, nano: number, tier: Tier) =>
  roundUsd((nano * (tier === 'batch' ? table.batchDiscount : 1)) / 1e9);

/**
 * Cost in USD of many requests' tokens of one model, summed. With no per-request lengths to go by, the tier is the
 * one of `promptTokensPerRequest` (the base rates when unset): exact for untiered models, an approximation for
 * tiered ones — bill by request (`requestCostUsd`) wherever the requests are known.
 */
export function costOf(
  table: PriceTable,
  model: string,
  tokens: TokenTotals,
  tier: Tier,
  promptTokensPerRequest = 0,
): number | undefined {
  const price = priceOf(table, model);
  if (!price) return undefined;
  const nano = costNanoUsd(ratesFor(price, promptTokensPerRequest), tokens);
  return (nano * (tier === 'batch' ? table.batchDiscount : 1)) / 1e9;
}

/**
 * Rounds a dollar amount to nano-dollars: costs are summed exactly in whole nano-dollars at standard rates, so
 * the only rounding is of the batch discount's half nano-dollar (half up), as the bill does.
 */
export const roundUsd = (usd: number) => Math.round(usd * 1e9) / 1e9;

export type TokensByModel = Record<string, TokenTotals>;

/**
 * Dollars for the tokens of one batch, grouped by model: priced once per model and rounded to micro-dollars, so
 * the same tokens always give the same figure whatever order the requests came in. The emulator's bill and the
 * job's cost report both use it.
 */
export function batchCostUsd(table: PriceTable, tokens: TokensByModel, tier: Tier): number {
  let usd = 0;
  for (const [model, t] of Object.entries(tokens)) usd += costOf(table, model, t, tier) ?? 0;
  return roundUsd(usd);
}

export function mergeTokens(list: TokensByModel[]): TokensByModel {
  const out: TokensByModel = {};
  for (const byModel of list)
    for (const [model, t] of Object.entries(byModel)) out[model] = addTokens(out[model] ?? ZERO_TOKENS, t);
  return out;
}
