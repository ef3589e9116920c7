import type { Readable } from 'node:stream';
import { parse, type CsvError } from 'csv-parse';
import { ApplicationFailure } from '@temporalio/common';
import {
  requestFromItem,
  unknownPlaceholders,
  withDefaults,
  type InputFormat,
  type RequestTemplate,
} from '../shared/request-template.js';
import { userLineBlocks } from './jsonl.js';

/** One input line turned into a request candidate, or the reason it could not be read. */
export type InputItem = { lineNo: number; value: unknown } | { lineNo: number; unreadable: string };

/**
 * The requests of an input in any supported format, streamed: batch JSONL as is (with the template's defaults for
 * missing params), lines and CSV rows through the prompt template. Blank lines are skipped.
 */
export async function* inputItems(
  source: Readable,
  format: InputFormat,
  template: RequestTemplate | undefined,
  maxLineBytes = 256_000_000,
): AsyncGenerator<InputItem> {
  for await (const block of inputItemBlocks(source, format, template, maxLineBytes)) yield* block;
}

/**
 * `inputItems`, a block of the input at a time (the lines of one read; one CSV row): the pass over a large job
 * awaits once per block rather than once per line.
 */
export async function* inputItemBlocks(
  source: Readable,
  format: InputFormat,
  template: RequestTemplate | undefined,
  maxLineBytes = 256_000_000,
): AsyncGenerator<InputItem[]> {
  if (format === 'csv') {
    for await (const item of csvItems(source, template!, maxLineBytes)) yield [item];
    return;
  }
  let lineNo = 0;
  for await (const lines of userLineBlocks(source, maxLineBytes)) {
    const items: InputItem[] = [];
    for (const raw of lines) {
      lineNo++;
      if (raw.trim() === '') continue;
      items.push(lineItem(raw, lineNo, format, template));
    }
    if (items.length > 0) yield items;
  }
}

function lineItem(raw: string, lineNo: number, format: InputFormat, template: RequestTemplate | undefined): InputItem {
  if (format === 'lines') return { lineNo, value: requestFromItem(template!, { item: raw }, lineNo) };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    return { lineNo, unreadable: `not valid JSON (${(err as Error).message})` };
  }
  return { lineNo, value: withDefaults(template, value) };
}

async function* csvItems(source: Readable, template: RequestTemplate, maxLineBytes: number): AsyncGenerator<InputItem> {
  const skipped: InputItem[] = [];
  const parser = source.pipe(
    parse({
      columns: (header: string[]) => header.map((h) => h.trim()),
      bom: true,
      info: true,
      max_record_size: maxLineBytes,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (err: CsvError | undefined) => {
        skipped.push({
          lineNo: Number(err?.lines ?? 0),
          unreadable: `not valid CSV (${err?.message ?? 'unreadable'})`,
        });
        return undefined;
      },
    }),
  );
  let item: string | undefined;
  for await (const { record, info } of parser as AsyncIterable<{
    record: Record<string, string>;
    info: { lines: number };
  }>) {
    while (skipped.length > 0) yield skipped.shift()!;
    item ??= checkHeader(Object.keys(record), template);
    yield { lineNo: info.lines, value: requestFromItem(template, { ...record, item: record[item] ?? '' }, info.lines) };
  }
  yield* skipped;
}

/** The column `{item}` stands for, once the header is known to have every column the template names. */
function checkHeader(header: string[], template: RequestTemplate): string {
  const missing = [template.column, template.idColumn].filter((c): c is string => !!c && !header.includes(c));
  const unknown = unknownPlaceholders(template.prompt, header);
  if (missing.length > 0 || unknown.length > 0)
    throw ApplicationFailure.nonRetryable(
      [
        ...missing.map((c) => `template column '${c}' is not in the CSV header`),
        ...unknown.map((u) => `template.prompt uses {${u}}, which is not a CSV column`),
      ].join('; ') + `. The header has: ${header.join(', ')}`,
      'InvalidTemplate',
    );
  return template.column ?? header[0]!;
}
