import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import type { JobReport } from '../../shared/report.js';

export const jobDir = () => mkdtempSync(path.join(tmpdir(), 'cb-job-'));

/** A small classification request (short prompt: big jobs stay small on disk). */
export function shortRequest(i: number, prefix = 'req') {
  return {
    custom_id: `${prefix}-${i}`,
    params: {
      model: 'claude-haiku-4-5',
      max_tokens: 8,
      system: 'Label the sentiment. Answer with one of: positive, negative, neutral.',
      messages: [{ role: 'user', content: `Review #${i}: the product was fine.` }],
    },
  };
}

export function writeJobInput(dir: string, count: number, prefix = 'req', name = 'input.jsonl'): string {
  const file = path.join(dir, name);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(JSON.stringify(shortRequest(i, prefix)));
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

export interface OutputLine {
  custom_id: string;
  result: { type: string; error?: { error?: { type: string } } };
}

export function readOutput(file: string): OutputLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutputLine);
}

/** The output has exactly one line per expected custom_id. */
export function assertExactOutput(lines: OutputLine[], expectedIds: string[]): void {
  const ids = lines.map((l) => l.custom_id);
  assert.equal(ids.length, expectedIds.length, 'one line per request');
  assert.equal(new Set(ids).size, ids.length, 'no custom_id twice');
  assert.deepEqual([...ids].sort(), [...expectedIds].sort());
}

export function readReport(output: string): JobReport {
  return JSON.parse(readFileSync(output.replace(/\.jsonl$/, '.report.json'), 'utf8')) as JobReport;
}

export const idsOf = (count: number, prefix = 'req') => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

/**
 * How many result lines each chunk's download in progress has stored in a round folder (its committed parts,
 * `download/<chunk>/000001.jsonl`, …: see activities/download-parts.ts), by chunk id.
 */
export function downloadedLines(roundDir: string): Record<string, number> {
  const root = path.join(roundDir, 'download');
  const counts: Record<string, number> = {};
  for (const chunk of ifThere(() => readdirSync(root), [])) {
    const dir = path.join(root, chunk);
    let lines = 0;
    // Parts go (the download made into its results file) while the worker runs: what vanished counts as nothing.
    for (const part of ifThere(() => readdirSync(dir), []).filter((n) => /^\d{6}\.jsonl$/.test(n)))
      lines += (ifThere(() => readFileSync(path.join(dir, part), 'utf8'), '').match(/\n/g) ?? []).length;
    counts[chunk] = lines;
  }
  return counts;
}

function ifThere<T>(read: () => T, otherwise: T): T {
  try {
    return read();
  } catch {
    return otherwise;
  }
}
