import { uniform } from './outcomes.js';
import { textTokens, TOKENIZER } from './tokenizer.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'tool_use'; id: string; name: string; input: Json };

export interface Answer {
  content: ContentBlock[];
  stopReason: 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';
  stopSequence: string | null;
  outputTokens: number;
}

const FILLER = [
  'The main point is clear and can be acted on directly.',
  'There are no obvious risks that need escalation.',
  'A short follow-up would confirm the details.',
  'The request is straightforward and has a simple answer.',
  'Context from earlier messages supports this reading.',
  'Further analysis would add little beyond this summary.',
];

/**
 * A deterministic stand-in for a model's reply: the same request always gets the same answer.
 *  - a forced tool (`tool_choice` tool/any) → a `tool_use` block whose input follows the tool's JSON schema;
 *  - a prompt listing labels ("one of: a, b, c", "Labels: a | b") → one of those labels;
 *  - a prompt asking for JSON with "fields: x, y" → a JSON object with those keys;
 *  - anything else → a short text about the last user message.
 */
export function answerFor(params: Json): Answer {
  const maxTokens = typeof params.max_tokens === 'number' ? params.max_tokens : 1024;
  const lastUser = lastUserText(params.messages);
  const prompt = `${systemText(params.system)}\n${lastUser}`;
  const seed = JSON.stringify([params.system ?? null, params.messages ?? null]);
  const content: ContentBlock[] = [];
  if (isObject(params.thinking) && params.thinking.type !== 'disabled') {
    content.push({
      type: 'thinking',
      thinking: `Reading the request: ${firstWords(lastUser, 8)}`,
      signature: 'emulator',
    });
  }

  const tool = forcedTool(params);
  if (tool) {
    content.push({
      type: 'tool_use',
      id: `toolu_01${Math.floor(uniform(seed, 'id') * 1e12)}`,
      name: tool.name,
      input: valueForSchema(tool.schema, seed) as Json,
    });
    return finish(content, 'tool_use', null, maxTokens);
  }

  const text = labelAnswer(prompt, lastUser) ?? jsonAnswer(prompt, seed) ?? proseAnswer(lastUser, seed);
  let stopReason: Answer['stopReason'] = 'end_turn';
  let stopSequence: string | null = null;
  let finalText = text;
  for (const seq of Array.isArray(params.stop_sequences) ? params.stop_sequences : []) {
    const at = typeof seq === 'string' && seq.length > 0 ? finalText.indexOf(seq) : -1;
    if (at >= 0) {
      finalText = finalText.slice(0, at);
      stopReason = 'stop_sequence';
      stopSequence = seq as string;
    }
  }
  content.push({ type: 'text', text: finalText });
  return finish(content, stopReason, stopSequence, maxTokens);
}

function finish(
  content: ContentBlock[],
  stopReason: Answer['stopReason'],
  stopSequence: string | null,
  maxTokens: number,
): Answer {
  const tokens = content.reduce((sum, b) => sum + blockOutputTokens(b), 0);
  if (tokens <= maxTokens) return { content, stopReason, stopSequence, outputTokens: tokens };
  // Over budget: cut the text where the token budget runs out, as a real model stops mid-sentence.
  let budget = maxTokens;
  const cut: ContentBlock[] = [];
  for (const block of content) {
    const t = blockOutputTokens(block);
    if (t <= budget) {
      cut.push(block);
      budget -= t;
    } else if (block.type === 'text' && budget > 0) {
      cut.push({ type: 'text', text: truncateToTokens(block.text, budget) });
      budget = 0;
    } else if (block.type === 'thinking' && budget > 0) {
      cut.push({ ...block, thinking: truncateToTokens(block.thinking, budget) });
      budget = 0;
    }
  }
  return { content: cut, stopReason: 'max_tokens', stopSequence: null, outputTokens: maxTokens };
}

function blockOutputTokens(b: ContentBlock): number {
  if (b.type === 'text') return textTokens(b.text);
  if (b.type === 'thinking') return textTokens(b.thinking);
  return textTokens(JSON.stringify(b.input)) + 2;
}

function truncateToTokens(text: string, tokens: number): string {
  const bytes = Buffer.from(text, 'utf8').subarray(0, tokens * TOKENIZER.bytesPerToken);
  // Drop a multi-byte character split at the cut.
  return bytes.toString('utf8').replace(/\uFFFD$/, '');
}

