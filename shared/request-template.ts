/**
 * The simple input formats: one item per line, or a CSV with a header, turned into Message Batches requests by a
 * prompt template. Placeholders are `{item}` (the line, or the CSV's item column) and `{<column>}` for any CSV column.
 */

export type InputFormat = 'batch' | 'lines' | 'csv';

export interface RequestTemplate {
  prompt: string;
  model: string;
  maxTokens: number;
  system?: string | undefined;
  /** Marks the system prompt cacheable, so every request after the first reads it at a tenth of the price. */
  cacheSystem: boolean;
  /** CSV: the column that `{item}` stands for (default: the first). */
  column?: string | undefined;
  /** CSV: a column whose values become the custom_ids (default: generated from the line number). */
  idColumn?: string | undefined;
}

const PLACEHOLDER = /\{([A-Za-z0-9_ .-]+)\}/g;

/** Which format an input is in: the one given, else by its extension (.csv, .txt/.lines, anything else JSONL). */
export function resolveFormat(format: InputFormat | 'auto', uri: string): InputFormat {
  if (format !== 'auto') return format;
  const lower = uri.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.txt') || lower.endsWith('.lines')) return 'lines';
  return 'batch';
}

export function placeholders(prompt: string): string[] {
  return [...prompt.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/** Placeholders the template uses that the input cannot fill (empty when all can be). */
export function unknownPlaceholders(prompt: string, available: string[]): string[] {
  return placeholders(prompt).filter((name) => name !== 'item' && !available.includes(name));
}

export function renderPrompt(prompt: string, fields: Record<string, string>): string {
  return prompt.replace(PLACEHOLDER, (whole, name: string) => fields[name] ?? whole);
}

/** A generated custom_id: valid under the API's pattern, unique per line, sortable. */
export function generatedCustomId(lineNo: number): string {
  return `item-${String(lineNo).padStart(7, '0')}`;
}

function systemParam(t: RequestTemplate) {
  if (!t.system) return {};
  if (!t.cacheSystem) return { system: t.system };
  return { system: [{ type: 'text', text: t.system, cache_control: { type: 'ephemeral' } }] };
}

/** The request for one item of a simple input. */
export function requestFromItem(
  t: RequestTemplate,
  fields: Record<string, string>,
  lineNo: number,
): { custom_id: unknown; params: Record<string, unknown> } {
  return {
    custom_id: t.idColumn ? fields[t.idColumn] : generatedCustomId(lineNo),
    params: {
      model: t.model,
      max_tokens: t.maxTokens,
      ...systemParam(t),
      messages: [{ role: 'user', content: renderPrompt(t.prompt, fields) }],
    },
  };
}

/** A batch-format line with the template's model, max_tokens and system filled in where the line has none. */
export function withDefaults(t: RequestTemplate | undefined, value: unknown): unknown {
  if (!t || typeof value !== 'object' || value === null) return value;
  const line = value as { params?: unknown };
  if (typeof line.params !== 'object' || line.params === null || Array.isArray(line.params)) return value;
  const params = line.params as Record<string, unknown>;
  return {
    ...line,
    params: {
      ...(params.model === undefined ? { model: t.model } : {}),
      ...(params.max_tokens === undefined ? { max_tokens: t.maxTokens } : {}),
      ...(params.system === undefined ? systemParam(t) : {}),
      ...params,
    },
  };
}
