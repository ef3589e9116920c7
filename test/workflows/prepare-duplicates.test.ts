import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { ActivityDeps } from '../../activities/deps.js';
import type { CustomIdLimits } from '../../activities/custom-ids.js';
import { prepareActivities, type PrepareArgs } from '../../activities/prepare.js';
import { activityDeps } from '../../worker/create-worker.js';
import { bloomSize } from '../../shared/duplicate-ids.js';
import type { InvalidLine, PreparedJob } from '../../shared/job-types.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { shortRequest } from '../helpers/jobs.js';
import { testWorkerConfig } from '../helpers/temporal.js';

/**
 * The job-wide custom_id check past its in-memory threshold (activities/custom-ids): the same verdicts as the exact
 * in-memory check — every repeat, its line, nothing kept in reject mode, the first occurrence kept in skip mode —
 * with the repeats found after the pass taken out of chunks already written.
 */
describe('prepare: duplicate custom_ids beyond the in-memory threshold', () => {
  let em: EmulatorHarness;
  let root: string;
  let scratch: string;
  let deps: ActivityDeps;
  before(async () => {
    em = await startTestEmulator();
    root = mkdtempSync(path.join(tmpdir(), 'cb-dups-'));
    scratch = path.join(root, 'scratch');
    mkdirSync(scratch);
    deps = activityDeps(testWorkerConfig(em.url, { dataDir: path.join(root, 'data'), allowedRoots: [root] }));
  });
  after(async () => {
    await em?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const limits = (over: Partial<CustomIdLimits> = {}): CustomIdLimits => ({
    memoryIds: 1000,
    filter: bloomSize(5000, 0.01),
    confirmIds: 200_000,
    scratchBase: scratch,
    ...over,
  });
  /** Forces almost every id to be a candidate, and the candidates into many partitions. */
  const tiny = (): CustomIdLimits => limits({ filter: { bits: 64, hashes: 1 }, confirmIds: 300 });

  let jobs = 0;
  async function prepare(
    input: string,
    onInvalid: 'reject' | 'skip',
    customIds?: CustomIdLimits,
    extra: Partial<PrepareArgs> = {},
  ) {
    const jobId = `dups-${++jobs}`;
    const prepared: PreparedJob = await new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(
      prepareActivities(deps, customIds ? { customIds } : {}).prepareJob,
      { jobId, input, chunk: { maxRequests: 700, maxBytes: 1_000_000 }, onInvalid, ...extra },
    );
    assert.deepEqual(readdirSync(scratch), [], 'scratch files are removed');
    const local = (uri: string) => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);
    const ids = (uri: string) =>
      readFileSync(local(uri), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
    for (const c of [...prepared.chunks, ...(prepared.pilot ? [prepared.pilot] : [])]) {
      const text = readFileSync(local(c.uri));
      assert.equal(c.bytes, text.length, `${c.id}: size`);
      assert.equal(c.digest, createHash('sha256').update(text).digest('hex'), `${c.id}: digest`);
      assert.equal(ids(c.uri).length, c.requests, `${c.id}: requests`);
    }
    const reportUri = path.join(local(prepared.jobDir), 'invalid.jsonl');
    return {
      prepared,
      chunkIds: prepared.chunks.flatMap((c) => ids(c.uri)),
      pilotIds: prepared.pilot ? ids(prepared.pilot.uri) : [],
      chunkText: prepared.chunks.map((c) => readFileSync(local(c.uri), 'utf8')).join(''),
      report: existsSync(reportUri) ? readFileSync(reportUri, 'utf8') : '',
      reported: existsSync(reportUri)
        ? readFileSync(reportUri, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as InvalidLine)
        : [],
    };
  }

  const dupRule = (id: string) => `duplicate: '${id}' appears on an earlier line`;
  const write = (name: string, lines: string[]) => {
    const file = path.join(root, name);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  };

  /**
   * 5,000 lines: repeats inside the exact phase, across the switch (line 1000), after it, far apart (line 1 and the
   * last line), one id fifty times over, one on a line with another problem, one whose first line is invalid, and a
   * model that only a repeat line uses.
   */
  function mixedInput(): { file: string; repeats: number[]; alsoBad: number } {
    const lines: string[] = [];
    const at = new Map<number, object>();
    for (let i = 1; i <= 5000; i++) at.set(i, shortRequest(i, 'u'));
    const repeatOf = (line: number, id: number, model = 'claude-haiku-4-5') => {
      const r = shortRequest(id, 'u');
      r.params.model = model;
      at.set(line, r);
    };
    const repeats: number[] = [];
    for (const [line, of] of [
      [20, 10],
      [999, 998],
      [1001, 500],
      [2500, 3],
      [4000, 3999],
      [4700, 4699],
    ] as const) {
      repeatOf(line, of);
      repeats.push(line);
    }
    // One id fifty times, every 60 lines from 1500 (its first line).
    for (let k = 1; k < 50; k++) {
      repeatOf(1500 + 60 * k, 1500);
      repeats.push(1500 + 60 * k);
    }
    // A repeat on a line that also has another problem: it stays one bad line, with two problems.
    const alsoBad = 3500;
    const bad = shortRequest(7, 'u') as { params: Record<string, unknown> };
    delete bad.params.max_tokens;
    at.set(alsoBad, bad);
    // The first line of an id invalid, a later one valid: the later one is still a repeat (an id counts once read).
    const firstBad = shortRequest(4210, 'u') as { params: Record<string, unknown> };
    delete firstBad.params.max_tokens;
    at.set(4210, firstBad);
    repeatOf(4310, 4210);
    repeats.push(4310);
    // First line and last line; the last one's model appears nowhere else.
    repeatOf(5000, 1, 'claude-opus-4-5');
    repeats.push(5000);
    for (let i = 1; i <= 5000; i++) lines.push(JSON.stringify(at.get(i)));
    return { file: write('mixed.jsonl', lines), repeats: repeats.sort((a, b) => a - b), alsoBad };
  }

  it('skip mode: every repeat reported with its line, the first occurrence kept, none submitted', async () => {
    const { file, repeats, alsoBad } = mixedInput();
    const exact = await prepare(file, 'skip');
    const spilled = await prepare(file, 'skip', limits());
    for (const run of [exact, spilled]) {
      const dups = run.reported.filter((e) => e.rule.startsWith('duplicate'));
      assert.deepEqual(
        dups.map((e) => e.line),
        [...repeats, alsoBad].sort((a, b) => a - b),
      );
      for (const e of dups) assert.equal(e.rule, dupRule(e.customId!));
      assert.equal(run.prepared.invalid.lines, repeats.length + 2, 'the repeats, the bad line, the invalid first');
      assert.equal(run.prepared.invalid.problems, repeats.length + 3);
      assert.equal(new Set(run.chunkIds).size, run.chunkIds.length, 'no custom_id twice in the chunks');
      assert.equal(run.prepared.requests, 5000 - repeats.length - 2);
      assert.ok(run.chunkIds.includes('u-1') && run.chunkIds.includes('u-1500'), 'first occurrences are kept');
      assert.deepEqual(run.prepared.models, ['claude-haiku-4-5'], 'a model only on a skipped repeat is not the job’s');
    }
    // The same report, line for line, and the same requests in the same order, as the exact in-memory check.
    assert.equal(spilled.report, exact.report);
    assert.deepEqual(spilled.prepared.invalid.first, exact.prepared.invalid.first);
    assert.equal(spilled.chunkText, exact.chunkText);
    assert.ok(spilled.prepared.chunks.length >= 7, 'several chunks were rewritten');
  });

  it('reject mode: the same report, and nothing kept', async () => {
    const { file } = mixedInput();
    const exact = await prepare(file, 'reject');
    const spilled = await prepare(file, 'reject', limits());
    assert.equal(spilled.report, exact.report);
    assert.deepEqual(spilled.prepared.invalid, {
      ...exact.prepared.invalid,
      reportUri: spilled.prepared.invalid.reportUri,
    });
    assert.deepEqual(spilled.prepared.chunks, []);
    assert.equal(spilled.prepared.requests, 0);
  });

  it('reject mode: repeats that are the only problems, all found after the pass, still keep nothing', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify(shortRequest(i + 1, 'r')));
    lines[4999] = JSON.stringify(shortRequest(1, 'r'));
    const spilled = await prepare(write('late.jsonl', lines), 'reject', limits());
    assert.deepEqual(
      spilled.reported.map((e) => [e.line, e.customId, e.field, e.rule]),
      [[5000, 'r-1', 'custom_id', dupRule('r-1')]],
    );
    assert.equal(spilled.prepared.invalid.lines, 1);
    assert.deepEqual(spilled.prepared.chunks, []);
    const chunkDir = path.join(fileURLToPath(spilled.prepared.jobDir), 'rounds', '0', 'chunks');
    assert.deepEqual(existsSync(chunkDir) ? readdirSync(chunkDir) : [], [], 'chunk files removed');
  });

  it('no false duplicates: 5,000 distinct ids through a filter that calls nearly all of them "maybe"', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify(shortRequest(i, 'd')));
    const file = write('distinct.jsonl', lines);
    for (const onInvalid of ['skip', 'reject'] as const) {
      const run = await prepare(file, onInvalid, tiny());
      assert.equal(run.prepared.invalid.lines, 0, onInvalid);
      assert.equal(run.prepared.invalid.reportUri, null);
      assert.equal(run.prepared.requests, 5000);
      assert.equal(run.chunkIds.length, 5000);
      assert.equal(run.chunkText, lines.join('\n') + '\n');
    }
  });

  it('the tiny filter with many partitions still finds exactly the repeats, in line order', async () => {
    const { file } = mixedInput();
    const exact = await prepare(file, 'skip');
    const spilled = await prepare(file, 'skip', tiny());
    assert.equal(spilled.report, exact.report);
    assert.equal(spilled.chunkText, exact.chunkText);
    assert.deepEqual(spilled.prepared.invalid, {
      ...exact.prepared.invalid,
      reportUri: spilled.prepared.invalid.reportUri,
    });
  });

  it('many repeats of one id: a chunk left empty is removed, the rest rewritten', async () => {
    // 1,500 distinct, then 1,400 lines of one id: the last two chunks of 700 are nothing but repeats.
    const lines = Array.from({ length: 1500 }, (_, i) => JSON.stringify(shortRequest(i, 'm')));
    for (let i = 0; i < 1400; i++) lines.push(JSON.stringify(shortRequest(1200, 'm')));
    const file = write('many.jsonl', lines);
    const exact = await prepare(file, 'skip');
    const spilled = await prepare(file, 'skip', limits({ memoryIds: 100 }));
    assert.equal(spilled.prepared.invalid.lines, 1400);
    assert.equal(spilled.report, exact.report);
    assert.equal(spilled.chunkText, exact.chunkText);
    assert.equal(spilled.prepared.requests, 1500);
    assert.deepEqual(
      spilled.prepared.chunks.map((c) => [c.id, c.requests]),
      [
        ['r0-c0001', 700],
        ['r0-c0002', 700],
        ['r0-c0003', 100],
      ],
    );
    assert.equal(
      existsSync(path.join(fileURLToPath(spilled.prepared.jobDir), 'rounds', '0', 'chunks', 'r0-c0005.jsonl')),
      false,
    );
  });

  it('a pilot: repeats sampled into it are taken out too; no id is both in the pilot and a chunk', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify(shortRequest(i, 'p')));
    // Every line after 1,500 repeats one of the first 1,500: half the job is repeats, so the sample holds some.
    for (let i = 1500; i < 3000; i++) lines[i] = JSON.stringify(shortRequest(i - 1500, 'p'));
    const run = await prepare(write('pilot.jsonl', lines), 'skip', limits({ memoryIds: 200 }), {
      pilot: { size: 40, minRequests: 100 },
    });
    assert.equal(run.prepared.invalid.lines, 1500);
    assert.ok(run.prepared.pilot, 'a pilot was drawn');
    const everything = [...run.chunkIds, ...run.pilotIds];
    assert.equal(everything.length, 1500);
    assert.equal(new Set(everything).size, 1500);
    assert.equal(run.prepared.requests, 1500);
  });
});
