import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { ActivityDeps } from '../../activities/deps.js';
import { activityDeps } from '../../worker/create-worker.js';
import { testWorkerConfig } from '../helpers/temporal.js';
import { submitActivities } from '../../activities/submit.js';
import { prepareActivities } from '../../activities/prepare.js';
import type { ChunkRef, PreparedJob, SubmittedBatch } from '../../shared/job-types.js';
import type { Intent } from '../../shared/reconcile-window.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { shortRequest } from '../helpers/jobs.js';

/**
 * `submitBatch` under MockActivityEnvironment against the real emulator: what each kind of failed create leads to,
 * counted in the emulator's ledger (our batches, not the foreign client's).
 */
describe('submitBatch: one batch per chunk whatever the create failure', () => {
  let em: EmulatorHarness;
  let root: string;
  let deps: ActivityDeps;
  const ours = async () => {
    const s = await em.stats();
    return s.batches.list.filter((b) => !(b as { foreign?: boolean }).foreign);
  };

  before(async () => {
    em = await startTestEmulator();
    root = mkdtempSync(path.join(tmpdir(), 'cb-submit-'));
    const dataDir = path.join(root, 'data');
    // Built exactly as the worker builds them, against the emulator over HTTP.
    deps = activityDeps(testWorkerConfig(em.url, { dataDir, allowedRoots: [root], reconcileSettleMs: 0 }));
  });
  after(async () => {
    await em?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function chunkOf(job: string, n: number, prefix = job): { args: { jobId: string; jobDir: string; chunk: ChunkRef } } {
    const jobDir = path.join(root, 'data', 'jobs', job);
    const file = path.join(jobDir, 'rounds', '0', 'chunks', 'r0-c0001.jsonl');
    mkdirSync(path.dirname(file), { recursive: true });
    const body = Array.from({ length: n }, (_, i) => JSON.stringify(shortRequest(i, prefix)) + '\n').join('');
    writeFileSync(file, body);
    const chunk: ChunkRef = {
      id: 'r0-c0001',
      round: 0,
      index: 0,
      uri: pathToFileURL(file).href,
      requests: n,
      bytes: body.length,
      digest: createHash('sha256').update(body).digest('hex'),
    };
    return { args: { jobId: job, jobDir: pathToFileURL(jobDir).href, chunk } };
  }

  async function attempt(
    args: { jobId: string; jobDir: string; chunk: ChunkRef; exclude?: string[] },
    n: number,
    settleMs = 0,
  ): Promise<SubmittedBatch> {
    const env = new MockActivityEnvironment({ attempt: n }, { logger: new DefaultLogger('ERROR') });
    return env.run(submitActivities({ ...deps, reconcileSettleMs: settleMs }).submitBatch, args);
  }

  async function confirm(args: { jobId: string; jobDir: string; chunk: ChunkRef }, batchId: string) {
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    return env.run(submitActivities(deps).confirmCandidate, { ...args, batchId });
  }

  const doneRecord = (args: { jobDir: string; chunk: ChunkRef }) =>
    JSON.parse(
      readFileSync(new URL(`${args.jobDir}/rounds/0/submit/${args.chunk.id}.batch.json`), 'utf8'),
    ) as SubmittedBatch;

  /** Lets every batch created so far end (the test emulator runs on a clock the test moves). */
  const endAll = () => em.advance(2 * 3600);

  it('a definite refusal (429) created nothing: the next attempt creates without reconciling, so an equal-size foreign batch is never adopted', async () => {
    const before = (await ours()).length;
    const { args } = chunkOf('definite', 4);
    await em.setFaults({ http: [{ endpoint: 'create', status: 429, times: 1 }] });
    await assert.rejects(attempt(args, 1));
    // Another tool creates a batch of the same size meanwhile.
    await em.setFaults({});
    const foreign = await em.client.messages.batches.create({
      requests: Array.from({ length: 4 }, (_, i) => shortRequest(i, 'foreign')) as never,
    });
    const submitted = await attempt(args, 2);
    assert.equal(submitted.adopted, false);
    assert.notEqual(submitted.batchId, foreign.id);
    assert.equal((await ours()).length, before + 2, 'ours and the foreign one: no batch lost, none adopted');
  });

  it('a lost answer is reconciled only after the settling window, so a lagging list does not cause a second create', async () => {
    const { args } = chunkOf('lagging', 5);
    const before = (await em.stats()).batches.created;
    await em.setFaults({ createResponseLost: 1, listLagMs: 1500 });
    await assert.rejects(attempt(args, 1, 3000));
    await assert.rejects(attempt(args, 2, 3000), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'ReconcileSettling');
      assert.ok(Number(err.nextRetryDelay) > 0);
      return true;
    });
    await new Promise((r) => setTimeout(r, 3200));
    const submitted = await attempt(args, 3, 3000);
    assert.equal(submitted.adopted, true, 'found, not created again');
    assert.equal((await em.stats()).batches.created, before + 1, 'exactly one batch');
    await em.setFaults({});
  });

  it('its own claim is recognised: a crash between claiming and recording does not lead to a second create', async () => {
    const { args } = chunkOf('own-claim', 6);
    const before = (await em.stats()).batches.created;
    await em.setFaults({ createResponseLost: 1 });
    await assert.rejects(attempt(args, 1));
    await em.setFaults({});
    // The attempt that found it claimed it, then died before writing its done record.
    const [batch] = (await em.client.messages.batches.list({ limit: 1 })).data;
    const claim = path.join(root, 'data', 'claims', batch!.id);
    mkdirSync(path.dirname(claim), { recursive: true });
    writeFileSync(claim, JSON.stringify({ job: 'own-claim', chunk: 'r0-c0001' }));
    const submitted = await attempt(args, 2);
    assert.equal(submitted.batchId, batch!.id);
    assert.equal((await em.stats()).batches.created, before + 1);
  });

  it('records survive a re-run of the job id (or a reset): the same chunk finds its batch; a changed one gets its own', async () => {
    const input = path.join(root, 'rerun.jsonl');
    const write = (prefix: string) =>
      writeFileSync(input, [0, 1, 2].map((i) => JSON.stringify(shortRequest(i, prefix))).join('\n') + '\n');
    const prepare = async () => {
      const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
      const chunk = { maxRequests: 100, maxBytes: 1_000_000 };
      const prepared: PreparedJob = await env.run(prepareActivities(deps).prepareJob, {
        jobId: 'rerun',
        input,
        chunk,
        onInvalid: 'reject' as const,
      });
      return { jobId: 'rerun', jobDir: prepared.jobDir, chunk: prepared.chunks[0]! };
    };
    write('same');
    const first = await attempt(await prepare(), 1);
    // Validation runs again (a reset to the first workflow task, or the job id started again): same input.
    const again = await attempt(await prepare(), 1);
    assert.equal(again.batchId, first.batchId, 'the same content: the batch already paid for');
    write('changed');
    const changed = await attempt(await prepare(), 1);
    assert.notEqual(changed.batchId, first.batchId, 'other content: its own batch');
  });

  it('a lost answer with an equal-size foreign batch beside ours: both are candidates, and the results pick ours', async () => {
    const { args } = chunkOf('two-fit', 7);
    await em.setFaults({ createResponseLost: 1, foreignClient: { times: 1 } });
    await assert.rejects(attempt(args, 1));
    await em.setFaults({});
    const all = await ours();
    const foreign = (await em.stats()).batches.list.filter((b) => b.foreign).at(-1)!;
    const mine = all.at(-1)!;
    const submitted = await attempt(args, 2);
    assert.deepEqual(submitted.candidates?.map((c) => c.batchId).sort(), [mine.id, foreign.id].sort());
    await endAll();
    assert.equal(await confirm(args, foreign.id), 'foreign', 'its results name other requests');
    assert.equal(await confirm(args, mine.id), 'ours');
    const record = doneRecord(args);
    assert.equal(record.batchId, mine.id);
    assert.equal(record.candidates, undefined, 'the record now names only ours');
    assert.equal(record.adopted, true);
    assert.equal((await ours()).length, all.length, 'nothing created again');
  });

  it("the only fit is another tool's (ours was never created): the results rule it out and the chunk is created afresh", async () => {
    const { args } = chunkOf('foreign-only', 8);
    const before = (await ours()).length;
    // A 500 before the create was carried out: ambiguous to us, though nothing exists.
    await em.setFaults({ http: [{ endpoint: 'create', status: 500, times: 1 }] });
    await assert.rejects(attempt(args, 1));
    await em.setFaults({});
    const foreign = await em.client.messages.batches.create({
      requests: Array.from({ length: 8 }, (_, i) => shortRequest(i, 'other-tool')) as never,
    });
    const submitted = await attempt(args, 2);
    assert.deepEqual(
      submitted.candidates?.map((c) => c.batchId),
      [foreign.id],
    );
    await endAll();
    assert.equal(await confirm(args, foreign.id), 'foreign');
    const again = await attempt({ ...args, exclude: [foreign.id] }, 3);
    assert.equal(again.adopted, false, 'created, not adopted');
    assert.equal(again.candidates, undefined);
    assert.notEqual(again.batchId, foreign.id);
    assert.equal((await ours()).length, before + 2, "the other tool's batch and our one new batch");
    const other = await em.client.messages.batches.retrieve(foreign.id);
    assert.equal(other.cancel_initiated_at, null, 'the foreign batch was never canceled');
  });

  it('a batch created well after the failed create is outside the window: not a candidate', async () => {
    const { args } = chunkOf('late', 9);
    await em.setFaults({ createResponseLost: 1 });
    await assert.rejects(attempt(args, 1));
    await em.setFaults({});
    const mine = (await ours()).at(-1)!;
    await em.advance(600); // ten minutes of API time later, far past CREATE_LATE_MS
    await em.client.messages.batches.create({
      requests: Array.from({ length: 9 }, (_, i) => shortRequest(i, 'later-tool')) as never,
    });
    const submitted = await attempt(args, 2);
    assert.deepEqual(
      submitted.candidates?.map((c) => c.batchId),
      [mine.id],
    );
  });
  it('a held intent whose last bytes never went out created nothing: the next attempt creates at once; released, it is reconciled', async () => {
    const intentAt = (args: { jobDir: string; chunk: ChunkRef }) =>
      new URL(`${args.jobDir}/rounds/0/submit/${args.chunk.id}.intent.json`);
    const heldIntent = (args: { jobDir: string; chunk: ChunkRef }, released: boolean) => {
      const intent: Intent = {
        chunkId: args.chunk.id,
        requests: released ? args.chunk.requests : 0,
        ...(released ? { digest: args.chunk.digest!, releasedAt: new Date().toISOString() } : {}),
        newestBefore: null,
        recordedAt: new Date().toISOString(),
        held: true,
      };
      mkdirSync(path.dirname(intentAt(args).pathname), { recursive: true });
      writeFileSync(intentAt(args), JSON.stringify(intent));
    };
    const created = async () => (await em.stats()).batches.created;

    // Its worker died while the upload waited for the job's go: no whole body ever left, so no window to wait out.
    const never = chunkOf('held-never-sent', 3).args;
    heldIntent(never, false);
    const before = await created();
    const submitted = await attempt(never, 2, 60_000);
    assert.equal(submitted.adopted, false);
    assert.equal((await created()) - before, 1, 'created at once, once');

    // Its worker died after letting the last bytes go: the batch may exist, so the list is consulted and waited on.
    const sent = chunkOf('held-released', 3).args;
    heldIntent(sent, true);
    await assert.rejects(attempt(sent, 2, 60_000), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'ReconcileSettling');
      return true;
    });
    assert.equal((await created()) - before, 1, 'nothing created while the released intent settles');
  });
});
