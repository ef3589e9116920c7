import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadPriceTable } from '../../config/load.js';
import { BODY_OVERHEAD_BYTES, ChunkPlanner } from '../../shared/chunking.js';
import { estimateJob, seededRandom, type ModelSample } from '../../shared/estimate.js';
import { parseJobInput } from '../../shared/job-input.js';
import { applyProgress, chunksToStart, initialState, summarize, type JobState } from '../../shared/job-state.js';
import { expiryWarningAt, nextPollDelay } from '../../shared/polling.js';
import { checkRequestLine } from '../../shared/request-rules.js';
import { outcomeOf, shouldRetry } from '../../shared/results.js';
import { reportMarkdown, type JobReport } from '../../shared/report.js';
import { approvalBasisUsd } from '../../shared/approval.js';
import { candidateWindow, CREATE_LATE_MS, fitsWindow, type Intent } from '../../shared/reconcile-window.js';

const HOUR = 3600_000;

describe('poll schedule', () => {
  it('starts quick, grows by half each poll, and caps at poll.max', () => {
    const poll = { initial: '30s', max: '10m' };
    const delays = Array.from({ length: 12 }, (_, i) => nextPollDelay(i + 1, poll, 0, null));
    assert.equal(delays[0], 30_000);
    assert.equal(delays[1], 45_000);
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!);
    assert.equal(delays.at(-1), 600_000);
  });
  it('never sleeps past the expiry-warning instant', () => {
    const expiresAt = 24 * HOUR;
    const warnAt = expiryWarningAt(expiresAt, '4h');
    assert.equal(warnAt, 20 * HOUR);
    assert.equal(nextPollDelay(30, { initial: '30s', max: '10m' }, warnAt - 60_000, warnAt), 60_000);
    assert.equal(nextPollDelay(30, { initial: '30s', max: '10m' }, warnAt + 1, null), 600_000);
  });
});

describe('chunk boundaries', () => {
  it('starts a new chunk before passing the request count or the byte limit', () => {
    const byCount = new ChunkPlanner({ maxRequests: 2, maxBytes: 1_000_000 });
    const starts = [10, 10, 10, 10, 10].map((size) => {
      const fresh = byCount.startsNewChunk(size);
      if (fresh) byCount.reset();
      byCount.add(size);
      return fresh;
    });
    assert.deepEqual(starts, [false, false, true, false, true]);
    // Room for exactly two 12-byte requests (each counts one separator byte) around the body's envelope.
    const byBytes = new ChunkPlanner({ maxRequests: 100, maxBytes: BODY_OVERHEAD_BYTES + 26 });
    byBytes.add(12);
    assert.equal(byBytes.startsNewChunk(12), false);
    byBytes.add(12);
    assert.equal(byBytes.startsNewChunk(12), true);
  });
  it('knows a request that can never fit', () => {
    const p = new ChunkPlanner({ maxRequests: 10, maxBytes: 100 });
    assert.equal(p.fits(100 - BODY_OVERHEAD_BYTES), true);
    assert.equal(p.fits(101 - BODY_OVERHEAD_BYTES), false);
  });
});

describe('which results to retry', () => {
  const errored = (type: string) => ({
    type: 'errored' as const,
    error: { type: 'error', error: { type, message: 'x' } },
  });
  it('retries expired, canceled and retryable errors; never invalid requests', () => {
    assert.equal(shouldRetry({ type: 'expired' }, false), true);
    assert.equal(shouldRetry({ type: 'canceled' }, false), true);
    for (const t of ['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error'])
      assert.equal(shouldRetry(errored(t), false), true, t);
    for (const t of ['invalid_request_error', 'authentication_error', 'not_found_error'])
      assert.equal(shouldRetry(errored(t), false), false, t);
    assert.equal(shouldRetry({ type: 'expired' }, true), false, 'nothing is retried once the job is canceled');
    assert.equal(outcomeOf(errored('api_error')), 'errored:api_error');
  });
});

describe('job input', () => {
  it('fills defaults for everything but input and output', () => {
    const parsed = parseJobInput({ input: 'in.jsonl', output: 'out.jsonl' });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value.chunk, { maxRequests: 100_000, maxBytes: 256_000_000 });
    assert.deepEqual(parsed.value.poll, { initial: '30s', max: '10m' });
    assert.equal(parsed.value.expiryWarning, '4h');
    assert.equal(parsed.value.retry.maxRounds, 3);
    assert.equal(parsed.value.onInvalid, 'reject');
    assert.equal(parsed.value.admission.maxQueuedRequests, 100_000);
  });
  it('lists every problem with its path', () => {
    const parsed = parseJobInput({
      output: 'gs://bucket/x',
      chunk: { maxRequests: 0 },
      poll: { initial: 'soon' },
      onInvalid: 'ignore',
      colour: 'red',
    });
    assert.ok(!parsed.ok);
    const text = parsed.problems.join('\n');
    for (const expected of [
      'input: required',
      'output: the gs:// scheme is not supported: use a path, a file:// or an s3:// URI',
      'chunk.maxRequests: must be ≥ 1 (got 0)',
      'poll.initial: poll.initial must be a duration',
      'onInvalid: must be one of "reject", "skip" (got "ignore")',
      'colour: not a known setting',
    ]) {
      assert.ok(text.includes(expected), `${expected} in\n${text}`);
    }
  });
});

