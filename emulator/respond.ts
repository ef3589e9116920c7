import { answerFor } from './answers.js';
import type { TokenTotals } from './billing.js';
import type { ModelInfo } from './catalog.js';
import { newMessageId } from './ids.js';
import type { PromptCache } from './prompt-cache.js';
import { promptSegments } from './tokenizer.js';

type Json = Record<string, unknown>;

/**
 * The assistant message for a valid request, processed at virtual time `now`: a deterministic answer, and usage
 * from the emulator's tokenizer with prompt-cache reads and writes applied.
 */
export function respond(
  params: Json,
  model: ModelInfo,
  cache: PromptCache,
  now: number,
  serviceTier: 'batch' | 'standard',
): { message: Json; tokens: TokenTotals } {
  const segments = promptSegments(params);
  const total = segments.reduce((sum, s) => sum + s.tokens, 0);
  const cached = cache.apply(model.id, segments, now, model.minCacheableTokens);
  const answer = answerFor(params);
  const tokens: TokenTotals = {
    input: total - cached.readTokens - cached.write5mTokens - cached.write1hTokens,
    output: answer.outputTokens,
    cacheWrite5m: cached.write5mTokens,
    cacheWrite1h: cached.write1hTokens,
    cacheRead: cached.readTokens,
  };
  const message = {
    model: model.snapshot,
    id: newMessageId(),
    type: 'message',
    role: 'assistant',
    content: answer.content,
    stop_reason: answer.stopReason,
    stop_sequence: answer.stopSequence,
    usage: {
      input_tokens: tokens.input,
      cache_creation_input_tokens: tokens.cacheWrite5m + tokens.cacheWrite1h,
      cache_read_input_tokens: tokens.cacheRead,
      cache_creation: {
        ephemeral_5m_input_tokens: tokens.cacheWrite5m,
        ephemeral_1h_input_tokens: tokens.cacheWrite1h,
      },
      output_tokens: tokens.output,
      server_tool_use: null,
      service_tier: serviceTier,
      inference_geo: 'not_available',
    },
    container: null,
  };
  return { message, tokens };
}
