import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { activityInfo } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';
import { batchJob } from '../../workflows/index.js';
import { approveUpdate, statusQuery } from '../../workflows/messages.js';
import { EARLY_EACH_PATCH, EARLY_PATCH } from '../../workflows/batch-job.js';
import { HELD_SIDE_BY_SIDE_PATCH } from '../../workflows/workspace-submitter.js';
import { earlyChunkCount, earlyGate, MAX_EARLY_CHUNKS, type EarlyGate } from '../../shared/early-create.js';
import { CreateSlot } from '../../shared/create-slot.js';
import { submitterWorkflowId } from '../../shared/submission.js';
import { workspaceFingerprint } from '../../activities/workspace-fingerprint.js';
import type { JobState } from '../../shared/job-state.js';
import type { SubmitArgs } from '../../shared/submission.js';
import type { Intent } from '../../shared/reconcile-window.js';
import { requestsBody } from '../../activities/submit.js';
import type { WorkerConfig } from '../../worker/config.js';
import {
  assertOneCreateInFlight,
  recordCreates,
  startTestEmulator,
  TEST_KEY,
  type EmulatorHarness,
} from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, writeJobInput } from '../helpers/jobs.js';
import { runTestWorker, startDevServer, testWorkerConfig } from '../helpers/temporal.js';

const FAST_POLL = { initial: '1s', max: '1s' };

describe('early create: the gate (pure logic)', () => {
  const state = (over: Partial<JobState>): Pick<JobState, 'early' | 'phase' | 'chunks'> => ({
    phase: 'validating',
    chunks: [],
    early: { id: 'r0-c0001' },
    ...over,
  });
  const gate = (s: Pick<JobState, 'early' | 'phase' | 'chunks'>, id = 'r0-c0001'): EarlyGate['gate'] =>
    earlyGate(s, id).gate;

  it('waits while the job is on its way to starting the chunk, goes once it has, with the digest it means', () => {
    for (const phase of ['validating', 'piloting', 'estimating', 'running'] as const)
      assert.equal(gate(state({ phase })), 'wait', phase);
    const released = state({ phase: 'running', early: { id: 'r0-c0001', releasedDigest: 'abc' } });
    assert.deepEqual(earlyGate(released, 'r0-c0001'), { gate: 'go', digest: 'abc' });
  });

  it('withdraws when a person must approve, the job ended, the chunk was held back, or it is not the early chunk', () => {
    for (const phase of ['awaiting_approval', 'failed', 'rejected', 'canceling', 'canceled', 'completed'] as const)
      assert.equal(gate(state({ phase })), 'withdraw', phase);
    assert.equal(gate(state({ early: { id: 'r0-c0001', dropped: true } })), 'withdraw', 'dropped');
    assert.equal(gate(state({}), 'r0-c0002'), 'withdraw', 'another chunk');
    assert.equal(gate(state({ early: undefined })), 'withdraw', 'no early chunk');
    const ref = { id: 'r0-c0001', round: 0, index: 0, uri: 'x', requests: 1, bytes: 1 };
    const heldBack = state({ phase: 'running', chunks: [{ ref, status: 'held_back' }] });
    assert.equal(gate(heldBack), 'withdraw', 'held back by the budget');
  });

  it('answers each of several early chunks on its own, and reads the one-object state of jobs of 0.3.0', () => {
    const several = state({ early: [{ id: 'r0-c0001', releasedDigest: 'abc' }, { id: 'r0-c0002' }] });
    assert.deepEqual(earlyGate(several, 'r0-c0001'), { gate: 'go', digest: 'abc' });
    assert.equal(gate(several, 'r0-c0002'), 'wait');
    assert.equal(gate(several, 'r0-c0003'), 'withdraw');
    const old = state({ early: { id: 'r0-c0001', releasedDigest: 'def' } });
    assert.deepEqual(earlyGate(old, 'r0-c0001'), { gate: 'go', digest: 'def' });
  });

  it('streams as many chunks early as the admission lets wait in the queue at once, at least one, at most the cap', () => {
    const admission = (maxQueuedRequests: number, maxConcurrentBatches = 20) => ({
      maxQueuedRequests,
      maxConcurrentBatches,
    });
    assert.equal(earlyChunkCount({ maxRequests: 100_000 }, admission(100_000)), 1, 'the default: the first alone');
    assert.equal(earlyChunkCount({ maxRequests: 100_000 }, admission(300_000)), 3);
    assert.equal(earlyChunkCount({ maxRequests: 100_000 }, admission(50_000)), 1, 'never none');
    assert.equal(earlyChunkCount({ maxRequests: 1_000 }, admission(1_000_000)), MAX_EARLY_CHUNKS);
    assert.equal(earlyChunkCount({ maxRequests: 1_000 }, admission(1_000_000, 2)), 2, 'no more than may run');
  });
});

