import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, watch } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchJob } from '../../workflows/index.js';
import { chunkStatusQuery, statusQuery, type JobStatusView } from '../../workflows/messages.js';
import type { FaultsInput } from '../../emulator/faults.js';
import type { ChunkOutcome } from '../../shared/job-types.js';
import { ENDED_PHASES } from '../../shared/job-state.js';
import { submitterWorkflowId } from '../../shared/submission.js';
import { workspaceFingerprint } from '../../activities/workspace-fingerprint.js';
import { startTestEmulator, TEST_KEY, type EmulatorHarness } from '../helpers/emulator.js';
import {
  assertExactOutput,
  downloadedLines,
  idsOf,
  jobDir,
  readOutput,
  readReport,
  writeJobInput,
} from '../helpers/jobs.js';
import { spawnWorker, type Spawned } from '../helpers/processes.js';
import { startDevServer } from '../helpers/temporal.js';
import { until } from '../helpers/wait.js';

const REQUESTS = 6000;
const CHUNK = 2000;
const PREFIX = 'kl';
const JOB_ID = 'kill-loop';
const HOUR_S = 3600;

type Phase = 'submit' | 'poll' | 'fetch' | 'finalize';
interface Kill {
  phase: Phase;
  round: number;
  /** What showed the phase's work in flight at the moment of the kill (ledger, download, output file). */
  evidence: string;
}

/** A query is answered by a worker, and just after a kill there may be none: no answer in time counts as none. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([p, timeout]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** The phase a status shows, from the chunks of its current round (the job's own phase says only "running"). */
function phaseOf(s: JobStatusView): Phase | null {
  if (s.phase === 'finalizing') return 'finalize';
  if (s.phase !== 'running') return null;
  const current = s.chunks.filter((c) => c.ref.round === s.round);
  if (current.some((c) => c.status === 'submitting')) return 'submit';
  if (current.some((c) => c.status === 'fetching')) return 'fetch';
  if (current.some((c) => c.status === 'in_progress')) return 'poll';
  return null;
}

