import { seededRandom } from './estimate.js';

/** Which requests of a job the estimate counts the input tokens of (from the job's `estimate` settings). */
export interface SampleRule {
  /** Every request (a job of at most `exhaustiveMax` requests). */
  exhaustive: boolean;
  sampleSize: number;
  seed: number;
}

/**
 * The requests the estimate counts tokens of, per model: all of them when exhaustive, else a reservoir sample of
 * `sampleSize` per model. One seeded random stream serves every model, drawn in the order the requests are offered:
 * the same requests in the same order pick the same sample. The full pass over the chunks, prepare's pass and the
 * replay of a stored list all pick through this one class, so that they cannot drift apart.
 */
export class ModelSamples<T> {
  private readonly byModel = new Map<string, { offered: number; kept: T[] }>();
  private readonly random: () => number;

  constructor(private readonly rule: SampleRule) {
    this.random = seededRandom(rule.seed);
  }

  offer(model: string, item: T): void {
    let entry = this.byModel.get(model);
    if (!entry) {
      entry = { offered: 0, kept: [] };
      this.byModel.set(model, entry);
    }
    entry.offered++;
    // Reservoir sampling: every request has the same chance to be counted, in one pass, in bounded memory.
    if (this.rule.exhaustive || entry.kept.length < this.rule.sampleSize) entry.kept.push(item);
    else {
      const j = Math.floor(this.random() * entry.offered);
      if (j < entry.kept.length) entry.kept[j] = item;
    }
  }

  /** The sample of a model (empty if none of its requests was offered). */
  of(model: string): T[] {
    return this.byModel.get(model)?.kept ?? [];
  }

  /** Models in the order their first request came. */
  models(): string[] {
    return [...this.byModel.keys()];
  }
}

/**
 * Exact figures per model, in the order each model's first request came: requests, the sum of max_tokens, and the
 * chunks (by any key) that hold them.
 */
export class ModelTotals<Chunk> {
  private readonly byModel = new Map<string, { requests: number; maxTokensSum: number; chunks: Set<Chunk> }>();

  add(model: string, maxTokens: number, chunk: Chunk): void {
    let entry = this.byModel.get(model);
    if (!entry) {
      entry = { requests: 0, maxTokensSum: 0, chunks: new Set() };
      this.byModel.set(model, entry);
    }
    entry.requests++;
    entry.maxTokensSum += maxTokens;
    entry.chunks.add(chunk);
  }

  entries(): IterableIterator<[string, { requests: number; maxTokensSum: number; chunks: ReadonlySet<Chunk> }]> {
    return this.byModel.entries();
  }
}

/** What the estimate knows exactly of one model's requests, and the requests it counts tokens of. */
export interface ModelRequests<T> {
  requests: number;
  maxTokensSum: number;
  /** Chunks holding requests of the model. */
  chunks: number;
  sample: T[];
}

type Params = Record<string, unknown>;

/** The part of a request's params that count_tokens takes (all that the estimate reads of a sampled request). */
export const countableParams = (p: Params) => {
  const out: Params = { model: p.model, messages: p.messages };
  for (const key of ['system', 'tools', 'tool_choice', 'thinking'] as const)
    if (p[key] !== undefined) out[key] = p[key];
  return out;
};

/** The max_tokens a request adds to its model's sum, as the estimate reads it. */
export const maxTokensOf = (params: { max_tokens?: unknown } | undefined) => Number(params?.max_tokens) || 0;
