import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyProgress,
  capError,
  chunkCounts,
  chunkUri,
  compactFinishedRounds,
  fullRef,
  initialState,
  keepOutcome,
  keepRef,
  MAX_ERROR_CHARS,
  pathUnder,
  retryUriOf,
  summarize,
  type ChunkState,
  type JobState,
} from '../../shared/job-state.js';
import { failureNotes, finalizeLists, MAX_FAILURE_NOTES, syncSources } from '../../shared/job-args.js';
import { budgetStatus } from '../../shared/budget.js';
import type { ChunkRef } from '../../shared/job-types.js';

/** How the job keeps its state small (COMPACT_PATCH): paths for URIs, settled chunks, summed rounds. */

const DIR = 's3://bucket/claude-batch/jobs/nightly';
const ref = (round: number, index: number, requests = 10): ChunkRef => {
  const id = `r${round}-c${String(index + 1).padStart(4, '0')}`;
  return { id, round, index, uri: `${DIR}/rounds/${round}/chunks/${id}.jsonl`, requests, bytes: requests * 100 };
};
const outcome = (r: ChunkRef, costUsd: number, retryable = 0) => ({
  retryUri: retryable ? `${DIR}/rounds/${r.round}/retry/${r.id}.ids` : null,
  retryable,
  outcomes: { succeeded: r.requests - retryable, ...(retryable ? { expired: retryable } : {}) },
  costUsd,
});
const job = (): JobState => ({
  ...initialState(0),
  prepared: { jobDir: DIR, lines: 100, requests: 100, invalidLines: 0, invalidReport: null },
});

describe('chunk URIs kept as paths under the job directory', () => {
  it('takes the rest after the directory only at a separator', () => {
    assert.equal(pathUnder(DIR, `${DIR}/rounds/0/chunks/a.jsonl`), '/rounds/0/chunks/a.jsonl');
    assert.equal(pathUnder('C:\\jobs\\j', 'C:\\jobs\\j\\rounds\\a.jsonl'), '\\rounds\\a.jsonl');
    assert.equal(pathUnder(DIR, `${DIR}-other/a.jsonl`), undefined, 'a sibling with a longer name');
    assert.equal(pathUnder(DIR, DIR), undefined);
    assert.equal(pathUnder('', '/a'), undefined);
  });

  it('puts the URI together again exactly, and keeps one outside the directory as it is', () => {
    const r = { ...ref(0, 0), digest: 'abc' };
    const kept = keepRef(DIR, r);
    assert.equal(kept.uri, undefined);
    assert.equal(kept.path, '/rounds/0/chunks/r0-c0001.jsonl');
    assert.deepEqual(fullRef(DIR, kept), r);
    const outside = { ...r, uri: 's3://elsewhere/a.jsonl' };
    assert.deepEqual(keepRef(DIR, outside), outside);
    assert.deepEqual(fullRef(DIR, outside), outside, 'a reference of a job started before the patch');
    assert.throws(() => chunkUri(DIR, { id: 'x', round: 0, index: 0, requests: 1, bytes: 1 }), /neither/);
  });

  it('keeps a retry list as a path too, and no retry list as null', () => {
    const o = outcome(ref(1, 2), 0.5, 3);
    const kept = keepOutcome(DIR, o);
    assert.equal(kept.retryPath, '/rounds/1/retry/r1-c0003.ids');
    assert.equal(kept.retryUri, undefined);
    assert.equal(retryUriOf(DIR, kept), o.retryUri);
    assert.equal(retryUriOf(DIR, keepOutcome(DIR, outcome(ref(1, 2), 0.5))), null);
    assert.equal(retryUriOf(DIR, o), o.retryUri, 'an outcome kept whole');
    assert.equal(retryUriOf(DIR, undefined), null);
  });
});

