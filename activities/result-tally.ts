import {
  addTokens,
  requestNanoUsd,
  tokensOfUsage,
  type PriceTable,
  type TokensByModel,
  ZERO_TOKENS,
} from '../shared/pricing.js';
import { outcomeOf, shouldRetry, type ResultLine } from '../shared/results.js';

/**
 * What a chunk's result lines add up to — outcomes, tokens per model, the exact cost, the requests to send again —
 * taken line by line as they are stored, so nothing has to read the results again to count them.
 */
export class ResultTally {
  readonly outcomes: Record<string, number> = {};
  readonly tokens: TokensByModel = {};
  readonly retryIds: string[] = [];
  readonly unpriced = new Set<string>();
  nanoUsd = 0;
  lines = 0;

  constructor(readonly prices: PriceTable) {}

  add(line: ResultLine): void {
    this.lines++;
    const key = outcomeOf(line.result);
    this.outcomes[key] = (this.outcomes[key] ?? 0) + 1;
    if (line.result.type === 'succeeded') {
      const m = line.result.message;
      const used = tokensOfUsage(m.usage);
      this.tokens[m.model] = addTokens(this.tokens[m.model] ?? ZERO_TOKENS, used);
      const nano = requestNanoUsd(this.prices, m.model, used);
      if (nano === undefined) this.unpriced.add(m.model);
      else this.nanoUsd += nano;
    }
    if (shouldRetry(line.result, false)) this.retryIds.push(line.custom_id);
  }
}