describe('request lines', () => {
  const cap = (m: string) => (m === 'claude-haiku-4-5' ? 64_000 : undefined);
  it('reports every problem with its field and what is allowed', () => {
    const problems = checkRequestLine(
      {
        custom_id: 'a b',
        params: { model: 'claude-haiku-4-5', max_tokens: 70_000, messages: [], stream: true },
        extra: 1,
      },
      cap,
    );
    assert.deepEqual(problems.map((p) => p.field).sort(), [
      'custom_id',
      'extra',
      'params.max_tokens',
      'params.messages',
      'params.stream',
    ]);
    assert.match(problems.find((p) => p.field === 'params.max_tokens')!.rule, /at most 64000 for claude-haiku-4-5/);
    assert.deepEqual(
      checkRequestLine(
        {
          custom_id: 'ok',
          params: { model: 'claude-new-9', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
        },
        cap,
      ),
      [],
    );
  });
});

describe('admission control', () => {
  const state = (): JobState => {
    const s = initialState(0);
    s.chunks = [0, 1, 2].map((i) => ({
      ref: { id: `r0-c${i}`, round: 0, index: i, uri: '', requests: 10_000, bytes: 1 },
      status: 'pending',
    }));
    return s;
  };
  it('lets one chunk in at a time while a create is in flight, and keeps the queue under its limit', () => {
    const s = state();
    const limits = { maxQueuedRequests: 15_000, maxConcurrentBatches: 5 };
    assert.deepEqual(
      chunksToStart(s, limits).map((c) => c.ref.id),
      ['r0-c0'],
    );
    s.chunks[0]!.status = 'submitting';
    assert.deepEqual(chunksToStart(s, limits), [], 'one create at a time');
    applyProgress(s, { chunkId: 'r0-c0', status: 'in_progress' });
    assert.deepEqual(chunksToStart(s, limits), [], '10,000 queued + 10,000 > 15,000');
    applyProgress(s, { chunkId: 'r0-c0', status: 'fetching' });
    assert.deepEqual(
      chunksToStart(s, limits).map((c) => c.ref.id),
      ['r0-c1'],
      'an ended batch leaves the queue',
    );
  });
  it('admits a chunk larger than the limit when nothing else is queued, and caps concurrency', () => {
    const s = state();
    assert.equal(chunksToStart(s, { maxQueuedRequests: 5, maxConcurrentBatches: 5 }).length, 1);
    s.chunks[0]!.status = 'fetching';
    assert.equal(chunksToStart(s, { maxQueuedRequests: 1e9, maxConcurrentBatches: 1 }).length, 0);
  });
  it('ignores late progress for a finished chunk and totals outcomes', () => {
    const s = state();
    applyProgress(s, {
      chunkId: 'r0-c0',
      status: 'done',
      outcome: { retryUri: null, retryable: 0, outcomes: { succeeded: 9 }, costUsd: 0.5 },
    });
    applyProgress(s, { chunkId: 'r0-c0', status: 'in_progress' });
    assert.equal(s.chunks[0]!.status, 'done');
    assert.deepEqual(summarize(s).outcomes, { succeeded: 9 });
  });
});

describe('cost estimate', () => {
  const prices = loadPriceTable();
  const sample = (over: Partial<ModelSample>): ModelSample => ({
    requests: 1000,
    maxTokensSum: 100_000,
    chunks: 1,
    counted: 1000,
    inputSum: 500_000,
    inputSquares: 250_000_000,
    cacheableCounted: 0,
    prefixSum: 0,
    cacheTtl: '5m',
    minCacheableTokens: 4096,
    ...over,
  });
  it('prices exhaustive counts exactly, with output = max_tokens × ratio', () => {
    const e = estimateJob({ 'claude-haiku-4-5': sample({}) }, prices, 1);
    assert.equal(e.method, 'exhaustive');
    assert.equal(e.inputErrorBound, 0);
    assert.deepEqual(e.tokens, { input: 500_000, output: 100_000, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 });
    assert.equal(Math.round(e.batchUsd * 1e6), Math.round((0.5 * 0.5 + 0.1 * 2.5) * 1e6));
    assert.equal(Math.round(e.standardUsd * 1e6), Math.round(2 * e.batchUsd * 1e6));
    assert.equal(estimateJob({ 'claude-haiku-4-5': sample({}) }, prices, 0.25).tokens.output, 25_000);
  });
  it('extrapolates a sample with an error bound, and models a shared cached prefix', () => {
    const e = estimateJob(
      {
        'claude-haiku-4-5': sample({
          requests: 100_000,
          counted: 400,
          inputSum: 400 * 5000,
          inputSquares: 400 * (5000 ** 2 + 200 ** 2),
          cacheableCounted: 400,
          prefixSum: 400 * 4500,
          chunks: 1,
          cacheTtl: '1h',
        }),
      },
      prices,
      1,
    );
    assert.equal(e.method, 'sample');
    assert.ok(e.inputErrorBound > 0 && e.inputErrorBound < 0.01, String(e.inputErrorBound));
    assert.equal(e.tokens.cacheWrite1h, 4500);
    assert.equal(e.tokens.cacheRead, 99_999 * 4500);
    assert.equal(e.tokens.input, 100_000 * 500);
  });
  it('states a worst case: no cache hit (every prefix written again) and every answer at max_tokens', () => {
    const e = estimateJob(
      {
        'claude-haiku-4-5': sample({
          requests: 1000,
          counted: 1000,
          inputSum: 1000 * 5000,
          inputSquares: 1000 * 5000 ** 2,
          cacheableCounted: 1000,
          prefixSum: 1000 * 4500,
          maxTokensSum: 1000 * 200,
        }),
      },
      prices,
      0.1,
    );
    assert.deepEqual(e.worst?.tokens, {
      input: 1000 * 500,
      output: 200_000,
      cacheWrite5m: 1000 * 4500,
      cacheWrite1h: 0,
      cacheRead: 0,
    });
    // Haiku 4.5 at batch rates: 0.5 M input × $0.50 + 4.5 M 5m writes × $0.625 + 0.2 M output × $2.50
    assert.equal(Math.round(e.worst!.batchUsd * 1e6), Math.round((0.25 + 2.8125 + 0.5) * 1e6));
    assert.ok(e.worst!.batchUsd > e.batchUsd * 3, 'the expected case reads the cache and answers at 10%');
    assert.match(e.cacheAssumption ?? '', /writes a shared cached prefix once/);
    // The approval gate compares the worst case unless the job says otherwise.
    assert.equal(approvalBasisUsd(e, 'worst'), e.worst!.batchUsd);
    assert.equal(approvalBasisUsd(e, 'expected'), e.batchUsd);
    assert.equal(approvalBasisUsd({ batchUsd: 2 }, 'worst'), 2, 'estimates of older builds have no worst case');
  });
  it('samples reproducibly from a seed', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    assert.deepEqual([a(), a(), a()], [b(), b(), b()]);
  });
});

