import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import path from 'node:path';
import { JSONParser } from '@streamparser/json';
import type { ModelCatalog } from './catalog.js';
import { ApiError, invalidRequest } from './errors.js';
import { checkParams } from './model-checks.js';
import { drawOutcome, Outcome, type OutcomeRates } from './outcomes.js';
import { batchOnlyProblem, CUSTOM_ID } from './request-rules.js';

export interface IngestLimits {
  maxRequests: number;
  maxBytes: number;
}

export interface IngestContext {
  batchId: string;
  dir: string;
  catalog: ModelCatalog;
  /** The create's `anthropic-beta` values: some raise the models' output caps for this batch. */
  betas: readonly string[];
  rates: OutcomeRates;
  seed: number;
}

export interface IngestResult {
  requestCount: number;
  bytes: number;
  stuckCount: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a create body as a stream, validates it as the real API does, and writes `requests.jsonl` and
 * `outcomes.bin` into `ctx.dir`. Memory stays flat: requests are written as they are parsed. The first problem in
 * document order rejects the whole batch (400; 413 above the size limit).
 */
export async function ingestBatch(body: Readable, limits: IngestLimits, ctx: IngestContext): Promise<IngestResult> {
  const out = createWriteStream(path.join(ctx.dir, 'requests.jsonl'));
  const seen = new Map<string, number>();
  let outcomes = new Uint8Array(1024);
  let count = 0;
  let stuckCount = 0;
  let bytes = 0;
  let sawRequests = false;
  let problem: ApiError | null = null;
  let pending: string[] = [];

  const fail = (message: string) => {
    problem ??= invalidRequest(message);
  };

  const parser = new JSONParser({ paths: ['$.requests.*', '$.*'], keepStack: false });
  parser.onValue = ({ value, key, parent, stack }) => {
    if (stack.length === 1) {
      // A top-level member (the root object's own keys), or an element of a root array.
      if (typeof key === 'number') return fail('Input should be a valid dictionary or object to extract fields from');
      if (key === 'requests') {
        sawRequests = true;
        if (!Array.isArray(value)) fail('requests: Input should be a valid list');
      } else fail(`${String(key)}: Extra inputs are not permitted`);
      return;
    }
    if (stack.length !== 2 || stack[1]?.key !== 'requests' || !Array.isArray(parent)) return;
    // The parser keeps emitted elements in their array; drop each one so a 100 MB body is not held in memory.
    parent.length -= 1;
    const index = count++;
    if (problem) return;
    if (count > limits.maxRequests) return; // reported at the end, with the total
    const itemProblem = checkItem(value, index, seen);
    if (itemProblem) return fail(itemProblem);
    const item = value as { custom_id: string; params: Record<string, unknown> };
    const checked = checkParams(item.params, ctx.catalog, { batchBetas: ctx.betas });
    const code =
      'problem' in checked ? Outcome.invalidRequest : drawOutcome(ctx.rates, ctx.seed, ctx.batchId, item.custom_id);
    if (code === Outcome.stuck) stuckCount++;
    if (index >= outcomes.length) {
      const grown = new Uint8Array(outcomes.length * 2);
      grown.set(outcomes);
      outcomes = grown;
    }
    outcomes[index] = code;
    pending.push(JSON.stringify(item));
  };

  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) throw tooLarge(limits.maxBytes);
      try {
        parser.write(chunk);
      } catch (err) {
        throw invalidRequest(`There was an error parsing the body of your request: ${(err as Error).message}`);
      }
      if (pending.length > 0 && !problem) {
        if (!out.write(pending.join('\n') + '\n')) await once(out, 'drain');
      }
      pending = [];
    }
    if (!parser.isEnded)
      throw invalidRequest('There was an error parsing the body of your request: unexpected end of JSON');
    if (problem) throw problem;
    if (!sawRequests) throw invalidRequest('requests: Field required');
    if (count === 0) throw invalidRequest('requests: List should have at least 1 item after validation, not 0');
    if (count > limits.maxRequests)
      throw invalidRequest(
        `requests: List should have at most ${limits.maxRequests} items after validation, not ${count}`,
      );
  } finally {
    out.end();
    await once(out, 'close');
  }
  await writeFile(path.join(ctx.dir, 'outcomes.bin'), outcomes.subarray(0, count));
  return { requestCount: count, bytes, stuckCount };
}

export function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, `Request exceeds the maximum allowed number of bytes (${maxBytes}).`);
}

/** Checks one element of `requests` in the order the real API does: shape, custom_id (type, length, pattern, uniqueness), params. */
function checkItem(value: unknown, index: number, seen: Map<string, number>): string | null {
  const at = `requests.${index}`;
  if (!isObject(value)) return `${at}: Input should be a valid dictionary or object to extract fields from`;
  for (const key of Object.keys(value))
    if (key !== 'custom_id' && key !== 'params') return `${at}.${key}: Extra inputs are not permitted`;
  const id = value.custom_id;
  if (id === undefined) return `${at}.custom_id: Field required`;
  if (typeof id !== 'string') return `${at}.custom_id: Input should be a valid string`;
  if (id.length < CUSTOM_ID.minLength)
    return `${at}.custom_id: String should have at least ${CUSTOM_ID.minLength} character`;
  if (id.length > CUSTOM_ID.maxLength)
    return `${at}.custom_id: String should have at most ${CUSTOM_ID.maxLength} characters`;
  if (!CUSTOM_ID.pattern.test(id)) return `${at}.custom_id: String should match pattern '${CUSTOM_ID.pattern.source}'`;
  const first = seen.get(id);
  if (first !== undefined) return `${at}.custom_id: Duplicate custom_id '${id}' (also used by requests.${first})`;
  seen.set(id, index);
  if (value.params === undefined) return `${at}.params: Field required`;
  if (!isObject(value.params)) return `${at}.params: Input should be a valid dictionary`;
  const refused = batchOnlyProblem(value.params);
  if (refused) return `${at}.params.${refused.field}: ${refused.message}`;
  return null;
}
