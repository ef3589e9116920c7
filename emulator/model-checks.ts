import { findModel, outputCapOf, type ModelCatalog, type ModelInfo } from './catalog.js';
import { promptSegments } from './tokenizer.js';
import { MAX_CACHE_BREAKPOINTS } from './prompt-cache.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A problem with a Messages request that the model layer finds (not the batch envelope). */
export interface ParamsProblem {
  /** 404 for an unknown or retired model, 400 otherwise (as the synchronous API answers). */
  status: 400 | 404;
  message: string;
}

const BLOCK_TYPES = [
  'text',
  'image',
  'document',
  'search_result',
  'tool_use',
  'tool_result',
  'thinking',
  'redacted_thinking',
  'server_tool_use',
  'web_search_tool_result',
  'web_fetch_tool_result',
  'container_upload',
];

export interface CheckOptions {
  /** count_tokens has no `max_tokens`: skip its checks. */
  forCounting?: boolean;
  /** The `anthropic-beta` values of the batch create carrying the request; none for a synchronous call. */
  batchBetas?: readonly string[];
}

/** Checks a Messages request against the model catalog. */
export function checkParams(
  params: Json,
  catalog: ModelCatalog,
  { forCounting = false, batchBetas = [] }: CheckOptions = {},
): { model: ModelInfo } | { problem: ParamsProblem } {
  const bad = (message: string, status: 400 | 404 = 400) => ({ problem: { status, message } });
  if (params.model === undefined) return bad('model: Field required');
  if (typeof params.model !== 'string') return bad('model: Input should be a valid string');
  const model = findModel(catalog, params.model);
  if (!model) return bad(`model: ${params.model}`, 404);
  if (model.retired) return bad(`model: ${params.model} has been retired and is no longer available`, 404);

  if (!forCounting) {
    const maxTokens = params.max_tokens;
    if (maxTokens === undefined) return bad('max_tokens: Field required');
    if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens))
      return bad('max_tokens: Input should be a valid integer');
    if (maxTokens < 1) return bad('max_tokens: Input should be greater than or equal to 1');
    const cap = outputCapOf(model, batchBetas);
    if (maxTokens > cap)
      return bad(
        `max_tokens: ${maxTokens} > ${cap}, which is the maximum allowed number of output tokens for ${model.snapshot}`,
      );
    const thinking = params.thinking;
    if (isObject(thinking) && thinking.type === 'enabled' && typeof thinking.budget_tokens === 'number') {
      if (thinking.budget_tokens >= maxTokens) return bad('`max_tokens` must be greater than `thinking.budget_tokens`');
    }
  }

  const systemProblem = checkSystem(params.system);
  if (systemProblem) return bad(systemProblem);
  const messagesProblem = checkMessages(params.messages);
  if (messagesProblem) return bad(messagesProblem);

  const breakpoints = promptSegments(params).filter((s) => s.cacheTtl !== null).length;
  if (breakpoints > MAX_CACHE_BREAKPOINTS)
    return bad(
      `A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints}.`,
    );
  return { model };
}

function checkSystem(system: unknown): string | null {
  if (system === undefined || typeof system === 'string') return null;
  if (!Array.isArray(system)) return 'system: Input should be a valid string or a list of text blocks';
  for (const [i, block] of system.entries()) {
    if (!isObject(block) || block.type !== 'text') return `system.${i}.type: Input should be 'text'`;
    if (typeof block.text !== 'string') return `system.${i}.text: Field required`;
  }
  return null;
}

function checkMessages(messages: unknown): string | null {
  if (messages === undefined) return 'messages: Field required';
  if (!Array.isArray(messages)) return 'messages: Input should be a valid list';
  if (messages.length === 0) return 'messages: at least one message is required';
  for (const [i, message] of messages.entries()) {
    const at = `messages.${i}`;
    if (!isObject(message)) return `${at}: Input should be a valid dictionary`;
    if (message.role !== 'user' && message.role !== 'assistant')
      return `${at}.role: Input should be 'user' or 'assistant'`;
    const content = message.content;
    if (content === undefined) return `${at}.content: Field required`;
    if (typeof content === 'string') {
      if (content.length === 0 && i < messages.length - 1) return 'messages: text content blocks must be non-empty';
      continue;
    }
    if (!Array.isArray(content)) return `${at}.content: Input should be a valid string or a list of content blocks`;
    for (const [j, block] of content.entries()) {
      const problem = checkBlock(block, `${at}.content.${j}`);
      if (problem) return problem;
    }
  }
  return null;
}

function checkBlock(block: unknown, at: string): string | null {
  if (!isObject(block)) return `${at}: Input should be a valid dictionary`;
  if (block.type === undefined) return `${at}.type: Field required`;
  if (typeof block.type !== 'string' || !BLOCK_TYPES.includes(block.type))
    return `${at}: Input tag '${String(block.type)}' found using 'type' does not match any of the expected tags: ${BLOCK_TYPES.map((t) => `'${t}'`).join(', ')}`;
  if (block.type === 'text') {
    if (typeof block.text !== 'string') return `${at}.text: Field required`;
    if (block.text.length === 0) return 'messages: text content blocks must be non-empty';
  }
  if (block.type === 'image' && !isObject(block.source)) return `${at}.source: Field required`;
  if (block.type === 'tool_use' && (typeof block.id !== 'string' || typeof block.name !== 'string'))
    return `${at}: tool_use blocks require 'id' and 'name'`;
  if (block.type === 'tool_result' && typeof block.tool_use_id !== 'string') return `${at}.tool_use_id: Field required`;
  return null;
}