describe('the create slot (pure logic)', () => {
  it('one holder at a time, in the order asked; leaving hands it on, giving up leaves the line', () => {
    const slot = new CreateSlot();
    slot.ask('a');
    slot.ask('b');
    slot.ask('c');
    assert.ok(slot.mayTake('a') && !slot.mayTake('b') && !slot.mayTake('c'));
    slot.take('a');
    assert.ok(slot.mayTake('a'), 'the holder keeps it (a retry of its create asks again)');
    assert.ok(!slot.mayTake('b'), 'nobody else while it is held');
    assert.throws(() => slot.take('b'), /not first in line/);
    slot.leave('b'); // b gave up waiting
    slot.leave('a');
    assert.ok(!slot.mayTake('a') && slot.mayTake('c') && !slot.mayTake('b'), 'free, and c is next');
    slot.take('c');
    slot.ask('a');
    slot.leave('c');
    assert.ok(slot.mayTake('a'));
  });
});

describe('early create: the held body', () => {
  async function* blocks(...texts: string[]) {
    for (const t of texts) yield Buffer.from(t);
  }

  it('sends everything but the closing bytes until released, and never those when the release throws', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const body = requestsBody(blocks('{"a":1}\n{"b"', ':2}\n'), () => released);
    const sent: string[] = [];
    const reading = (async () => {
      for await (const part of body) sent.push(Buffer.from(part).toString());
    })();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sent.join(''), '{"requests":[{"a":1},{"b":2}', 'all of the requests, not the closing bytes');
    release();
    await reading;
    assert.equal(sent.join(''), '{"requests":[{"a":1},{"b":2}]}');
    assert.deepEqual(JSON.parse(sent.join('')), { requests: [{ a: 1 }, { b: 2 }] });

    const refused: string[] = [];
    const withdrawn = requestsBody(blocks('{"a":1}\n'), () => Promise.reject(new Error('withdrawn')));
    await assert.rejects(async () => {
      for await (const part of withdrawn) refused.push(Buffer.from(part).toString());
    }, /withdrawn/);
    assert.equal(refused.join(''), '{"requests":[{"a":1}', 'no whole body ever left');
  });
});

/**
 * What the worker's activities did, seen from an interceptor in the same process: the submitter's creates (held
 * or not, made or withdrawn), and prepare's completion held back until a held create is under way — so every case
 * below really has a create streaming while the job still validates, and can check nothing is created meanwhile.
 */
function probe(em: EmulatorHarness, pauseMs: number) {
  const creates: { chunkId: string; held: boolean; outcome: string }[] = [];
  let heldStarted!: () => void;
  const held = new Promise<void>((r) => (heldStarted = r));
  const probed = { createdWhilePreparing: -1, heldSeen: false };
  const interceptor = (): ActivityInterceptors => ({
    inbound: {
      async execute(input, next) {
        const type = activityInfo().activityType;
        if (type === 'submitBatch') {
          const args = input.args[0] as SubmitArgs;
          if (args.held) heldStarted();
          try {
            const result = await next(input);
            creates.push({ chunkId: args.chunk.id, held: !!args.held, outcome: 'created' });
            return result;
          } catch (err) {
            const type = err instanceof ApplicationFailure ? err.type : String(err);
            creates.push({ chunkId: args.chunk.id, held: !!args.held, outcome: type ?? 'failed' });
            throw err;
          }
        }
        if (type !== 'prepareJob') return next(input);
        const result = await next(input);
        const before = (await em.stats()).batches.created;
        // Not seen within 30 s: prepare ends anyway, and the test's assertion says so.
        probed.heldSeen = await Promise.race([
          held.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 30_000)),
        ]);
        // The held create streams and waits at its last bytes: nothing may be created while prepare has not ended.
        await new Promise((r) => setTimeout(r, pauseMs));
        probed.createdWhilePreparing = (await em.stats()).batches.created - before;
        return result;
      },
    },
  });
  return { creates, probed, interceptors: { activity: [interceptor] } };
}

