import { z } from 'zod';
import pricesJson from './prices.json' with { type: 'json' };
import { findModel, type ModelCatalog } from './catalog.js';

export const TOKEN_CLASSES = ['input', 'output', 'cacheWrite5m', 'cacheWrite1h', 'cacheRead'] as const;
export type TokenClass = (typeof TOKEN_CLASSES)[number];
/** Tokens of one request, or of many summed, by billing class. */
export type TokenTotals = Record<TokenClass, number>;
export type TokensByModel = Record<string, TokenTotals>;
export type ServiceTier = 'batch' | 'standard';

export const ZERO_TOKENS: TokenTotals = { input: 0, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 };

export function addTokens(a: TokenTotals, b: TokenTotals): TokenTotals {
  const sum = { ...ZERO_TOKENS };
  for (const c of TOKEN_CLASSES) sum[c] = a[c] + b[c];
  return sum;
}

export function mergeTokens(list: TokensByModel[]): TokensByModel {
  const out: TokensByModel = {};
  for (const byModel of list)
    for (const [model, tokens] of Object.entries(byModel)) out[model] = addTokens(out[model] ?? ZERO_TOKENS, tokens);
  return out;
}

/** What a prompt-length tier is judged on: the whole prompt of the request, cached parts included. */
export const promptTokensOf = (t: TokenTotals) => t.input + t.cacheRead + t.cacheWrite5m + t.cacheWrite1h;

const usdPerMTok = z.number().nonnegative();
const RatesShape = {
  input: usdPerMTok,
  output: usdPerMTok,
  cacheWrite5m: usdPerMTok,
  cacheWrite1h: usdPerMTok,
  cacheRead: usdPerMTok,
};

export const PriceListSchema = z
  .object({
    $comment: z.string().optional(),
    asOf: z.iso.date(),
    currency: z.literal('USD'),
    unit: z.literal('USD per million tokens'),
    batchDiscount: z.number().gt(0).lte(1),
    sources: z.array(z.string()).min(1),
    notes: z.array(z.string()).optional(),
    models: z.record(
      z.string().min(1),
      z
        .object({
          ...RatesShape,
          longPrompt: z
            .object({ overPromptTokens: z.number().int().positive(), ...RatesShape })
            .strict()
            .optional(),
        })
        .strict(),
    ),
  })
  .strict();
export type PriceListFile = z.infer<typeof PriceListSchema>;

/**
 * Money in femto-dollars (1e-15 USD), by token class. Every rate of the price list is a whole number of
 * femto-dollars per token, so a bill is an exact integer sum whatever the order of its requests; rounding happens
 * once, when a total is shown.
 */
export type Amount = Record<TokenClass, bigint>;

const FEMTO_PER_USD_PER_MTOK = 1e9;

export const zeroAmount = (): Amount => ({ input: 0n, output: 0n, cacheWrite5m: 0n, cacheWrite1h: 0n, cacheRead: 0n });

export function addAmounts(a: Amount, b: Amount): Amount {
  const sum = zeroAmount();
  for (const c of TOKEN_CLASSES) sum[c] = a[c] + b[c];
  return sum;
}

export const totalOf = (a: Amount): bigint => TOKEN_CLASSES.reduce((sum, c) => sum + a[c], 0n);

/** Dollars, rounded half up to the nano-dollar: below any real invoice's precision, above float noise. */
export function usdOf(femto: bigint): number {
  return Number((femto + 500_000n) / 1_000_000n) / 1e9;
}

export function usdByClass(a: Amount): TokenTotals {
  const out = { ...ZERO_TOKENS };
  for (const c of TOKEN_CLASSES) out[c] = usdOf(a[c]);
  return out;
}

/** An amount as the ledger file keeps it (JSON has no bigint). */
export type StoredAmount = Record<TokenClass, string>;
export function storeAmount(a: Amount): StoredAmount {
  const out = {} as StoredAmount;
  for (const c of TOKEN_CLASSES) out[c] = a[c].toString();
  return out;
}
export function loadAmount(s: StoredAmount): Amount {
  const out = zeroAmount();
  for (const c of TOKEN_CLASSES) out[c] = BigInt(s[c]);
  return out;
}

type PerToken = Record<ServiceTier, Amount>;
interface ModelRates {
  base: PerToken;
  longPrompt: { overPromptTokens: number; rates: PerToken } | null;
}