function systemText(system: unknown): string {
  if (typeof system === 'string') return system;
  if (Array.isArray(system))
    return system.map((b) => (isObject(b) && typeof b.text === 'string' ? b.text : '')).join('\n');
  return '';
}

function lastUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (!isObject(m) || m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content))
      return m.content.map((b) => (isObject(b) && typeof b.text === 'string' ? b.text : '')).join('\n');
  }
  return '';
}

const LABEL_LINE =
  /\b(?:one of|labels?|categories|category|classes|class|options|choose from|answer with|sentiment)\b[^:\n]{0,40}:\s*(.+)$/im;

function labelAnswer(prompt: string, lastUser: string): string | null {
  // The list ends with its sentence or a colon: "one of: a, b, c. Context" or "one of: a, b, c: <item>" → "a, b, c".
  const line = LABEL_LINE.exec(prompt)?.[1]?.split(/\.\s|:\s/)[0];
  if (!line) return null;
  const labels = line
    .split(/\s*(?:,|\||\/|;|\bor\b)\s*/)
    .map((l) => l.replace(/^[\s"'`[(]+|[\s"'`\])].?$|\.$/g, '').trim())
    .filter((l) => l.length > 0 && l.length <= 40);
  if (labels.length < 2 || labels.length > 30) return null;
  return labels[Math.floor(uniform('label', lastUser) * labels.length)] ?? null;
}

function jsonAnswer(prompt: string, seed: string): string | null {
  if (!/json/i.test(prompt)) return null;
  const line = /\bfields?\b[^:\n]{0,40}:\s*(.+)$/im.exec(prompt)?.[1];
  if (!line) return null;
  const fields = line
    .split(/\s*(?:,|\||;)\s*/)
    .map((f) => f.replace(/[^A-Za-z0-9_ -]/g, '').trim())
    .filter((f) => f.length > 0);
  if (fields.length === 0) return null;
  return JSON.stringify(Object.fromEntries(fields.map((f) => [f, phrase(seed, f)])));
}

function proseAnswer(lastUser: string, seed: string): string {
  const topic = firstWords(lastUser, 6) || 'your message';
  const n = 1 + Math.floor(uniform(seed, 'n') * 3);
  const sentences = Array.from({ length: n }, (_, i) => FILLER[Math.floor(uniform(seed, i) * FILLER.length)]);
  return `Regarding "${topic}": ${sentences.join(' ')}`;
}

function firstWords(text: string, n: number): string {
  return text.split(/\s+/).filter(Boolean).slice(0, n).join(' ');
}

const WORDS = ['alpha', 'north', 'silver', 'quarterly', 'standard', 'pending', 'renewal', 'acme', 'general', 'final'];
function phrase(seed: string, key: string): string {
  const a = WORDS[Math.floor(uniform(seed, key, 'a') * WORDS.length)];
  const b = WORDS[Math.floor(uniform(seed, key, 'b') * WORDS.length)];
  return `${a} ${b}`;
}

function forcedTool(params: Json): { name: string; schema: unknown } | null {
  const choice = params.tool_choice;
  if (!isObject(choice) || !Array.isArray(params.tools)) return null;
  const tools = params.tools.filter(isObject);
  const picked =
    choice.type === 'tool' ? tools.find((t) => t.name === choice.name) : choice.type === 'any' ? tools[0] : undefined;
  if (!picked || typeof picked.name !== 'string') return null;
  return { name: picked.name, schema: picked.input_schema };
}

function valueForSchema(schema: unknown, seed: string, path = ''): unknown {
  if (!isObject(schema)) return {};
  if (Array.isArray(schema.enum) && schema.enum.length > 0)
    return schema.enum[Math.floor(uniform(seed, path) * schema.enum.length)];
  switch (schema.type) {
    case 'object': {
      const props = isObject(schema.properties) ? schema.properties : {};
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, valueForSchema(v, seed, `${path}.${k}`)]));
    }
    case 'array':
      return [valueForSchema(schema.items, seed, `${path}[0]`)];
    case 'integer':
      return Math.floor(uniform(seed, path) * 100);
    case 'number':
      return Math.round(uniform(seed, path) * 10_000) / 100;
    case 'boolean':
      return uniform(seed, path) < 0.5;
    default:
      return phrase(seed, path);
  }
}
