import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { CustomIdLimits } from '../../activities/custom-ids.js';
import type { ActivityDeps } from '../../activities/deps.js';
import { estimateActivities, type EstimateArgs } from '../../activities/estimate.js';
import { estimateSampleUri } from '../../activities/estimate-sample.js';
import { prepareActivities, type PrepareArgs } from '../../activities/prepare.js';
import { bloomSize } from '../../shared/duplicate-ids.js';
import type { Estimate } from '../../shared/estimate.js';
import type { ChunkRef, PreparedJob } from '../../shared/job-types.js';
import type { BlobStore } from '../../storage/blob-store.js';
import { activityDeps } from '../../worker/create-worker.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { testWorkerConfig } from '../helpers/temporal.js';

/**
 * Prepare gathers what the estimate needs in its one pass (activities/estimate-sample): the estimate made from that
 * file must be the very estimate a full pass over the chunks makes — same numbers — and it must not read a chunk.
 * Where the file does not hold what the estimate's settings pick, or does not describe the chunks, the estimate
 * reads the chunks as before.
 */
describe('estimate: the sample prepare gathered', () => {
  let em: EmulatorHarness;
  let root: string;
  let deps: ActivityDeps;
  /** Chunk files the estimate opened (the sample file is not one). */
  let chunkReads: string[] = [];
  before(async () => {
    em = await startTestEmulator();
    root = mkdtempSync(path.join(tmpdir(), 'cb-estsample-'));
    mkdirSync(path.join(root, 'scratch'));
    const base = activityDeps(testWorkerConfig(em.url, { dataDir: path.join(root, 'data'), allowedRoots: [root] }));
    deps = { ...base, store: readsCounted(base.store, (uri) => chunkReads.push(uri)) };
  });
  after(async () => {
    await em?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const defaults = { outputRatio: 0.5, exhaustiveMax: 500, sampleSize: 400, seed: 1 };
  const local = (uri: string) => fileURLToPath(uri);
  const logger = new DefaultLogger('ERROR');

  let jobs = 0;
  async function prepare(lines: string[], extra: Partial<PrepareArgs> = {}, customIds?: CustomIdLimits) {
    const input = path.join(root, `input-${++jobs}.jsonl`);
    writeFileSync(input, lines.join('\n') + '\n');
    const args: PrepareArgs = {
      jobId: `estsample-${jobs}`,
      input,
      chunk: { maxRequests: 400, maxBytes: 1_000_000 },
      onInvalid: 'skip',
      ...extra,
    };
    const prepared: PreparedJob = await new MockActivityEnvironment({}, { logger }).run(
      prepareActivities(deps, customIds ? { customIds } : {}).prepareJob,
      args,
    );
    return prepared;
  }

  async function estimate(chunks: ChunkRef[], settings = defaults): Promise<{ result: Estimate; reads: number }> {
    chunkReads = [];
    const args: EstimateArgs = { chunks, estimate: settings };
    const result: Estimate = await new MockActivityEnvironment({}, { logger }).run(
      estimateActivities(deps).estimateCost,
      args,
    );
    return { result, reads: chunkReads.length };
  }

  const sampleFile = (prepared: PreparedJob) =>
    local(estimateSampleUri(deps.store, prepared.chunks[0]?.uri ?? `${prepared.jobDir}/rounds/0/chunks/x`));
  const sampleKind = (prepared: PreparedJob) =>
    (JSON.parse(readFileSync(sampleFile(prepared), 'utf8').split('\n')[0]!) as { sample: { kind: string } }).sample
      .kind;

  /** The estimate from prepare's file, then the full pass (file removed): the same, and no chunk read for the first. */
  async function assertSameAsFullPass(prepared: PreparedJob, settings = defaults) {
    const fromFile = await estimate(prepared.chunks, settings);
    assert.equal(fromFile.reads, 0, 'the estimate read no chunk');
    const saved = readFileSync(sampleFile(prepared));
    rmSync(sampleFile(prepared));
    try {
      const full = await estimate(prepared.chunks, settings);
      assert.equal(full.reads, prepared.chunks.length, 'the full pass reads every chunk');
      assert.deepEqual(fromFile.result, full.result);
      return full.result;
    } finally {
      writeFileSync(sampleFile(prepared), saved);
    }
  }

  it('a multi-model job counted by sample: the same estimate as the full pass, without reading the chunks', async () => {
    // Byte limits cut some chunks, request counts others; one model only in the middle of the job.
    const prepared = await prepare(mixedJob(1800), { chunk: { maxRequests: 400, maxBytes: 600_000 } });
    assert.ok(prepared.chunks.length >= 5, `${prepared.chunks.length} chunks`);
    assert.ok(
      prepared.chunks.some((c) => c.requests < 400 && c.index < prepared.chunks.length - 1),
      'a chunk cut by bytes',
    );
    assert.equal(sampleKind(prepared), 'reservoir');
    const result = await assertSameAsFullPass(prepared);
    assert.equal(result.method, 'sample');
    assert.equal(result.requests, 1800);
    assert.ok(result.tokens.cacheRead > 0 && result.tokens.cacheWrite1h > 0, 'caching is estimated');
  });

  it('a small multi-model job keeps every request: exhaustive, and any other settings picked again', async () => {
    const prepared = await prepare(mixedJob(450));
    assert.equal(sampleKind(prepared), 'every');
    assert.equal((await assertSameAsFullPass(prepared)).method, 'exhaustive');
    for (const settings of [
      { ...defaults, exhaustiveMax: 0 },
      { ...defaults, exhaustiveMax: 100, sampleSize: 10, seed: 7 },
      { ...defaults, exhaustiveMax: 10_000 },
    ])
      await assertSameAsFullPass(prepared, settings);
  });

  it('a job with a pilot: the pilot requests are in neither estimate', async () => {
    for (const n of [1500, 300]) {
      const prepared = await prepare(mixedJob(n), { pilot: { size: 20, minRequests: 100 } });
      assert.equal(prepared.pilot?.requests, 20);
      assert.equal(
        prepared.chunks.reduce((sum, c) => sum + c.requests, 0),
        n - 20,
      );
      assert.equal(sampleKind(prepared), n > 520 ? 'reservoir' : 'every');
      assert.equal((await assertSameAsFullPass(prepared)).requests, n - 20);
    }
  });

  it('a pilot the job is too small for: its sample goes to the chunks last, and the file follows', async () => {
    const prepared = await prepare(mixedJob(800), { pilot: { size: 20, minRequests: 10_000 } });
    assert.equal(prepared.pilot, undefined);
    assert.equal((await assertSameAsFullPass(prepared)).requests, 800);
  });

  it('settings the file does not hold: the estimate reads the chunks', async () => {
    const prepared = await prepare(mixedJob(1200, ['claude-haiku-4-5']));
    for (const settings of [
      { ...defaults, sampleSize: 50 },
      { ...defaults, seed: 2 },
      { ...defaults, exhaustiveMax: 5000 },
    ]) {
      const { reads } = await estimate(prepared.chunks, settings);
      assert.equal(reads, prepared.chunks.length, JSON.stringify(settings));
    }
    // With the defaults again, the file is still used.
    assert.equal((await estimate(prepared.chunks)).reads, 0);
  });

  it('chunks other than those prepared: the estimate reads them', async () => {
    const prepared = await prepare(mixedJob(1200, ['claude-haiku-4-5']));
    const [head, ...tail] = prepared.chunks;
    assert.ok(head && tail.length > 0);
    const changed = [{ ...head, digest: '0'.repeat(64) }, ...tail];
    assert.equal((await estimate(changed)).reads, changed.length);
    assert.equal((await estimate(prepared.chunks.slice(0, -1))).reads, prepared.chunks.length - 1);
    const noDigest = prepared.chunks.map(({ digest: _, ...c }) => c);
    assert.equal((await estimate(noDigest)).reads, noDigest.length);
  });

  it('repeats confirmed after the pass (ids spilled to disk) take lines out of the chunks: no file', async () => {
    const lines = mixedJob(3000, ['claude-haiku-4-5']);
    lines[2999] = lines[5]!;
    const limits = { memoryIds: 1000, filter: bloomSize(5000, 0.01), confirmIds: 200_000 };
    const prepared = await prepare(lines, {}, { ...limits, scratchBase: path.join(root, 'scratch') });
    assert.equal(prepared.invalid.lines, 1);
    assert.equal(existsSync(sampleFile(prepared)), false);
    const { result, reads } = await estimate(prepared.chunks);
    assert.equal(reads, prepared.chunks.length);
    assert.equal(result.requests, 2999);
  });

  it('reject mode with an invalid line keeps no chunk and no file', async () => {
    const lines = mixedJob(600);
    lines[3] = '{"custom_id": "broken"';
    const prepared = await prepare(lines, { onInvalid: 'reject' });
    assert.deepEqual(prepared.chunks, []);
    assert.equal(existsSync(local(`${prepared.jobDir}/rounds/0/chunks/estimate-sample.jsonl`)), false);
  });
});

const MODELS = ['claude-haiku-4-5', 'claude-sonnet-4-5', 'claude-opus-4-5'];
const LONG_SYSTEM = Array.from({ length: 400 }, (_, i) => `Rule ${i}: answer briefly and label the ticket.`).join(' ');

/**
 * Requests of several models in a shuffled order, of varied sizes and max_tokens; some with a cached prefix (5m
 * and 1h); a fourth model only in the middle of the job.
 */
function mixedJob(n: number, models = MODELS): string[] {
  let x = 12345;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
  return Array.from({ length: n }, (_, i) => {
    const middle = i >= n * 0.45 && i < n * 0.55 && next() < 0.5;
    const model = middle && models.length > 1 ? 'claude-sonnet-4-6' : models[Math.floor(next() * models.length)]!;
    const cached = next() < 0.4;
    const system = cached
      ? [
          {
            type: 'text',
            text: LONG_SYSTEM,
            cache_control: next() < 0.3 ? { type: 'ephemeral', ttl: '1h' } : { type: 'ephemeral' },
          },
        ]
      : 'Label the sentiment.';
    const words = 5 + Math.floor(next() * 200);
    return JSON.stringify({
      custom_id: `req-${i}`,
      params: {
        model,
        max_tokens: 16 + Math.floor(next() * 500),
        system,
        messages: [{ role: 'user', content: `Ticket ${i}: ${'the product was fine '.repeat(words)}` }],
        metadata: { user_id: `u-${i % 17}` },
      },
    });
  });
}

/** The store, with every read of a chunk file reported. */
function readsCounted(store: BlobStore, onChunkRead: (uri: string) => void): BlobStore {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'read')
        return (uri: string, options?: { start?: number }) => {
          if (/\/r\d+-c\d+\.jsonl$/.test(uri)) onChunkRead(uri);
          return target.read(uri, options);
        };
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
