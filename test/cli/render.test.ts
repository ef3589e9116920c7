import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialState, summarize, type ChunkState, type JobState } from '../../shared/job-state.js';
import type { Estimate } from '../../shared/job-types.js';
import { bar, chunkDone, describeChanges, duration, nextExpiry, renderFrame } from '../../client/progress/render.js';
import type { JobStatusView } from '../../workflows/messages.js';

const T0 = Date.parse('2026-11-22T10:00:00Z');
const SEC = 1000;

const estimate: Estimate = {
  method: 'exhaustive',
  sampleSize: 3000,
  inputErrorBound: 0,
  outputRatio: 1,
  requests: 3000,
  tokens: { input: 90_000, output: 24_000, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 },
  batchUsd: 0.105,
  standardUsd: 0.21,
  priceTableAsOf: '2026-08-22',
  unknownModels: [],
};

function chunk(index: number, requests: number, extra: Partial<ChunkState> = {}, round = 0): ChunkState {
  const id = `r${round}-c${String(index).padStart(4, '0')}`;
  return {
    ref: { id, round, index, uri: `file:///jobs/j/rounds/${id}.jsonl`, requests, bytes: requests * 300 },
    status: 'pending',
    ...extra,
  };
}

/** A status view as the workflow's query returns it. */
function view(patch: Partial<JobState> = {}): JobStatusView {
  const state: JobState = { ...initialState(T0), ...patch };
  return { ...state, jobId: 'tickets-1', input: '/data/in.jsonl', output: '/data/out.jsonl', totals: summarize(state) };
}

const prepared = (requests: number, invalidLines = 0) => ({
  jobDir: 'file:///jobs/tickets-1',
  lines: requests + invalidLines,
  requests,
  invalidLines,
  invalidReport: invalidLines ? 'file:///jobs/tickets-1/invalid.jsonl' : null,
});

/** Three batches half-way: one done, one polled with counts, one not yet submitted. */
function running(): JobStatusView {
  const expiresAt = new Date(T0 + 24 * 3600 * SEC).toISOString();
  return view({
    phase: 'running',
    prepared: prepared(3000),
    estimate,
    approval: { required: true, thresholdUsd: 0.05, state: 'approved', by: 'ana' },
    chunks: [
      chunk(1, 1000, {
        status: 'done',
        batchId: 'msgbatch_aaa',
        outcome: { retryUri: null, retryable: 0, outcomes: { succeeded: 990, 'errored:api_error': 10 }, costUsd: 0.03 },
      }),
      chunk(2, 1000, {
        status: 'in_progress',
        batchId: 'msgbatch_bbbbbb',
        counts: { processing: 400, succeeded: 600, errored: 0, canceled: 0, expired: 0 },
        expiresAt,
        lastPollAt: T0 + 50 * SEC,
        nextPollAt: T0 + 75 * SEC,
      }),
      chunk(3, 1000),
    ],
  });
}

describe('duration', () => {
  it('shows seconds, then minutes and seconds, then hours and minutes; never negative', () => {
    assert.equal(duration(0), '0s');
    assert.equal(duration(1499), '1s');
    assert.equal(duration(59 * SEC), '59s');
    assert.equal(duration(60 * SEC), '1m 00s');
    assert.equal(duration(61 * SEC + 600), '1m 02s');
    assert.equal(duration(3599 * SEC), '59m 59s');
    assert.equal(duration(3600 * SEC), '1h 00m');
    assert.equal(duration(25 * 3600 * SEC + 5 * 60 * SEC), '25h 05m');
    assert.equal(duration(-5000), '0s');
  });
});

describe('bar', () => {
  it('fills in proportion, clamps at the width, and is empty for an empty total', () => {
    assert.equal(bar(0, 10, 10), '░'.repeat(10));
    assert.equal(bar(5, 10, 10), '█'.repeat(5) + '░'.repeat(5));
    assert.equal(bar(10, 10, 10), '█'.repeat(10));
    assert.equal(bar(20, 10, 10), '█'.repeat(10), 'never wider than its width');
    assert.equal(bar(3, 0, 4), '░░░░');
    assert.equal([...bar(1, 3)].length, 24, 'default width 24');
  });
});

