import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import path from 'node:path';
import type { RequestCounts, BatchRecord } from './batch-record.js';
import type { Bill } from './billing.js';
import type { ModelCatalog } from './catalog.js';
import { checkParams } from './model-checks.js';
import { erroredResult, isErrored, Outcome, uniform, type OutcomeCode } from './outcomes.js';
import { completionTime, endOf } from './processing.js';
import type { PromptCache } from './prompt-cache.js';
import { respond } from './respond.js';

/** Results are written in processing order, shuffled within windows of this many lines (order is not guaranteed). */
const SHUFFLE_WINDOW = 64;

export interface Finalized {
  counts: RequestCounts;
  endedAt: number;
  succeeded: number;
}

/**
 * Processes a batch whose end time has come: streams `requests.jsonl` and writes `results.jsonl` (one line per
 * request; unfinished requests become `expired` or `canceled`). Requests are answered at their own completion
 * time, so prompt-cache TTLs play out as they would. Each succeeded request goes on `bill` on its own, as some
 * prices depend on the request's prompt length. Written to a temp file and renamed, so a crash mid-way leaves no
 * partial results and the next start simply finalizes again (with a fresh bill).
 */
export async function finalizeBatch(
  record: BatchRecord,
  dir: string,
  catalog: ModelCatalog,
  cache: PromptCache,
  bill: Bill,
): Promise<Finalized> {
  const { endsAt, reason } = endOf(record.schedule);
  const outcomes = await readFile(path.join(dir, 'outcomes.bin'));
  const tmp = path.join(dir, 'results.jsonl.tmp');
  const out = createWriteStream(tmp);
  const counts: RequestCounts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  const batchBetas = record.betas;
  const unfinished: string[] = [];
  let window: string[] = [];

  const flush = async () => {
    shuffle(window, `${record.id}:${index}`);
    if (!out.write(window.join(''))) await once(out, 'drain');
    window = [];
  };

  const lines = createInterface({ input: createReadStream(path.join(dir, 'requests.jsonl')), crlfDelay: Infinity });
  let index = 0;
  for await (const line of lines) {
    const i = index++;
    const code = (outcomes[i] ?? Outcome.ok) as OutcomeCode;
    const item = JSON.parse(line) as { custom_id: string; params: Record<string, unknown> };
    const doneAt = completionTime(record.schedule, i);
    if (code === Outcome.stuck || doneAt > endsAt) {
      unfinished.push(item.custom_id);
      continue;
    }
    let result: unknown;
    if (isErrored(code)) {
      const checked = code === Outcome.invalidRequest ? checkParams(item.params, catalog, { batchBetas }) : null;
      result = erroredResult(code, checked && 'problem' in checked ? checked.problem.message : null);
      counts.errored++;
    } else {
      const checked = checkParams(item.params, catalog, { batchBetas });
      if ('problem' in checked) throw new Error(`request ${item.custom_id} passed ingest checks but fails now`);
      const { message, tokens: used } = respond(item.params, checked.model, cache, doneAt, 'batch');
      bill.add(checked.model.id, used);
      result = { type: 'succeeded', message };
      counts.succeeded++;
    }
    window.push(JSON.stringify({ custom_id: item.custom_id, result }) + '\n');
    if (window.length >= SHUFFLE_WINDOW) await flush();
  }
  await flush();

  const type = reason === 'canceled' ? 'canceled' : 'expired';
  for (const customId of unfinished) {
    if (!out.write(JSON.stringify({ custom_id: customId, result: { type } }) + '\n')) await once(out, 'drain');
  }
  counts[type] += unfinished.length;
  out.end();
  await once(out, 'close');
  await rename(tmp, path.join(dir, 'results.jsonl'));
  return { counts, endedAt: endsAt, succeeded: counts.succeeded };
}

function shuffle(lines: string[], seed: string): void {
  for (let i = lines.length - 1; i > 0; i--) {
    const j = Math.floor(uniform(seed, i, lines.length) * (i + 1));
    [lines[i], lines[j]] = [lines[j]!, lines[i]!];
  }
}
