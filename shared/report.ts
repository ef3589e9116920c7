import type { Estimate } from './estimate.js';
import type { TokenTotals } from './pricing.js';
import type { InvalidLine } from './job-types.js';
import { formatUsd, pctBound, tokenClasses } from './money.js';

export interface JobReport {
  jobId: string;
  status: 'completed' | 'canceled';
  input: string;
  output: string;
  requests: {
    inputLines: number;
    submitted: number;
    invalidLines: number;
    invalidReport: string | null;
    /** Problems of the skipped lines (line, field, rule): the first few; the whole list is at `invalidReport`. */
    invalidProblems?: number;
    invalidFirst?: InvalidLine[];
  };
  /** Final outcome of every request: succeeded, expired, canceled, errored:<type>. */
  outcomes: Record<string, number>;
  rounds: {
    round: number;
    batches: {
      chunkId: string;
      batchId: string | null;
      /** Answered through the Messages API instead of a batch (a pilot, or stragglers at a deadline). */
      via?: 'sync';
      requests: number;
      outcomes: Record<string, number>;
      costUsd: number;
      adopted: boolean;
    }[];
    retried: number;
  }[];
  estimate: Estimate | null;
  actual: {
    tokens: TokenTotals;
    /** Batches at batch rates plus synchronous answers at standard rates. */
    costUsd: number;
    standardUsd: number;
    savingsUsd: number;
    /** The requests the Messages API answered (pilot, deadline fallback) and what they cost, at standard rates. */
    synchronous?: { requests: number; costUsd: number };
  };
  priceTable: { asOf: string };
  timing: { startedAt: string; finishedAt: string; durationMs: number };
  notes: string[];
}

const usd = formatUsd;
const n = (x: number) => x.toLocaleString('en-US');
const pct = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '—');

/** The report as Markdown, for people. */
export function reportMarkdown(r: JobReport): string {
  const total = Object.values(r.outcomes).reduce((a, b) => a + b, 0);
  const outcomeRows = Object.entries(r.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, count]) => `| ${k} | ${n(count)} | ${pct(count, total)} |`);
  const e = r.estimate;
  const lines = [
    `# Batch job ${r.jobId} — ${r.status}`,
    '',
    `- Input: \`${r.input}\` (${n(r.requests.inputLines)} lines, ${n(r.requests.submitted)} submitted, ${n(r.requests.invalidLines)} invalid)`,
    `- Output: \`${r.output}\` (${n(total)} lines, one per request)`,
    `- Duration: ${Math.round(r.timing.durationMs / 1000)} s (${r.timing.startedAt} → ${r.timing.finishedAt})`,
    '',
    '## Outcomes',
    '',
    '| outcome | requests | share |',
    '|---|---:|---:|',
    ...outcomeRows,
    '',
    '## Cost',
    '',
    `| | USD |`,
    `|---|---:|`,
    ...(e
      ? [
          `| estimate (${e.method}${e.method === 'sample' ? `, n=${e.sampleSize}, ±${pctBound(e.inputErrorBound)}% input` : ''}) | ${usd(e.batchUsd)} |`,
          ...(e.expectedRange && e.expectedRange.lowUsd !== e.expectedRange.highUsd
            ? [`| estimate, 95% range | ${usd(e.expectedRange.lowUsd)}–${usd(e.expectedRange.highUsd)} |`]
            : []),
          ...(e.worst
            ? [`| estimate, worst case (no cache hits, answers at max_tokens) | ${usd(e.worst.batchUsd)} |`]
            : []),
          ...(e.pilot
            ? [
                `| pilot: ${n(e.pilot.requests)} requests answered synchronously first, output measured at ${Math.round(100 * e.outputRatio)}% of max_tokens (±${pctBound(e.pilot.outputErrorBound)}%) | ${usd(e.pilot.costUsd)} |`,
              ]
            : []),
        ]
      : []),
    `| actual${r.actual.synchronous ? ' (batches and synchronous answers)' : ' (batch prices)'} | ${usd(r.actual.costUsd)} |`,
    ...(r.actual.synchronous
      ? [
          `| of which ${n(r.actual.synchronous.requests)} answered synchronously (standard prices) | ${usd(r.actual.synchronous.costUsd)} |`,
        ]
      : []),
    `| same tokens at synchronous prices | ${usd(r.actual.standardUsd)} |`,
    `| saved | ${usd(r.actual.savingsUsd)} (${pct(r.actual.savingsUsd, r.actual.standardUsd)}) |`,
    '',
    `Tokens: ${tokenClasses(r.actual.tokens)}.${e ? ` Estimated: ${tokenClasses(e.tokens)}.` : ''} Price table of ${r.priceTable.asOf}.`,
    '',
    '## Rounds',
    '',
    '| round | batch | requests | outcomes | cost |',
    '|---:|---|---:|---|---:|',
    ...r.rounds.flatMap((round) =>
      round.batches.map(
        (b) =>
          `| ${round.round} | ${b.via === 'sync' ? `${b.chunkId} (synchronous)` : (b.batchId ?? '(not submitted)')}${b.adopted ? ' (reconciled)' : ''} | ${b.requests} | ${Object.entries(
            b.outcomes,
          )
            .sort((x, y) => y[1] - x[1])
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')} | ${usd(b.costUsd)} |`,
      ),
    ),
  ];
  const skipped = r.requests.invalidFirst ?? [];
  if (skipped.length > 0) {
    const all = r.requests.invalidProblems ?? skipped.length;
    lines.push(
      '',
      '## Skipped lines',
      '',
      `${n(r.requests.invalidLines)} invalid line(s) were not submitted (${n(all)} problem(s)). ${all > skipped.length ? `The first ${skipped.length}:` : 'Each problem:'}`,
      '',
      '| line | custom_id | field | rule |',
      '|---:|---|---|---|',
      ...skipped.map((p) => `| ${p.line} | ${p.customId ?? ''} | ${p.field} | ${p.rule.replaceAll('|', '\\|')} |`),
    );
    if (r.requests.invalidReport) lines.push('', `Every problem: \`${r.requests.invalidReport}\``);
  }
  if (r.notes.length > 0) lines.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}