describe('report', () => {
  it('renders outcomes, estimate vs actual, savings and rounds as Markdown', () => {
    const report: JobReport = {
      jobId: 'job-1',
      status: 'completed',
      input: 'in.jsonl',
      output: 'out.jsonl',
      requests: { inputLines: 3, submitted: 3, invalidLines: 0, invalidReport: null },
      outcomes: { succeeded: 2, 'errored:invalid_request_error': 1 },
      rounds: [
        {
          round: 0,
          retried: 0,
          batches: [
            {
              chunkId: 'r0-c0001',
              batchId: 'msgbatch_1',
              requests: 3,
              outcomes: { succeeded: 2 },
              costUsd: 0.01,
              adopted: true,
            },
          ],
        },
      ],
      estimate: null,
      actual: {
        tokens: { input: 10, output: 5, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 },
        costUsd: 0.01,
        standardUsd: 0.02,
        savingsUsd: 0.01,
      },
      priceTable: { asOf: '2026-08-22' },
      timing: { startedAt: 'a', finishedAt: 'b', durationMs: 61_000 },
      notes: ['a note'],
    };
    const md = reportMarkdown(report);
    for (const expected of [
      '# Batch job job-1 — completed',
      '| succeeded | 2 | 66.7% |',
      '| saved | $0.0100 (50.0%) |',
      'msgbatch_1 (reconciled)',
      '- a note',
    ])
      assert.ok(md.includes(expected), expected);
  });
});

describe('the window of an ambiguous create', () => {
  const intent: Intent = {
    chunkId: 'r0-c0001',
    requests: 10,
    newestBefore: { id: 'msgbatch_prev', createdAt: '2026-12-02T10:00:00.000Z' },
    recordedAt: '2026-12-02T10:00:01.000Z',
  };
  const at = (iso: string) => Date.parse(iso);

  it('starts at the newest batch seen before the create and is open-ended after a worker death', () => {
    const w = candidateWindow(intent);
    assert.equal(w.after, at('2026-12-02T10:00:00.000Z'));
    assert.equal(w.before, Infinity);
    assert.ok(fitsWindow('2026-12-03T00:00:00.000Z', w));
    assert.ok(!fitsWindow('2026-12-02T09:59:59.999Z', w));
  });

  it("ends CREATE_LATE_MS after the API's time seen right after a failed create (plus the date header's second)", () => {
    const w = candidateWindow({ ...intent, ambiguousAt: 'x', createdBefore: '2026-12-02T10:00:05.000Z' });
    assert.equal(w.before, at('2026-12-02T10:00:05.000Z') + 1000 + CREATE_LATE_MS);
    assert.ok(fitsWindow(new Date(w.before).toISOString(), w));
    assert.ok(!fitsWindow(new Date(w.before + 1).toISOString(), w));
  });

  it('with no batch seen before, everything up to the end fits', () => {
    assert.equal(candidateWindow({ ...intent, newestBefore: null }).after, -Infinity);
  });
});