/** The price of one request: which rates applied, and the exact amount by class. */
export interface RequestCharge {
  /** The price list's key (the model's alias), whatever id the request named. */
  model: string;
  serviceTier: ServiceTier;
  promptTokens: number;
  longPrompt: boolean;
  amount: Amount;
}

/**
 * The emulator's prices (emulator/prices.json), checked against its model catalogue at start: every model it can
 * answer has a price, so nothing it serves is billed at $0 by omission.
 */
export class PriceList {
  readonly asOf: string;
  readonly sources: string[];
  private readonly rates = new Map<string, ModelRates>();

  private constructor(
    file: PriceListFile,
    private readonly catalog: ModelCatalog,
  ) {
    this.asOf = file.asOf;
    this.sources = file.sources;
    const perToken = (r: Record<TokenClass, number>, where: string): PerToken => ({
      standard: perTokenAmount(r, 1, where),
      batch: perTokenAmount(r, file.batchDiscount, where),
    });
    for (const [id, entry] of Object.entries(file.models)) {
      if (!catalog.models[id]) throw new Error(`emulator/prices.json prices ${id}, which emulator/models.json lacks`);
      const { longPrompt, ...base } = entry;
      this.rates.set(id, {
        base: perToken(base, id),
        longPrompt: longPrompt
          ? { overPromptTokens: longPrompt.overPromptTokens, rates: perToken(longPrompt, `${id}.longPrompt`) }
          : null,
      });
    }
    const unpriced = Object.keys(catalog.models).filter((id) => !this.rates.has(id));
    if (unpriced.length > 0) throw new Error(`emulator/prices.json has no price for ${unpriced.join(', ')}`);
  }

  static load(catalog: ModelCatalog, raw: unknown = pricesJson): PriceList {
    const parsed = PriceListSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`emulator/prices.json is not valid: ${z.prettifyError(parsed.error)}`);
    return new PriceList(parsed.data, catalog);
  }

  /** Prices one request's usage. `model` is an alias or a dated snapshot id of the catalogue. */
  charge(model: string, tokens: TokenTotals, serviceTier: ServiceTier): RequestCharge {
    const id = this.rates.has(model) ? model : findModel(this.catalog, model)?.id;
    const rates = id === undefined ? undefined : this.rates.get(id);
    if (id === undefined || !rates) throw new Error(`no price for model ${model}`);
    const promptTokens = promptTokensOf(tokens);
    // The tier is chosen per request: a long prompt makes every token of that request dearer, its output too.
    const longPrompt = rates.longPrompt !== null && promptTokens > rates.longPrompt.overPromptTokens;
    const perToken = (longPrompt && rates.longPrompt ? rates.longPrompt.rates : rates.base)[serviceTier];
    const amount = zeroAmount();
    for (const c of TOKEN_CLASSES) amount[c] = BigInt(tokens[c]) * perToken[c];
    return { model: id, serviceTier, promptTokens, longPrompt, amount };
  }
}

function perTokenAmount(rates: Record<TokenClass, number>, discount: number, where: string): Amount {
  const out = zeroAmount();
  for (const c of TOKEN_CLASSES) {
    const femto = rates[c] * FEMTO_PER_USD_PER_MTOK * discount;
    const whole = Math.round(femto);
    // Exactness rests on whole femto-dollars per token: a rate with more than 9 decimals would break it silently.
    if (Math.abs(femto - whole) > 1e-6) throw new Error(`emulator/prices.json: ${where}.${c} is too fine to bill`);
    out[c] = BigInt(whole);
  }
  return out;
}

/** A running bill of one kind (a batch at batch rates, or synchronous calls at standard rates), request by request. */
export class Bill {
  requests = 0;
  readonly tokens: TokensByModel = {};
  private sum = zeroAmount();

  constructor(
    private readonly prices: PriceList,
    readonly serviceTier: ServiceTier,
  ) {}

  /** `model` keys the token totals as given (the catalogue alias, as the emulator's own records use). */
  add(model: string, tokens: TokenTotals): RequestCharge {
    const charge = this.prices.charge(model, tokens, this.serviceTier);
    this.requests++;
    this.tokens[model] = addTokens(this.tokens[model] ?? ZERO_TOKENS, tokens);
    this.sum = addAmounts(this.sum, charge.amount);
    return charge;
  }

  get amount(): Amount {
    return { ...this.sum };
  }
}
