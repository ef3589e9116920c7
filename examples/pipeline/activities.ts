/**
 * The pipeline's own activities (run by the pipeline's worker, not by claude-batch's): write the batch requests,
 * and read the results back.
 */
import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TICKET_LABELS, writeTicketJob } from '../support-tickets.js';

export interface PreparedTickets {
  /** The directory, made absolute: the claude-batch worker resolves relative paths under its own data dir. */
  dir: string;
  /** JSONL of Message Batches requests, `{custom_id, params}` per line. */
  requestsFile: string;
  requests: number;
}

/** Writes one classification request per ticket (here: synthetic tickets; in real life, from your ticket system). */
export async function prepareTickets(args: { dir: string; count: number; model?: string }): Promise<PreparedTickets> {
  const dir = path.resolve(args.dir);
  await mkdir(dir, { recursive: true });
  const requestsFile = path.join(dir, 'tickets.jsonl');
  await writeTicketJob(requestsFile, args.count, args.model);
  return { dir, requestsFile, requests: args.count };
}

export interface TicketSummary {
  /** Result lines read. */
  lines: number;
  /** Lines by outcome: succeeded, expired, canceled, errored:<error type>. */
  byOutcome: Record<string, number>;
  /** Succeeded lines by the label Claude answered (`unrecognized` when the answer is not one of the labels). */
  byLabel: Record<string, number>;
  summaryFile: string;
}

interface ResultLine {
  custom_id: string;
  result: {
    type: string;
    message?: { content?: { type: string; text?: string }[] };
    error?: { error?: { type?: string } };
  };
}

const LABELS = new Set<string>(TICKET_LABELS);

/** The label a succeeded result names, or `unrecognized`. */
function labelOf(result: ResultLine['result']): string {
  const text = (result.message?.content ?? [])
    .map((b) => (b.type === 'text' ? (b.text ?? '') : ''))
    .join('')
    .trim()
    .toLowerCase()
    .replace(/[.\s]+$/, '');
  return LABELS.has(text) ? text : 'unrecognized';
}

function outcomeOf(result: ResultLine['result']): string {
  return result.type === 'errored' ? `errored:${result.error?.error?.type ?? 'unknown_error'}` : result.type;
}

/** Streams the job's output (one line per ticket, however large) and counts per outcome and label. */
export async function summarizeResults(args: { output: string; summaryFile: string }): Promise<TicketSummary> {
  const file = args.output.startsWith('file://') ? fileURLToPath(args.output) : args.output;
  const byOutcome: Record<string, number> = {};
  const byLabel: Record<string, number> = {};
  let lines = 0;
  const input = createReadStream(file, { encoding: 'utf8' });
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    const { result } = JSON.parse(line) as ResultLine;
    lines++;
    const outcome = outcomeOf(result);
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
    if (result.type === 'succeeded') {
      const label = labelOf(result);
      byLabel[label] = (byLabel[label] ?? 0) + 1;
    }
  }
  const summary: TicketSummary = { lines, byOutcome, byLabel, summaryFile: path.resolve(args.summaryFile) };
  await writeFile(summary.summaryFile, JSON.stringify(summary, null, 2) + '\n');
  return summary;
}
