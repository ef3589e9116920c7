/**
 * The emulator's approximate tokenizer. It is NOT Anthropic's tokenizer: it counts one token per 4 UTF-8 bytes
 * of text (rounded up per piece) plus fixed framing overheads. `count_tokens` and `usage` both use it, so a
 * client's estimate can be checked exactly against the bill.
 *
 *   request framing ............ 3 tokens
 *   system prompt framing ...... 3 tokens (when a system prompt is present)
 *   each message ............... 4 tokens + its content
 *   each tool definition ....... 8 tokens + its JSON serialization
 *   text / thinking blocks ..... ceil(utf8 bytes / 4)
 *   image blocks ............... 1,600 tokens (about one 1.2-megapixel image)
 *   any other block ............ ceil(bytes of its JSON serialization / 4)
 */
export const TOKENIZER = {
  requestOverhead: 3,
  systemOverhead: 3,
  messageOverhead: 4,
  toolOverhead: 8,
  imageTokens: 1600,
  bytesPerToken: 4,
} as const;

export type CacheTtl = '5m' | '1h';

/** Marks the framing tokens left after the last block. */
const TAIL = Symbol('tail');

/** One cacheable unit of a prompt, in the order the API builds its cache prefix: tools, system, messages. */
export interface PromptSegment {
  tokens: number;
  /** Set when this block carries `cache_control` (a cache breakpoint). */
  cacheTtl: CacheTtl | null;
  /** The block itself: hashed into cache-prefix keys, only when the request has a breakpoint. */
  block: unknown;
}

export function textTokens(text: string): number {
  if (text.length === 0) return 0;
  return Math.ceil(Buffer.byteLength(text, 'utf8') / TOKENIZER.bytesPerToken);
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function cacheTtlOf(block: unknown): CacheTtl | null {
  if (!isObject(block) || !isObject(block.cache_control)) return null;
  return block.cache_control.ttl === '1h' ? '1h' : '5m';
}

function blockTokens(block: unknown): number {
  if (typeof block === 'string') return textTokens(block);
  if (!isObject(block)) return textTokens(JSON.stringify(block) ?? '');
  if (block.type === 'text' && typeof block.text === 'string') return textTokens(block.text);
  if (block.type === 'thinking' && typeof block.thinking === 'string') return textTokens(block.thinking);
  if (block.type === 'image') return TOKENIZER.imageTokens;
  const { cache_control: _ignored, ...rest } = block;
  return textTokens(JSON.stringify(rest));
}

function segment(tokens: number, block: unknown): PromptSegment {
  return { tokens, cacheTtl: cacheTtlOf(block), block };
}

/** Splits a Messages request into its ordered prompt segments. Framing tokens ride on the segment they frame. */
export function promptSegments(params: Json): PromptSegment[] {
  const segments: PromptSegment[] = [];
  let pending: number = TOKENIZER.requestOverhead;
  const push = (tokens: number, block: unknown) => {
    segments.push(segment(tokens + pending, block));
    pending = 0;
  };

  if (Array.isArray(params.tools)) {
    for (const tool of params.tools) push(TOKENIZER.toolOverhead + blockTokens(stripCache(tool)), tool);
  }
  if (typeof params.system === 'string' && params.system.length > 0) {
    push(TOKENIZER.systemOverhead + textTokens(params.system), params.system);
  } else if (Array.isArray(params.system) && params.system.length > 0) {
    pending += TOKENIZER.systemOverhead;
    for (const block of params.system) push(blockTokens(block), block);
  }
  if (Array.isArray(params.messages)) {
    for (const message of params.messages) {
      pending += TOKENIZER.messageOverhead;
      const content = isObject(message) ? message.content : undefined;
      if (typeof content === 'string') push(textTokens(content), { role: roleOf(message), content });
      else if (Array.isArray(content)) for (const block of content) push(blockTokens(block), block);
    }
  }
  if (pending > 0) segments.push({ tokens: pending, cacheTtl: null, block: TAIL });
  applyTopLevelCacheControl(params, segments);
  return segments;
}

export function countInputTokens(params: Json): number {
  return promptSegments(params).reduce((sum, s) => sum + s.tokens, 0);
}

function roleOf(message: unknown): string {
  return isObject(message) && typeof message.role === 'string' ? message.role : '';
}

function stripCache(tool: unknown): unknown {
  if (!isObject(tool)) return tool;
  const { cache_control: _ignored, ...rest } = tool;
  return rest;
}

// Automatic caching: a top-level `cache_control` puts the breakpoint on the last block of the prompt.
function applyTopLevelCacheControl(params: Json, segments: PromptSegment[]): void {
  if (!isObject(params.cache_control)) return;
  const ttl: CacheTtl = params.cache_control.ttl === '1h' ? '1h' : '5m';
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i];
    if (s && s.block !== TAIL) {
      s.cacheTtl = ttl;
      return;
    }
  }
}
