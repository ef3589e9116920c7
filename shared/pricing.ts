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

export const PriceTableSchema = z.object({
  asOf: z.string(),
  currency: z.literal('USD'),
  sources: z.array(z.string()).min(1),
  batchDiscount: z.number().gt(0).lte(1),
  cacheMultipliers: z.object({
    write5m: z.number().positive(),
    write1h: z.number().positive(),
    read: z.number().positive(),
  }),
  models: z.record(
    z.string(),
    z.object({
      input: z.number().nonnegative(),
      output: z.number().nonnegative(),
      aliases: z.array(z.string()).optional(),
    }),
  ),
});
/** USD per million tokens at standard rates, dated and sourced (config/prices.json). */
export type PriceTable = z.infer<typeof PriceTableSchema>;
export type ModelPrice = PriceTable['models'][string];
export type Tier = 'batch' | 'standard';

/** The price entry of a model id, alias or dated snapshot (`claude-haiku-4-5-20251001` → `claude-haiku-4-5`). */
export function priceOf(table: PriceTable, model: string): ModelPrice | undefined {
  const direct = table.models[model];
  if (direct) return direct;
  const undated = model.replace(/-\d{8}$/, '');
  if (table.models[undated]) return table.models[undated];
  return Object.values(table.models).find((m) => m.aliases?.includes(model));
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

/**
 * Cost in USD of the given tokens of one model. Cache multipliers apply to the base input price and stack with
 * the batch discount. Returns undefined for a model the table does not know.
 */
export function costOf(table: PriceTable, model: string, tokens: TokenTotals, tier: Tier): number | undefined {
  const price = priceOf(table, model);
  if (!price) return undefined;
  const m = table.cacheMultipliers;
  const perMillion =
    tokens.input * price.input +
    tokens.cacheWrite5m * price.input * m.write5m +
    tokens.cacheWrite1h * price.input * m.write1h +
    tokens.cacheRead * price.input * m.read +
    tokens.output * price.output;
  return (perMillion / 1_000_000) * (tier === 'batch' ? table.batchDiscount : 1);
}

/** Rounds a dollar amount to micro-dollars, the precision reports and the ledger compare at. */
export const roundUsd = (usd: number) => Math.round(usd * 1_000_000) / 1_000_000;

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