describe('a finished chunk settled', () => {
  it('keeps what is read later, its last poll in the job, and ignores late progress', () => {
    const s = job();
    const r = { ...ref(0, 0), digest: 'abc' };
    s.chunks = [{ ref: keepRef(DIR, r), status: 'submitting' }];
    applyProgress(
      s,
      {
        chunkId: r.id,
        status: 'in_progress',
        batchId: 'msgbatch_1',
        adopted: false,
        expiresAt: '2026-12-04T00:00:00Z',
        counts: { processing: 10, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
        apiClockAheadMs: 5,
        lastPollAt: 1_000,
        nextPollAt: 2_000,
        expiryWarnedAt: 900,
      },
      true,
    );
    assert.equal(summarize(s).nextPollAt, 2_000);
    applyProgress(s, { chunkId: r.id, status: 'done', lastPollAt: 1_500, outcome: outcome(r, 0.25, 2) }, true);
    assert.deepEqual(s.chunks[0], {
      ref: { id: r.id, round: 0, index: 0, requests: 10, bytes: 1000, path: '/rounds/0/chunks/r0-c0001.jsonl' },
      status: 'done',
      batchId: 'msgbatch_1',
      outcome: {
        retryPath: '/rounds/0/retry/r0-c0001.ids',
        retryable: 2,
        outcomes: { succeeded: 8, expired: 2 },
        costUsd: 0.25,
      },
    });
    assert.equal(s.lastPollAt, 1_500);
    assert.equal(summarize(s).lastPollAt, 1_500);
    applyProgress(s, { chunkId: r.id, status: 'in_progress', lastPollAt: 9_999 }, true);
    assert.equal(s.chunks[0]!.status, 'done');
    assert.equal(summarize(s).lastPollAt, 1_500);
  });

  it('cuts a long error, never inside a surrogate pair', () => {
    const s = job();
    s.chunks = [{ ref: keepRef(DIR, ref(0, 0)), status: 'in_progress' }];
    applyProgress(s, { chunkId: 'r0-c0001', status: 'failed', error: 'x'.repeat(5_000) }, true);
    assert.equal(s.chunks[0]!.error!.length, MAX_ERROR_CHARS);
    assert.ok(s.chunks[0]!.error!.endsWith('…'));
    assert.equal(capError('short'), 'short');
    const emoji = `${'a'.repeat(MAX_ERROR_CHARS - 2)}😀😀`;
    assert.equal(capError(emoji), `${'a'.repeat(MAX_ERROR_CHARS - 2)}…`, 'no lone high surrogate before the ellipsis');
  });

  it('is left whole without the patch (a job started before it replays as it ran)', () => {
    const s = job();
    const r = ref(0, 0);
    s.chunks = [
      { ref: r, status: 'in_progress', counts: { processing: 0, succeeded: 10, errored: 0, canceled: 0, expired: 0 } },
    ];
    applyProgress(s, { chunkId: r.id, status: 'done', lastPollAt: 7, outcome: outcome(r, 0.1, 1) });
    assert.equal(s.chunks[0]!.ref.uri, r.uri);
    assert.equal(s.chunks[0]!.outcome?.retryUri, outcome(r, 0.1, 1).retryUri);
    assert.equal(s.chunks[0]!.lastPollAt, 7);
    assert.ok(s.chunks[0]!.counts);
    assert.equal(s.lastPollAt, undefined);
  });
});

describe('finished rounds summed when the next round starts', () => {
  /** Round 0 as a job started before the patch carries it: whole chunks with URIs and poll times. */
  function carried(): JobState {
    const s = job();
    const c = (i: number, over: Partial<ChunkState>): ChunkState => ({ ref: ref(0, i), status: 'done', ...over });
    s.chunks = [
      c(0, { batchId: 'b0', lastPollAt: 50, outcome: outcome(ref(0, 0), 0.1, 4) }),
      c(1, { batchId: 'b1', adopted: true, lastPollAt: 70, outcome: outcome(ref(0, 1), 0.2) }),
      c(2, { batchId: 'b2', status: 'failed', error: 'boom' }),
      c(3, { status: 'held_back' }),
      c(4, { status: 'rerouted' }),
      c(5, { sync: true, outcome: outcome(ref(0, 5), 0.3) }),
      { ref: ref(1, 0, 4), status: 'pending' },
    ];
    s.round = 1;
    return s;
  }

  it('keeps totals, budget and counts, and the failed and held-back chunks for finalize', () => {
    const s = carried();
    const before = { totals: summarize(s), spent: budgetStatus(s, 10).spentUsd, counts: chunkCounts(s) };
    const lists = finalizeLists(s);
    compactFinishedRounds(s);
    assert.deepEqual(
      s.chunks.map((c) => [c.ref.id, c.status]),
      [
        ['r0-c0003', 'failed'],
        ['r0-c0004', 'held_back'],
        ['r1-c0001', 'pending'],
      ],
    );
    assert.equal(s.chunks[0]!.ref.path, '/rounds/0/chunks/r0-c0003.jsonl');
    assert.equal(s.chunks[0]!.error, 'boom');
    assert.deepEqual(s.rounds, [
      {
        round: 0,
        chunks: 4,
        statuses: { done: 3, rerouted: 1 },
        requests: 40,
        answered: 30,
        batches: 2,
        adopted: 1,
        synchronous: 1,
        outcomes: { succeeded: 26, expired: 4 },
        costUsd: 0.1 + 0.2 + 0.3,
        retryable: 4,
      },
    ]);
    assert.equal(s.lastPollAt, 70);
    const totals = summarize(s);
    assert.deepEqual(totals.outcomes, before.totals.outcomes);
    assert.equal(totals.costUsd, before.totals.costUsd);
    assert.equal(totals.lastPollAt, before.totals.lastPollAt);
    assert.equal(budgetStatus(s, 10).spentUsd, before.spent);
    assert.deepEqual(chunkCounts(s), before.counts);
    assert.deepEqual(finalizeLists(s), lists);
  });

  it('does nothing more when a later round starts (a summary is never counted twice)', () => {
    const s = carried();
    compactFinishedRounds(s);
    const once = structuredClone(s);
    compactFinishedRounds(s);
    assert.deepEqual(s, once);
    s.chunks[2]!.status = 'done';
    s.round = 2;
    compactFinishedRounds(s);
    assert.deepEqual(
      s.rounds?.map((r) => [r.round, r.chunks]),
      [
        [0, 4],
        [1, 1],
      ],
    );
    assert.deepEqual(chunkCounts(s), { chunks: 7, done: 4 });
  });
});

describe('what activities are given from a compact state', () => {
  it('sends the synchronous round every rerouted chunk and every retry list, as whole URIs', () => {
    const s = job();
    const [a, b, c] = [ref(0, 0), ref(0, 1), ref(0, 2)];
    s.chunks = [
      { ref: keepRef(DIR, a), status: 'rerouted' },
      { ref: keepRef(DIR, b), status: 'done', outcome: keepOutcome(DIR, outcome(b, 0, 2)) },
      { ref: keepRef(DIR, c), status: 'done', outcome: keepOutcome(DIR, outcome(c, 0)) },
    ];
    assert.deepEqual(syncSources(s), [{ uri: a.uri }, { uri: b.uri, retryUri: outcome(b, 0, 2).retryUri }]);
  });

  it('notes failures once per distinct error, and at most MAX_FAILURE_NOTES notes', () => {
    const failed = (i: number, error: string): ChunkState => ({ ref: ref(0, i), status: 'failed', error });
    const same = Array.from({ length: 8 }, (_, i) => failed(i, 'terminated'));
    assert.deepEqual(failureNotes([failed(0, 'boom')], true), [
      'chunk r0-c0001 failed (boom); its requests are answered as errored',
    ]);
    assert.deepEqual(failureNotes(same, true), [
      'chunks r0-c0001, r0-c0002, r0-c0003, r0-c0004, r0-c0005 and 3 more failed (terminated); their requests are answered as errored',
    ]);
    assert.equal(failureNotes(same, false).length, 8, 'one a chunk without the patch, as before');
    const distinct = Array.from({ length: 25 }, (_, i) => failed(i, `error ${i}`));
    const notes = failureNotes(distinct, true);
    assert.equal(notes.length, MAX_FAILURE_NOTES);
    assert.match(notes.at(-1)!, /^16 more chunk\(s\) failed with 16 other errors/);
  });
});
