import type { JobStatusView } from '../../workflows/messages.js';
import { ENDED_PHASES, type ChunkState } from '../../shared/job-state.js';
import { formatUsd, pctBound } from '../../shared/money.js';

/** How a job's status is drawn: pure functions of the status view and the time, so tests call them directly. */

export const usd = formatUsd;
const int = (n: number) => n.toLocaleString('en-US');

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function bar(done: number, total: number, width = 24): string {
  const filled = total > 0 ? Math.min(width, Math.round((width * done) / total)) : 0;
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** Requests of a chunk whose outcome is known. */
export function chunkDone(c: ChunkState): number {
  if (c.status === 'done' || c.status === 'failed') return c.ref.requests;
  if (!c.counts) return 0;
  return c.ref.requests - c.counts.processing;
}

const STATUS_WORDS: Record<string, string> = {
  pending: 'waiting',
  submitting: 'submitting',
  in_progress: 'in progress',
  canceling: 'canceling',
  fetching: 'fetching results',
  done: 'done',
  failed: 'failed',
  held_back: 'held back (budget)',
  synchronous: 'answering synchronously',
  rerouted: 'not submitted (deadline): answered synchronously',
};

/** The budget's standing: billed, held for batches under way, the cap, and why it stopped the job if it did. */
export function budgetLine(v: JobStatusView): string | null {
  const b = v.budget;
  if (!b) return null;
  const standing = `budget ${usd(b.maxUsd)}: billed ${usd(b.spentUsd)}, held for batches under way ${usd(b.reservedUsd)}`;
  return b.stopped ? `${standing} — ${b.stopped}` : standing;
}

/**
 * A round's chunks (`batches`: those submitted as batches, not answered synchronously) and its requests answered:
 * the ones the job summed once a later round started (`v.rounds`) and those it still lists.
 */
export function roundProgress(v: JobStatusView, round: number): { chunks: number; batches: number; answered: number } {
  const summed = v.rounds?.find((r) => r.round === round);
  const listed = v.chunks.filter((c) => c.ref.round === round);
  return {
    chunks: (summed?.chunks ?? 0) + listed.length,
    batches: (summed ? summed.chunks - summed.synchronous : 0) + listed.filter((c) => !c.sync).length,
    answered: (summed?.answered ?? 0) + listed.reduce((sum, c) => sum + chunkDone(c), 0),
  };
}

/** "and a pilot of 20", when some requests are answered synchronously first. */
function pilotNote(v: JobStatusView): string {
  const pilot = v.chunks.find((c) => c.sync && c.ref.round === 0);
  return pilot ? ` and a pilot of ${int(pilot.ref.requests)} (answered synchronously first)` : '';
}

/** The deadline, and when the job stops waiting for its batches (or that it did). */
export function deadlineLine(v: JobStatusView): string | null {
  const d = v.deadline;
  if (!d) return null;
  const at = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  return d.reached
    ? `deadline ${at(d.at)}: cutoff reached at ${at(d.cutoffAt)}, the rest is answered synchronously`
    : `deadline ${at(d.at)}: batches until ${at(d.cutoffAt)}, then what is left synchronously`;
}

function chunkLine(c: ChunkState, width: number, phase: string): string {
  const done = chunkDone(c);
  const word = c.status === 'pending' && ENDED_PHASES.includes(phase) ? 'not submitted' : STATUS_WORDS[c.status];
  const batch = (c.batchId ?? (c.sync ? 'Messages API' : '')).padEnd(width);
  return `  ${c.ref.id}  ${batch}  ${bar(done, c.ref.requests, 20)}  ${int(done).padStart(7)}/${int(c.ref.requests).padEnd(7)}  ${word ?? c.status}${c.adopted ? ' (reconciled)' : ''}${c.expiryWarnedAt ? '  ⚠ expiring' : ''}`;
}

export function outcomesLine(outcomes: Record<string, number>): string {
  return Object.entries(outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${int(n)}`)
    .join(' · ');
}

export function estimateLine(v: JobStatusView): string | null {
  const e = v.estimate;
  if (!e) return null;
  const saved = e.standardUsd - e.batchUsd;
  const how =
    e.method === 'sample' ? `sampled ${e.sampleSize}, ±${pctBound(e.inputErrorBound)}% input` : 'every request counted';
  const worst = e.worst ? `; worst case ${usd(e.worst.batchUsd)}` : '';
  const r = e.expectedRange;
  const range = r && r.lowUsd !== r.highUsd ? `, 95% range ${usd(r.lowUsd)}–${usd(r.highUsd)}` : '';
  const output = e.pilot
    ? `output measured by a pilot of ${e.pilot.answered} answers at ${Math.round(100 * e.outputRatio)}% of max_tokens ±${pctBound(e.pilot.outputErrorBound)}%, pilot cost ${usd(e.pilot.costUsd)}`
    : `output assumed at ${Math.round(100 * e.outputRatio)}% of max_tokens`;
  return `estimate ${usd(e.batchUsd)} at batch prices${range} — ${usd(e.standardUsd)} synchronous, saves ${usd(saved)} (${how}; ${output}${worst})`;
}

/**
 * The earliest `expires_at` among batches still open, and how long until then counted on the API's clock (which
 * the emulator may run fast): `inMs` is what a person waits.
 */
export function nextExpiry(v: JobStatusView, now: number): { at: number; inMs: number; apiClock: boolean } | null {
  const open = v.chunks.filter((c) => ['submitting', 'in_progress', 'canceling'].includes(c.status) && c.expiresAt);
  if (open.length === 0) return null;
  const first = open
    .map((c) => ({ at: Date.parse(c.expiresAt!), ahead: c.apiClockAheadMs ?? 0 }))
    .reduce((a, b) => (b.at - b.ahead < a.at - a.ahead ? b : a));
  return { at: first.at, inMs: first.at - (now + first.ahead), apiClock: first.ahead !== 0 };
}

function expiryText(v: JobStatusView, now: number): string | null {
  const e = nextExpiry(v, now);
  if (!e) return null;
  const when = new Date(e.at).toISOString().slice(0, 16).replace('T', ' ');
  return `expires ${when} UTC${e.apiClock ? " on the API's clock" : ''} (in ${duration(e.inMs)})`;
}

const MAX_CHUNK_LINES = 12;

/** The live frame of a job in a terminal. */
export function renderFrame(v: JobStatusView, now: number): string {
  const requests = v.prepared?.requests ?? 0;
  const current = v.chunks.filter((c) => c.ref.round === v.round);
  const round0 = roundProgress(v, 0);
  const done = round0.answered;
  const lines = [
    `job ${v.jobId}  ·  ${v.phase.replaceAll('_', ' ')}${v.round > 0 ? ` (retry round ${v.round})` : ''}  ·  ${duration(now - v.startedAt)}`,
    `  ${v.input} → ${v.output}`,
  ];
  if (v.prepared)
    lines.push(
      `  ${int(requests)} requests in ${round0.chunks} batch(es)${v.prepared.invalidLines ? `, ${int(v.prepared.invalidLines)} invalid line(s) skipped` : ''}`,
    );
  const est = estimateLine(v);
  if (est) lines.push(`  ${est}`);
  if (v.estimate?.priceTableWarning) lines.push(`  warning: ${v.estimate.priceTableWarning}`);
  const budget = budgetLine(v);
  if (budget) lines.push(`  ${budget}`);
  const deadline = deadlineLine(v);
  if (deadline) lines.push(`  ${deadline}`);
  if (v.approval?.required)
    lines.push(`  approval: ${v.approval.state.replaceAll('_', ' ')}${v.approval.by ? ` by ${v.approval.by}` : ''}`);
  if (round0.chunks > 0)
    lines.push(`  ${bar(done, requests, 40)}  ${int(done)}/${int(requests)} answered (first round)`);
  const width = Math.max(0, ...current.map((c) => (c.batchId ?? '').length));
  for (const c of current.slice(0, MAX_CHUNK_LINES)) lines.push(chunkLine(c, width, v.phase));
  if (current.length > MAX_CHUNK_LINES) lines.push(`  … and ${current.length - MAX_CHUNK_LINES} more batches`);
  const totals = v.totals;
  if (Object.keys(totals.outcomes).length > 0) lines.push(`  outcomes: ${outcomesLine(totals.outcomes)}`);
  const tail: string[] = [];
  if (totals.costUsd > 0) tail.push(`cost so far ${usd(totals.costUsd)}`);
  // Chunks report poll times only with news, so a past "next poll" just means one is due.
  if (totals.nextPollAt && totals.nextPollAt > now) tail.push(`next poll in ${duration(totals.nextPollAt - now)}`);
  const expiry = expiryText(v, now);
  if (expiry) tail.push(expiry);
  if (tail.length > 0) lines.push(`  ${tail.join('  ·  ')}`);
  if (totals.expiringSoon)
    lines.push('  ⚠ a batch is close to its 24 h expiry: its unfinished requests will be retried');
  return lines.join('\n');
}

/** Plain log lines for what changed between two views (output that is not a terminal, e.g. CI logs), in the order it happened. */
export function describeChanges(prev: JobStatusView | null, next: JobStatusView, now: number): string[] {
  const out: string[] = [];
  const at = `[${duration(now - next.startedAt).padStart(7)}]`;
  const phaseChanged = !prev || prev.phase !== next.phase;
  // What validation and estimation found comes before the phase that follows them.
  if (next.prepared && !prev?.prepared) {
    const skipped = next.prepared.invalidLines;
    out.push(
      `${at} ${int(next.prepared.requests)} requests in ${roundProgress(next, 0).batches} batch(es)${pilotNote(next)}${skipped ? `; ${int(skipped)} invalid line(s) skipped` : ''}`,
    );
    for (const p of (next.prepared.invalidFirst ?? []).slice(0, SKIPPED_SHOWN))
      out.push(`${at}   skipped line ${p.line}, ${p.field}: ${p.rule}`);
  }
  if (next.estimate && !prev?.estimate) {
    out.push(`${at} ${estimateLine(next)}`);
    if (next.estimate.priceTableWarning) out.push(`${at} warning: ${next.estimate.priceTableWarning}`);
  }
  if (next.approval?.state === 'approved' && next.approval.by && prev?.approval?.state !== 'approved')
    out.push(`${at} approved by ${next.approval.by}${next.approval.reason ? ` (${next.approval.reason})` : ''}`);
  for (const c of next.chunks) {
    const before = prev?.chunks.find((p) => p.ref.id === c.ref.id);
    if (before?.status === c.status && chunkDone(before) === chunkDone(c)) continue;
    if (!before && c.status === 'pending') continue;
    const outcome = c.status === 'done' && c.outcome ? ` (${outcomesLine(c.outcome.outcomes)})` : '';
    const batch = c.batchId ? ` ${c.batchId}` : '';
    out.push(
      `${at} ${c.ref.id}${batch} ${STATUS_WORDS[c.status] ?? c.status} ${int(chunkDone(c))}/${int(c.ref.requests)}${outcome}${c.error ? `: ${c.error}` : ''}`,
    );
  }
  if ((next.budget?.stopped && !prev?.budget?.stopped) || (next.budget && !prev?.budget))
    out.push(`${at} ${budgetLine(next)}`);
  if (next.deadline && !prev?.deadline) out.push(`${at} ${deadlineLine(next)}`);
  if (next.deadline?.reached && !prev?.deadline?.reached) out.push(`${at} ${deadlineLine(next)}`);
  if (next.totals.expiringSoon && !prev?.totals.expiringSoon)
    out.push(`${at} warning: a batch is close to its 24 h expiry`);
  // After the chunk lines: "finalizing" reads right only once the last chunk is shown done.
  if (phaseChanged) out.push(`${at} ${next.phase.replaceAll('_', ' ')}`);
  return out;
}

/** Skipped lines shown as they are found (the report lists more, and `results --invalid` all of them). */
export const SKIPPED_SHOWN = 5;

/** A line that says the job is alive while nothing changes (plain output has no redrawn frame to show it). */
export function waitingLine(v: JobStatusView, now: number): string {
  const at = `[${duration(now - v.startedAt).padStart(7)}]`;
  const open = v.chunks.filter((c) => c.ref.round === v.round && c.status !== 'done' && c.status !== 'failed');
  const requests = v.chunks.filter((c) => c.ref.round === v.round).reduce((sum, c) => sum + c.ref.requests, 0);
  const done = v.chunks.filter((c) => c.ref.round === v.round).reduce((sum, c) => sum + chunkDone(c), 0);
  const parts = [`still ${v.phase.replaceAll('_', ' ')}`];
  if (v.chunks.length > 0) parts.push(`${open.length} batch(es) open`, `${int(done)}/${int(requests)} answered`);
  if (v.totals.nextPollAt && v.totals.nextPollAt > now)
    parts.push(`next poll in ${duration(v.totals.nextPollAt - now)}`);
  const expiry = expiryText(v, now);
  if (expiry) parts.push(expiry);
  return `${at} ${parts.join(' · ')}`;
}