describe('early create on a dev server, against the emulator', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;

  before(async () => {
    env = await startDevServer();
    em = await startTestEmulator({
      timeScale: 3600,
      processing: { baseLatencyMs: 1000, perRequestMs: 0, spread: 0, cancelLatencyMs: 1000 },
    });
  });
  after(async () => {
    await em?.close();
    await env?.teardown();
  });

  async function withWorker<T>(
    pauseMs: number,
    overrides: Partial<WorkerConfig>,
    run: (config: WorkerConfig, p: ReturnType<typeof probe>) => Promise<T>,
  ): Promise<T> {
    // A workspace of its own: the submitter of a workspace lives on the task queue of the worker that started it.
    const config = testWorkerConfig(em.url, {
      workspace: `early-${Math.random().toString(36).slice(2)}`,
      ...overrides,
    });
    const p = probe(em, pauseMs);
    const worker = await runTestWorker(env, config, p.interceptors);
    try {
      return await run(config, p);
    } finally {
      await worker.stop();
    }
  }

  const start = (config: WorkerConfig, workflowId: string, args: Record<string, unknown>) =>
    env.client.workflow.start(batchJob, {
      taskQueue: config.taskQueue,
      workflowId,
      args: [{ pilot: false, poll: FAST_POLL, ...args } as never],
    });

  const intentOf = (dir: string, jobId: string, chunkId: string) =>
    path.join(dir, 'jobs', jobId, 'rounds', '0', 'submit', `${chunkId}.intent.json`);

  it('streams the first chunks while validating, creates them only once the job is valid and approved, one at a time: one batch per chunk', async () => {
    // Each create is answered a while after its body ends: two in flight at once would be seen.
    await em.setFaults({ http: [{ endpoint: 'create', delayAfterMs: 200 }] });
    const seen = recordCreates(em);
    try {
      await streamsTheFirstChunks();
    } finally {
      seen.stop();
      await em.setFaults({});
    }
    assertOneCreateInFlight(seen.creates, 200);
    const [first, second, third] = seen.creates;
    assert.equal(seen.creates.length, 3, 'three creates, none withdrawn');
    assert.ok(second!.arrivedAt < first!.bodyEndedAt && third!.arrivedAt < first!.bodyEndedAt, 'uploaded side by side');
  });

  async function streamsTheFirstChunks(): Promise<void> {
    await withWorker(1500, {}, async (config, { creates, probed }) => {
      const dir = jobDir();
      const jobId = 'early-overlap';
      const before = (await em.stats()).batches.created;
      const handle = await start(config, jobId, {
        input: writeJobInput(dir, 12_000, 'ov'),
        output: path.join(dir, 'out.jsonl'),
        chunk: { maxRequests: 5_000 },
        approval: { thresholdUsd: 1000 },
      });
      await handle.result();
      assert.ok(probed.heldSeen, 'a held create was under way before prepare ended');
      assert.equal(probed.createdWhilePreparing, 0, 'nothing was created while the job was still validating');
      assertExactOutput(readOutput(path.join(dir, 'out.jsonl')), idsOf(12_000, 'ov'));
      assert.equal((await em.stats()).batches.created - before, 3, 'one batch per chunk');
      // The default admission lets all three wait in the queue at once: all three stream while validating.
      assert.deepEqual(
        creates.map((c) => `${c.chunkId}${c.held ? ' held' : ''}: ${c.outcome}`),
        ['r0-c0001 held: created', 'r0-c0002 held: created', 'r0-c0003 held: created'],
      );
      for (const [chunkId, requests] of [
        ['r0-c0001', 5_000],
        ['r0-c0002', 5_000],
        ['r0-c0003', 2_000],
      ] as const) {
        const intent = JSON.parse(readFileSync(intentOf(config.dataDir, jobId, chunkId), 'utf8')) as Intent;
        assert.equal(intent.held, true);
        assert.ok(intent.releasedAt && intent.requests === requests && intent.digest, `${chunkId} released as it is`);
        const segments = path.join(config.dataDir, 'jobs', jobId, 'rounds', '0', 'early', chunkId);
        assert.ok(!existsSync(segments), 'the segments are removed once the batch is created');
      }
      const markersOf = async (h: { fetchHistory(): Promise<{ events?: unknown[] | null }> }) =>
        ((await h.fetchHistory()).events as { markerRecordedEventAttributes?: { details?: object } }[]).flatMap((e) =>
          Object.values(e.markerRecordedEventAttributes?.details ?? {}).map(
            (p: { payloads?: { data?: Uint8Array }[] }) => Buffer.from(p.payloads?.[0]?.data ?? []).toString('utf8'),
          ),
        );
      const markers = await markersOf(handle);
      for (const patch of [EARLY_PATCH, EARLY_EACH_PATCH])
        assert.ok(
          markers.some((m) => m.includes(patch)),
          `the job ran with ${patch}`,
        );
      const submitter = env.client.workflow.getHandle(
        submitterWorkflowId(workspaceFingerprint(em.url, TEST_KEY, config.workspace)),
      );
      assert.ok(
        (await markersOf(submitter)).some((m) => m.includes(HELD_SIDE_BY_SIDE_PATCH)),
        `the submitter ran with ${HELD_SIDE_BY_SIDE_PATCH}`,
      );
    });
  }

  it('an invalid line after the first chunk: the held create is withdrawn and nothing is ever created', async () => {
    await withWorker(1000, {}, async (config, { creates, probed }) => {
      const dir = jobDir();
      const jobId = 'early-invalid';
      const input = writeJobInput(dir, 8_000, 'iv');
      appendFileSync(input, '{"custom_id": "iv-bad", "params": {"model": "claude-haiku-4-5"}}\n');
      const before = (await em.stats()).batches.created;
      const handle = await start(config, jobId, {
        input,
        output: path.join(dir, 'out.jsonl'),
        chunk: { maxRequests: 5_000 },
        approval: { thresholdUsd: 1000 },
      });
      await assert.rejects(handle.result(), (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        assert.equal((err.cause as ApplicationFailure).type, 'InvalidInputLines');
        return true;
      });
      assert.ok(probed.heldSeen, 'a held create was under way when the invalid line was found');
      // Both chunks were streaming; each early chunk's child ends once its create is withdrawn (the job canceled it).
      for (const chunkId of ['r0-c0001', 'r0-c0002']) {
        const child = env.client.workflow.getHandle(`${jobId}/${chunkId}`);
        for (let i = 0; i < 100 && (await child.describe()).status.name === 'RUNNING'; i++)
          await new Promise((r) => setTimeout(r, 200));
        assert.equal((await child.describe()).status.name, 'CANCELLED', chunkId);
        assert.ok(!existsSync(intentOf(config.dataDir, jobId, chunkId)), 'nothing on record: nothing was created');
      }
      assert.equal((await em.stats()).batches.created - before, 0, 'no batch was created');
      assert.deepEqual(
        [...creates].sort((a, b) => a.chunkId.localeCompare(b.chunkId)),
        [
          { chunkId: 'r0-c0001', held: true, outcome: 'CreateWithdrawn' },
          { chunkId: 'r0-c0002', held: true, outcome: 'CreateWithdrawn' },
        ],
      );
    });
  });

  it('a job waiting for a person withdraws its held create; approved, it submits each chunk once', async () => {
    // Its admission lets one chunk of 5,000 wait in the queue at a time: only the first is streamed early.
    await withWorker(200, {}, async (config, { creates }) => {
      const dir = jobDir();
      const jobId = 'early-approval';
      const before = (await em.stats()).batches.created;
      const handle = await start(config, jobId, {
        input: writeJobInput(dir, 8_000, 'ap'),
        output: path.join(dir, 'out.jsonl'),
        chunk: { maxRequests: 5_000 },
        admission: { maxQueuedRequests: 5_000 },
        approval: { thresholdUsd: 0.000001 },
      });
      for (let i = 0; i < 150 && (await handle.query(statusQuery)).phase !== 'awaiting_approval'; i++)
        await new Promise((r) => setTimeout(r, 200));
      // Withdrawn while the job waits (a person may take hours): the upload does not sit open meanwhile.
      for (let i = 0; i < 100 && creates.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(creates, [{ chunkId: 'r0-c0001', held: true, outcome: 'CreateWithdrawn' }]);
      assert.equal((await em.stats()).batches.created - before, 0, 'nothing created before the approval');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'tester' }] });
      await handle.result();
      assertExactOutput(readOutput(path.join(dir, 'out.jsonl')), idsOf(8_000, 'ap'));
      assert.equal((await em.stats()).batches.created - before, 2, 'one batch per chunk');
      assert.deepEqual(
        creates.map((c) => `${c.chunkId}${c.held ? ' held' : ''}: ${c.outcome}`),
        ['r0-c0001 held: CreateWithdrawn', 'r0-c0001: created', 'r0-c0002: created'],
      );
    });
  });

  it('a held create idle past the hold limit withdraws, and the chunk is submitted the usual way', async () => {
    await withWorker(2500, { earlyCreateHoldMs: 500 }, async (config, { creates }) => {
      const dir = jobDir();
      const before = (await em.stats()).batches.created;
      const handle = await start(config, 'early-idle', {
        input: writeJobInput(dir, 3_000, 'id'),
        output: path.join(dir, 'out.jsonl'),
        chunk: { maxRequests: 5_000 },
        approval: { thresholdUsd: 1000 },
      });
      await handle.result();
      assertExactOutput(readOutput(path.join(dir, 'out.jsonl')), idsOf(3_000, 'id'));
      assert.equal((await em.stats()).batches.created - before, 1);
      assert.deepEqual(
        creates.map((c) => `${c.chunkId}${c.held ? ' held' : ''}: ${c.outcome}`),
        ['r0-c0001 held: CreateWithdrawn', 'r0-c0001: created'],
      );
    });
  });
});