describe('renderFrame', () => {
  it('shows the job, its size, estimate, approval, overall and per-batch progress, outcomes, cost, next poll and expiry', () => {
    const v = running();
    const frame = renderFrame(v, T0 + 62 * SEC);
    const lines = frame.split('\n');
    assert.equal(lines[0], 'job tickets-1  ·  running  ·  1m 02s');
    assert.equal(lines[1], '  /data/in.jsonl → /data/out.jsonl');
    assert.match(frame, /^ {2}3,000 requests in 3 batch\(es\)$/m);
    assert.match(
      frame,
      /estimate \$0\.1050 at batch prices — \$0\.2100 synchronous, saves \$0\.1050 \(every request counted/,
    );
    assert.match(frame, /^ {2}approval: approved by ana$/m);
    // 1,000 done + 600 of the running batch answered = 1,600 of 3,000.
    assert.match(frame, /1,600\/3,000 answered \(first round\)/);
    const batchLines = lines.filter((l) => /^ {2}r0-c000\d /.test(l));
    assert.equal(batchLines.length, 3, 'one line per batch');
    assert.match(batchLines[0]!, /msgbatch_aaa +█{20} +1,000\/1,000 +done$/);
    assert.match(batchLines[1]!, /msgbatch_bbbbbb +█{12}░{8} +600\/1,000 +in progress$/);
    assert.match(batchLines[2]!, /r0-c0003 +░{20} +0\/1,000 +waiting$/);
    assert.match(frame, /outcomes: succeeded 990 · errored:api_error 10/);
    assert.match(frame, /cost so far \$0\.0300/);
    assert.match(frame, /next poll in 13s/);
    assert.match(frame, /expires 2026-11-23 10:00 UTC \(in 23h 58m\)/);
    assert.doesNotMatch(frame, /⚠/, 'no expiry warning');
  });

  it("repeats the estimate's warning about an old price table", () => {
    const v = running();
    assert.doesNotMatch(renderFrame(v, T0), /price table/);
    v.estimate = { ...v.estimate!, priceTableWarning: 'the price table is 120 days old (as of 2026-08-04)' };
    assert.match(renderFrame(v, T0), /^ {2}warning: the price table is 120 days old/m);
    assert.ok(describeChanges(null, v, T0).some((l) => /warning: the price table is 120 days old/.test(l)));
  });

  it("shows the budget's standing, and why it held batches back", () => {
    const v = running();
    assert.doesNotMatch(renderFrame(v, T0), /budget/, 'no budget, no line');
    v.budget = { maxUsd: 0.05, spentUsd: 0.03, reservedUsd: 0.015 };
    assert.match(renderFrame(v, T0), /^ {2}budget \$0\.0500: billed \$0\.0300, held for batches under way \$0\.0150$/m);
    const before = structuredClone(v);
    v.chunks[2]!.status = 'held_back';
    v.budget = { ...v.budget, stopped: 'the budget of $0.05 would be passed by the next batch (its worst case)' };
    assert.match(renderFrame(v, T0), /r0-c0003 +░{20} +0\/1,000 +held back \(budget\)$/m);
    const changes = describeChanges(before, v, T0);
    assert.ok(changes.some((l) => /held back \(budget\)/.test(l)));
    assert.ok(changes.some((l) => /budget \$0\.0500: .* — the budget of \$0\.05 would be passed/.test(l)));
  });

  it('shows the deadline and its cutoff, and says when the cutoff came', () => {
    const v = running();
    assert.doesNotMatch(renderFrame(v, T0), /deadline/, 'no deadline, no line');
    const at = Date.parse('2026-12-03T06:00:00Z');
    v.deadline = { at, cutoffAt: at - 600_000, reached: false };
    assert.match(
      renderFrame(v, T0),
      /^ {2}deadline 2026-12-03T06:00:00Z: batches until 2026-12-03T05:50:00Z, then what is left synchronously$/m,
    );
    const before = structuredClone(v);
    v.deadline = { ...v.deadline, reached: true };
    v.chunks[2]!.status = 'rerouted';
    const changes = describeChanges(before, v, T0);
    assert.ok(
      changes.some((l) => /deadline 2026-12-03T06:00:00Z: cutoff reached/.test(l)),
      changes.join('\n'),
    );
    assert.ok(
      changes.some((l) => /r0-c0003 not submitted \(deadline\)/.test(l)),
      changes.join('\n'),
    );
  });

  it('warns of a batch close to its expiry and marks reconciled batches', () => {
    const v = running();
    v.chunks[1]!.expiryWarnedAt = T0 + 20 * 3600 * SEC;
    v.chunks[1]!.adopted = true;
    v.totals = summarize(v);
    const frame = renderFrame(v, T0 + 20 * 3600 * SEC);
    assert.match(frame, /msgbatch_bbbbbb .* in progress \(reconciled\) {2}⚠ expiring/);
    assert.match(frame, /⚠ a batch is close to its 24 h expiry/);
  });

  it('names the retry round, shows only its batches, and caps a long list of batches', () => {
    const many = Array.from({ length: 15 }, (_, i) => chunk(i + 1, 10, { status: 'done' }));
    const retries = Array.from({ length: 14 }, (_, i) => chunk(i + 1, 1, { status: 'in_progress' }, 1));
    const v = view({ phase: 'running', round: 1, prepared: prepared(150), chunks: [...many, ...retries] });
    const frame = renderFrame(v, T0 + 5 * SEC);
    assert.match(frame.split('\n')[0]!, /running \(retry round 1\)/);
    assert.match(frame, /150\/150 answered \(first round\)/);
    assert.doesNotMatch(frame, /r0-c0001/, 'first-round batches are not listed in a retry round');
    assert.equal(frame.split('\n').filter((l) => /^ {2}r1-c\d{4} /.test(l)).length, 12);
    assert.match(frame, /… and 2 more batches/);
  });

  it('counts the first round from its summary once a retry round has started', () => {
    const v = view({
      phase: 'running',
      round: 1,
      prepared: prepared(150),
      rounds: [
        {
          round: 0,
          chunks: 14,
          statuses: { done: 14 },
          requests: 140,
          answered: 140,
          batches: 14,
          adopted: 0,
          synchronous: 0,
          outcomes: { succeeded: 120, expired: 20 },
          costUsd: 0.1,
          retryable: 20,
        },
      ],
      // The failed chunk of the first round stays listed (finalize needs it); the summary counts the others.
      chunks: [chunk(15, 10, { status: 'failed', error: 'boom' }), chunk(1, 20, { status: 'in_progress' }, 1)],
    });
    const frame = renderFrame(v, T0 + 5 * SEC);
    assert.match(frame, /150 requests in 15 batch\(es\)/);
    assert.match(frame, /150\/150 answered \(first round\)/);
    assert.match(frame, /outcomes: succeeded 120 · expired 20/);
    assert.doesNotMatch(frame, /r0-c0015/, 'first-round batches are not listed in a retry round');
    assert.match(frame, /r1-c0001 /);
  });

  it('keeps a fresh job to its header: no progress, cost or poll lines before it is prepared', () => {
    const frame = renderFrame(view(), T0 + 2 * SEC);
    assert.deepEqual(frame.split('\n'), ['job tickets-1  ·  validating  ·  2s', '  /data/in.jsonl → /data/out.jsonl']);
  });

  it('counts a batch as answered once it is done or failed, else by its request counts', () => {
    assert.equal(chunkDone(chunk(1, 50)), 0);
    assert.equal(chunkDone(chunk(1, 50, { status: 'failed' })), 50);
    assert.equal(
      chunkDone(
        chunk(1, 50, {
          status: 'in_progress',
          counts: { processing: 20, succeeded: 25, errored: 5, canceled: 0, expired: 0 },
        }),
      ),
      30,
    );
    const v = running();
    assert.deepEqual(
      nextExpiry(v, T0 + 3600 * SEC),
      { at: T0 + 24 * 3600 * SEC, inMs: 23 * 3600 * SEC, apiClock: false },
      'the earliest expiry of an open batch',
    );
    // The emulator's clock runs fast: 20 h ahead of ours, its batch expires in 3 h of its time, not 23.
    v.chunks[1]!.apiClockAheadMs = 20 * 3600 * SEC;
    assert.deepEqual(nextExpiry(v, T0 + 3600 * SEC), {
      at: T0 + 24 * 3600 * SEC,
      inMs: 3 * 3600 * SEC,
      apiClock: true,
    });
    assert.match(renderFrame(v, T0 + 3600 * SEC), /expires \S+ \S+ UTC on the API's clock \(in 3h 00m\)/);
    v.chunks[1]!.status = 'done';
    assert.equal(nextExpiry(v, T0), null, 'no open batch, no expiry');
  });
});

describe('describeChanges (plain log lines)', () => {
  const at = (s: number) => `[${duration(s * SEC).padStart(7)}]`;

  it('starts with the phase, and says nothing when nothing changed', () => {
    const first = view();
    assert.deepEqual(describeChanges(null, first, T0 + 1 * SEC), [`${at(1)} validating`]);
    assert.deepEqual(describeChanges(first, view(), T0 + 2 * SEC), []);
    const r = running();
    assert.deepEqual(describeChanges(r, running(), T0 + 3 * SEC), []);
  });

  it('reports a new phase with the size and the estimate once, and each batch as it moves', () => {
    const before = view();
    const after = running();
    const lines = describeChanges(before, after, T0 + 62 * SEC);
    const stamp = at(62);
    assert.ok(
      lines.every((l) => l.startsWith(`${stamp} `)),
      lines.join('\n'),
    );
    assert.ok(lines.includes(`${stamp} running`), lines.join('\n'));
    // In the order it happened: the size and the estimate, the batches, then the phase they lead to.
    assert.equal(lines.at(-1), `${stamp} running`);
    assert.ok(lines.indexOf(`${stamp} 3,000 requests in 3 batch(es)`) === 0, lines.join('\n'));
    assert.ok(lines.includes(`${stamp} 3,000 requests in 3 batch(es)`), lines.join('\n'));
    assert.equal(lines.filter((l) => l.includes('estimate $0.1050 at batch prices')).length, 1);
    assert.ok(lines.includes(`${stamp} r0-c0001 msgbatch_aaa done 1,000/1,000 (succeeded 990 · errored:api_error 10)`));
    assert.ok(lines.includes(`${stamp} r0-c0002 msgbatch_bbbbbb in progress 600/1,000`));
    assert.ok(!lines.some((l) => l.includes('r0-c0003')), 'a batch not yet started is not news');
    assert.ok(lines.includes(`${stamp} approved by ana`), 'who approved, once');
    assert.equal(lines.length, 6, lines.join('\n'));

    // Later: the second batch finishes; only it is reported, the estimate is not repeated.
    const later = running();
    later.chunks[1] = {
      ...later.chunks[1]!,
      status: 'done',
      outcome: { retryUri: null, retryable: 0, outcomes: { succeeded: 1000 }, costUsd: 0.03 },
    };
    assert.deepEqual(describeChanges(after, later, T0 + 90 * SEC), [
      `${at(90)} r0-c0002 msgbatch_bbbbbb done 1,000/1,000 (succeeded 1,000)`,
    ]);
  });

  it('mentions skipped invalid lines, a failed batch with its error, and the expiry warning once', () => {
    const before = view({
      phase: 'running',
      prepared: prepared(10, 2),
      chunks: [chunk(1, 10, { status: 'in_progress' })],
    });
    const after = view({
      phase: 'running',
      prepared: prepared(10, 2),
      chunks: [chunk(1, 10, { status: 'failed', error: 'ResultsMismatch: 3 unexpected ids' })],
    });
    assert.deepEqual(describeChanges(before, after, T0 + 5 * SEC), [
      `${at(5)} r0-c0001 failed 10/10: ResultsMismatch: 3 unexpected ids`,
    ]);
    const fresh = describeChanges(null, before, T0 + 5 * SEC);
    assert.ok(fresh.includes(`${at(5)} 10 requests in 1 batch(es); 2 invalid line(s) skipped`), fresh.join('\n'));

    const warned = view({
      phase: 'running',
      prepared: prepared(10),
      chunks: [chunk(1, 10, { status: 'in_progress', expiryWarnedAt: T0 })],
    });
    const quiet = view({ phase: 'running', prepared: prepared(10), chunks: [chunk(1, 10, { status: 'in_progress' })] });
    const lines = describeChanges(quiet, warned, T0 + 6 * SEC);
    assert.deepEqual(lines, [`${at(6)} warning: a batch is close to its 24 h expiry`]);
    assert.deepEqual(describeChanges(warned, warned, T0 + 7 * SEC), [], 'warned once');
  });
});