describe('kill loop: one job outlives a SIGKILL of its worker in every phase, with exact output and no batch paid twice', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  before(async () => {
    env = await startDevServer();
    // Batches never end on their own (the clock runs at wall speed, processing takes 10 h): the test ends them by
    // moving the emulator's clock 11 h at once, so each phase lasts exactly as long as its kills need.
    em = await startTestEmulator({
      timeScale: 1,
      processing: { baseLatencyMs: 10 * HOUR_S * 1000, perRequestMs: 0, spread: 0, cancelLatencyMs: 1000 },
    });
  });
  after(async () => {
    await em?.close();
    await env?.teardown();
  });

  it('at least 10 kills across submit, poll, fetch, a retry round and finalize', { timeout: 240_000 }, async (t) => {
    const t0 = Date.now();
    const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    const dir = jobDir();
    const dataDir = path.join(dir, 'data');
    const output = path.join(dir, 'out.jsonl');
    const taskQueue = `kill-loop-${Date.now()}`;

    // Every create answers late, after its batch exists: a kill then lands between the create and its answer.
    // Round 0 gets retryable errors, so a retry round is needed; its batch gets none, so there is only one.
    let faults: FaultsInput = {
      http: [{ endpoint: 'create', delayAfterMs: 2000 }],
      outcomes: { overloaded_error: 0.1 },
    };
    const setFaults = async (patch: FaultsInput) => {
      faults = { ...faults, ...patch };
      await em.setFaults(faults);
    };
    await em.setFaults(faults);

    const workers: Spawned[] = [];
    const startWorker = async (): Promise<Spawned> => {
      const w = await spawnWorker({
        temporalAddress: env.address,
        taskQueue,
        apiKey: TEST_KEY,
        anthropicUrl: em.url,
        root: dir,
        // The emulator's list shows a batch at once: no need to wait the default minute before reconciling.
        env: { CLAUDE_BATCH_RECONCILE_SETTLE: '1s' },
      });
      workers.push(w);
      return w;
    };
    let worker = await startWorker();

    const handle = await env.client.workflow.start(batchJob, {
      taskQueue,
      workflowId: JOB_ID,
      args: [
        {
          input: writeJobInput(dir, REQUESTS, PREFIX),
          output,
          chunk: { maxRequests: CHUNK },
          poll: { initial: '1s', max: '2s' },
          heartbeatTimeout: '3s',
          // The kills aim at the batch path's steps; the pilot's synchronous answers have their own tests.
          pilot: false,
        },
      ],
    });
    const status = () => within(handle.query(statusQuery), 3000);
    const chunkHandle = (chunkId: string) => env.client.workflow.getHandle(`${JOB_ID}/${chunkId}`);
    const chunkPolls = async (chunkId: string) =>
      (await within(chunkHandle(chunkId).query(chunkStatusQuery), 3000))?.polls ?? null;
    const created = async () => (await em.stats()).batches.created;
    const roundDir = (round: number) => path.join(dataDir, 'jobs', JOB_ID, 'rounds', String(round));
    const openChunks = (s: JobStatusView) =>
      s.chunks.filter((c) => c.status !== 'done' && c.status !== 'failed' && c.status !== 'pending');

    const submitterId = submitterWorkflowId(workspaceFingerprint(em.url, TEST_KEY));
    const pendingActivities = async (chunkId: string) =>
      ((await chunkHandle(chunkId).describe()).raw.pendingActivities ?? []).map((a) => a.activityType?.name);
    /**
     * Whether a workflow task or a poll of the job is under way. A workflow task lost with its worker waits out its
     * 10 s timeout (and holds back queries meanwhile); a poll is an activity without heartbeats, retried only after
     * its 30 s start-to-close timeout. Both last milliseconds: kills wait for them to keep the test short.
     */
    const midTask = async (s: JobStatusView) => {
      const chunks = s.chunks.filter((c) => c.ref.round === s.round && c.status !== 'pending');
      for (const workflowId of [JOB_ID, ...chunks.map((c) => `${JOB_ID}/${c.ref.id}`)]) {
        const { raw } = await env.client.workflow.getHandle(workflowId).describe();
        if (raw.pendingWorkflowTask || raw.pendingActivities?.some((a) => a.activityType?.name === 'pollBatch'))
          return true;
      }
      return false;
    };

    /**
     * Temporal sends a workflow's next tasks to the worker that ran it last, and gives up on a dead one only after
     * 10 s. The test knows the worker is dead and says so at once, as a graceful shutdown would: recovery then
     * takes what the job's own timeouts allow (the heartbeat timeout, retry intervals), not 10 s more per kill.
     * `npm run bench:restart` measures restarts without this.
     */
    const forgetDeadWorker = async (s: JobStatusView) => {
      const ids = [JOB_ID, submitterId, ...openChunks(s).map((c) => `${JOB_ID}/${c.ref.id}`)];
      await Promise.all(
        ids.map((workflowId) =>
          env.client.workflowService
            .resetStickyTaskQueue({ namespace: 'default', execution: { workflowId } })
            .catch(() => undefined),
        ),
      );
    };

    const kills: Kill[] = [];
    /** SIGKILLs the worker (if that has not been done yet) and starts a replacement at once. */
    const killWorker = async (s: JobStatusView, phase: Phase, evidence: string) => {
      await worker.kill('SIGKILL');
      kills.push({ phase, round: s.round, evidence });
      t.diagnostic(`${elapsed()}: kill ${kills.length}, round ${s.round}, ${phase}: ${evidence}`);
      await forgetDeadWorker(s);
      worker = await startWorker();
    };
    /**
     * Kills the worker as soon as the job's status — answered by the worker about to die — shows `expected` and
     * `evidence` shows that phase's work in flight, and starts a replacement at once (as an orchestrator
     * restarting a crashed container would).
     */
    const kill = async (expected: Phase, evidence: (s: JobStatusView) => Promise<string | null> | string | null) => {
      const { s, shown } = await until(async () => {
        const s = await status();
        if (!s) return null;
        if (ENDED_PHASES.includes(s.phase)) throw new Error(`the job ended (${s.phase}) before a kill in ${expected}`);
        if (phaseOf(s) !== expected || (await midTask(s))) return null;
        const shown = await evidence(s);
        return shown ? { s, shown } : null;
      }, `${expected} in flight`);
      await killWorker(s, expected, shown);
    };

    // Submit: each chunk's create is carried out, and its worker dies before the answer arrives.
    const submitKill = async (k: number, what: string) => {
      await until(async () => ((await created()) >= k ? true : null), `create ${k}`);
      await kill('submit', async (s) => {
        const submitting = s.chunks.find((c) => c.status === 'submitting');
        if (!submitting || (await created()) !== k) return null;
        // The create is done and its activity (in the workspace's submitter) still runs: the answer has not
        // reached the worker.
        if (!(await pendingActivities(submitting.ref.id)).includes('submitInOrder')) return null;
        const inSubmitter = (await env.client.workflow.getHandle(submitterId).describe()).raw.pendingActivities;
        if (!inSubmitter?.some((a) => a.activityType?.name === 'submitBatch')) return null;
        return `${what} (${submitting.ref.id}) created, submitBatch still waiting for the answer`;
      });
    };
    for (let k = 1; k <= REQUESTS / CHUNK; k++) await submitKill(k, `batch ${k} of round 0`);
    await setFaults({ outcomes: {} });

    // Polling: every batch is open, and stays so until the test moves the clock.
    const pollKill = async (chunkId: string) => {
      const before = await until(() => chunkPolls(chunkId), `a poll count of ${chunkId}`);
      await until(async () => (((await chunkPolls(chunkId)) ?? 0) > before ? true : null), 'a poll by the new worker');
      // Right after a poll, so the kill lands in the durable sleep before the next one.
      await kill('poll', async () => `${chunkId} polled ${(await chunkPolls(chunkId)) ?? '?'} times`);
    };
    await until(async () => {
      const s = await status();
      return s && s.chunks.filter((c) => c.ref.round === 0).every((c) => c.status === 'in_progress') ? true : null;
    }, 'every batch of round 0 being polled');
    await pollKill('r0-c0001');
    await pollKill('r0-c0002');

    // Fetch: slow downloads; a kill lands while a download's parts grow under the worker about to die.
    const partials = (round: number) => downloadedLines(roundDir(round));
    const fetchKill = async (round: number, lines: number) => {
      // What earlier workers downloaded; only lines beyond it come from the current one.
      const before = partials(round);
      await kill('fetch', () => {
        const now = partials(round);
        const f = Object.keys(now).find((name) => now[name]! >= (before[name] ?? 0) + lines);
        return f ? `${f} at ${now[f]} lines (${before[f] ?? 0} before this worker)` : null;
      });
    };
    await setFaults({ resultsLinesPerSecond: 500 });
    await em.advance(11 * HOUR_S);
    await fetchKill(0, 200);
    await fetchKill(0, 200);

    // The retry round: its create, its polls and its download, each with a kill.
    await submitKill(4, 'the batch of the retry round');
    await pollKill('r1-c0001');
    await em.advance(11 * HOUR_S);
    await fetchKill(1, 100);

    // Finalize. The output is written to a temp file beside it, named after the writing process, then moved into
    // place. The first kill comes as soon as the status shows the phase, before the output can be in place.
    const partialOutput = (pid: number) => readdirSync(dir).find((n) => n.startsWith(`.out.jsonl.partial-${pid}-`));
    await kill('finalize', () => {
      if (existsSync(output)) return null;
      const f = partialOutput(worker.child.pid!);
      return f ? `${f} being written` : 'the output not written yet';
    });
    // The second kill lands while the retried finalize writes under the new worker. The status, read before,
    // shows finalizing, and the job cannot leave that phase before this write is done. The write is over in a
    // fraction of a second: the kill goes out from the file-system notification itself, not after another query.
    const retrying = await until(async () => {
      const s = await status();
      return s && phaseOf(s) === 'finalize' && !(await midTask(s)) ? s : null;
    }, 'the status of the retried finalize');
    const target = worker;
    const partial = await new Promise<string | null>((resolve) => {
      const check = () => {
        const f = partialOutput(target.child.pid!);
        if (f) target.child.kill('SIGKILL');
        if (!f && !existsSync(output)) return;
        watcher.close();
        clearInterval(timer);
        resolve(f ?? null);
      };
      const watcher = watch(dir, check);
      const timer = setInterval(check, 100);
      check();
    });
    if (partial) await killWorker(retrying, 'finalize', `${partial} being written (the retried finalize)`);
    else t.diagnostic('the retried finalize wrote the output before a kill could land');

    await handle.result();
    t.diagnostic(`${elapsed()}: job completed`);

    assertExactOutput(readOutput(output), idsOf(REQUESTS, PREFIX));
    const report = readReport(output);
    const submissions = report.rounds.flatMap((r) => r.batches);
    const stats = await em.stats();
    assert.equal(report.rounds.length, 2, 'one retry round');
    assert.equal(report.rounds[0]!.batches.length, REQUESTS / CHUNK);
    assert.ok(report.rounds[0]!.retried > 0, 'round 0 left requests to retry');
    assert.equal(stats.batches.created, submissions.length, 'exactly one batch per chunk submission');
    assert.deepEqual(
      stats.batches.list.map((b) => b.id).sort(),
      submissions.map((b) => b.batchId).sort(),
      'the ledger holds exactly the batches the report names',
    );
    assert.ok(
      submissions.every((b) => b.adopted),
      'every create answer died with its worker: each batch was adopted, none created again',
    );

    const resumed = report.rounds.flatMap((r, round) =>
      r.batches.map((b) => {
        const file = path.join(roundDir(round), 'outcomes', `${b.chunkId}.json`);
        return (JSON.parse(readFileSync(file, 'utf8')) as ChunkOutcome).resumedFromLine;
      }),
    );
    assert.ok(
      resumed.some((n) => n > 0),
      `a download killed midway resumed where it was left (lines kept: ${resumed.join(', ')})`,
    );

    assert.ok(kills.length >= 10, `${kills.length} kills`);
    const hit = new Set<string>(kills.map((k) => k.phase));
    if (kills.some((k) => k.round > 0 && k.phase !== 'finalize')) hit.add('retry');
    for (const phase of ['submit', 'poll', 'fetch', 'retry', 'finalize'])
      assert.ok(hit.has(phase), `a kill landed in ${phase}`);
    t.diagnostic(`${kills.length} kills: ${kills.map((k) => `r${k.round} ${k.phase}`).join(', ')}`);

    for (const w of workers) await w.kill();
    for (const w of workers) assert.ok(!w.output().includes(TEST_KEY), 'no API key in worker logs');
  });
});
