/** The rules a batch request line must follow (the API's, checked before anything is sent). */

export const CUSTOM_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

/** Params the batch path refuses outright (the docs: "including any of these returns a validation error"). */
export function forbiddenParam(params: Record<string, unknown>): { field: string; message: string } | null {
  if (params.stream === true) return { field: 'stream', message: 'streaming is not supported in Message Batches' };
  if (typeof params.max_tokens === 'number' && params.max_tokens < 1)
    return { field: 'max_tokens', message: 'Input should be greater than or equal to 1' };
  if (params.speed !== undefined && params.speed !== 'standard')
    return { field: 'speed', message: 'fast mode is not available in Message Batches' };
  for (const field of ['store', 'previous_thread_event_id', 'cache_hint', 'context_hint'])
    if (params[field] !== undefined) return { field, message: `'${field}' is not supported in Message Batches` };
  if (params.research_preview_2026_02 === 'active')
    return { field: 'research_preview_2026_02', message: 'research previews are not available in Message Batches' };
  return null;
}

export interface LineProblem {
  field: string;
  rule: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every problem of one parsed input line, with the field and what is allowed. `maxOutputTokens` knows the caps of
 * known models; an unknown model is not an error here (the API may know newer models than our catalog).
 */
export function checkRequestLine(
  value: unknown,
  maxOutputTokens: (model: string) => number | undefined,
): LineProblem[] {
  if (!isObject(value))
    return [{ field: '(line)', rule: 'must be a JSON object {"custom_id": "...", "params": {...}}' }];
  const problems: LineProblem[] = [];
  for (const key of Object.keys(value))
    if (key !== 'custom_id' && key !== 'params')
      problems.push({ field: key, rule: 'not allowed: a line has only custom_id and params' });

  const id = value.custom_id;
  if (id === undefined) problems.push({ field: 'custom_id', rule: 'required' });
  else if (typeof id !== 'string') problems.push({ field: 'custom_id', rule: 'must be a string' });
  else if (id.length < 1 || id.length > 64)
    problems.push({ field: 'custom_id', rule: `must be 1–64 characters (has ${id.length})` });
  else if (!CUSTOM_ID_PATTERN.test(id))
    problems.push({
      field: 'custom_id',
      rule: "may contain only letters, digits, '-' and '_' (pattern ^[a-zA-Z0-9_-]{1,64}$)",
    });

  const params = value.params;
  if (!isObject(params)) {
    problems.push({ field: 'params', rule: 'required: a Messages API request object' });
    return problems;
  }
  const forbidden = forbiddenParam(params);
  if (forbidden) problems.push({ field: `params.${forbidden.field}`, rule: forbidden.message });
  if (typeof params.model !== 'string' || params.model.length === 0)
    problems.push({ field: 'params.model', rule: 'required: a model name such as claude-haiku-4-5' });
  const maxTokens = params.max_tokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    if (!forbidden || forbidden.field !== 'max_tokens')
      problems.push({ field: 'params.max_tokens', rule: 'required: a whole number ≥ 1' });
  } else if (typeof params.model === 'string') {
    const cap = maxOutputTokens(params.model);
    if (cap !== undefined && maxTokens > cap)
      problems.push({
        field: 'params.max_tokens',
        rule: `must be at most ${cap} for ${params.model} (is ${maxTokens})`,
      });
  }
  problems.push(...checkMessages(params.messages));
  return problems;
}

function checkMessages(messages: unknown): LineProblem[] {
  if (!Array.isArray(messages) || messages.length === 0)
    return [{ field: 'params.messages', rule: 'required: a non-empty list of {role, content}' }];
  const problems: LineProblem[] = [];
  messages.forEach((m, i) => {
    const at = `params.messages.${i}`;
    if (!isObject(m)) return problems.push({ field: at, rule: 'must be an object {role, content}' });
    if (m.role !== 'user' && m.role !== 'assistant')
      problems.push({ field: `${at}.role`, rule: "must be 'user' or 'assistant'" });
    const content = m.content;
    if (typeof content === 'string') {
      if (content.length === 0 && i < messages.length - 1)
        problems.push({ field: `${at}.content`, rule: 'must not be empty' });
    } else if (!Array.isArray(content) || content.some((b) => !isObject(b) || typeof b.type !== 'string'))
      problems.push({ field: `${at}.content`, rule: 'must be a string or a list of content blocks with a type' });
    return undefined;
  });
  return problems;
}
