/**
 * What a pilot measured: the requests answered first through the Messages API, whose output tokens stand in for
 * the job's (instead of assuming every answer uses a share of max_tokens).
 */
export interface PilotMeasure {
  /** Requests answered (succeeded) in the pilot. */
  n: number;
  /** Σ output tokens, Σ max_tokens, and the sums of squares and products the error bound needs. */
  output: number;
  maxTokens: number;
  outputSquares: number;
  maxTokensSquares: number;
  products: number;
  /** The 90th percentile of a synchronous answer's time, as measured (null when no answer was timed). */
  latencyP90Ms: number | null;
  /** Σ uncached input tokens and Σ all prompt tokens (uncached, cache writes, cache reads), as billed. */
  uncachedInput?: number;
  promptInput?: number;
}

export const emptyMeasure = (): PilotMeasure => ({
  n: 0,
  output: 0,
  maxTokens: 0,
  outputSquares: 0,
  maxTokensSquares: 0,
  products: 0,
  latencyP90Ms: null,
  uncachedInput: 0,
  promptInput: 0,
});

export function addAnswer(
  m: PilotMeasure,
  output: number,
  maxTokens: number,
  input?: { uncached: number; prompt: number },
): void {
  m.n++;
  if (input) {
    m.uncachedInput = (m.uncachedInput ?? 0) + input.uncached;
    m.promptInput = (m.promptInput ?? 0) + input.prompt;
  }
  m.output += output;
  m.maxTokens += maxTokens;
  m.outputSquares += output * output;
  m.maxTokensSquares += maxTokens * maxTokens;
  m.products += output * maxTokens;
}

/**
 * The share of max_tokens that answers use (a ratio estimator: Σ output / Σ max_tokens over the sample), and the
 * half-width of its 95% confidence interval as a share of it — the sampling error the estimate states. With fewer
 * than two answers there is no interval (bound 1: the worst case is what to go by).
 */
export function outputRatioOf(m: PilotMeasure): { ratio: number; errorBound: number } | null {
  if (m.n === 0 || m.maxTokens === 0) return null;
  const ratio = Math.min(1, m.output / m.maxTokens);
  if (m.n < 2 || ratio === 0) return { ratio, errorBound: ratio === 0 ? 0 : 1 };
  // Σ (out − R·max)², expanded so that only sums need keeping.
  const residual = Math.max(0, m.outputSquares - 2 * ratio * m.products + ratio * ratio * m.maxTokensSquares);
  const meanMax = m.maxTokens / m.n;
  const variance = residual / (m.n - 1) / (m.n * meanMax * meanMax);
  return { ratio, errorBound: (1.96 * Math.sqrt(variance)) / ratio };
}

/**
 * The share of prompt tokens the API billed as uncached input in the pilot: how it splits a prompt between the
 * cached prefix and the rest, as measured rather than derived from count_tokens differences. Null without data.
 */
export function uncachedShareOf(m: PilotMeasure): number | null {
  return m.promptInput ? (m.uncachedInput ?? 0) / m.promptInput : null;
}

/** The p-th percentile (0–1) of some durations, nearest rank. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/**
 * A uniform random sample of `size` items of a stream, in one pass (Algorithm R), that gives back every item it
 * does not keep: each item is either in the final sample or handed back exactly once, so a pilot's requests can
 * be kept out of the batches while the rest are written as they stream by.
 */
export class Reservoir<T> {
  private readonly kept: T[] = [];
  private seen = 0;

  constructor(
    private readonly size: number,
    private readonly random: () => number,
  ) {}

  /** Offers an item; returns the item to pass on (this one, or the one it replaced), or undefined when kept. */
  offer(item: T): T | undefined {
    this.seen++;
    if (this.kept.length < this.size) {
      this.kept.push(item);
      return undefined;
    }
    const j = Math.floor(this.random() * this.seen);
    if (j >= this.size) return item;
    const evicted = this.kept[j]!;
    this.kept[j] = item;
    return evicted;
  }

  get sample(): readonly T[] {
    return this.kept;
  }
}
