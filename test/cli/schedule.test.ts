import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkerConfig } from '../../worker/config.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, readReport, writeJobInput } from '../helpers/jobs.js';
import { runCli } from '../helpers/processes.js';
import { startDevServer, cliEnvFor, runTestWorker, testWorkerConfig } from '../helpers/temporal.js';

// Hints name the command as it was run (`node dist/client/cli.js` here); these tests check the words after it.
process.env.CLAUDE_BATCH_COMMAND = 'claude-batch';

interface ScheduleView {
  name: string;
  cron: string | null;
  timezone: string;
  paused: boolean;
  note: string | null;
  overlap: string;
  taskQueue: string | null;
  jobInput: Record<string, unknown> | null;
  actionsTaken: number;
  recentJobs: { scheduledAt: string; jobId: string }[];
  nextRuns: string[];
}

describe('claude-batch schedule (the real binary against a dev server)', { concurrency: true }, () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  let config: WorkerConfig;
  let worker: { stop(): Promise<void> } | undefined;
  let cliEnv: NodeJS.ProcessEnv;
  const dir = jobDir();

  before(async () => {
    [env, em] = await Promise.all([
      startDevServer(),
      startTestEmulator({ processing: { baseLatencyMs: 0, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 } }),
    ]);
    config = testWorkerConfig(em.url, { allowedRoots: [dir] });
    worker = await runTestWorker(env, config);
    cliEnv = cliEnvFor(env, config.taskQueue);
  });
  after(async () => {
    await worker?.stop();
    await em?.close();
    await env?.teardown();
  });

  const cli = (...args: string[]) => runCli(args, cliEnv);
  async function describeJson(name: string): Promise<ScheduleView> {
    const r = await cli('schedule', 'describe', name, '--json');
    assert.equal(r.code, 0, r.output);
    return JSON.parse(r.output) as ScheduleView;
  }

  it('create, list, describe, trigger (a job writes results-<date>.jsonl), pause, unpause, delete', async () => {
    const input = writeJobInput(dir, 5, 'night', 'nightly.jsonl');
    const template = path.join(dir, 'results-{date}.jsonl');

    const created = await cli(
      'schedule',
      'create',
      'nightly-test',
      '--cron',
      '0 2 * * *',
      '--input',
      input,
      '--output',
      template,
      '--poll-initial',
      '1s',
    );
    assert.equal(created.code, 0, created.output);
    assert.match(created.output, /^schedule nightly-test created: "0 2 \* \* \*" \(UTC\), overlap skip$/m);
    assert.match(created.output, new RegExp(`each run: ${input} → ${template.replace(/[{}]/g, '\\$&')}`));

    const [list, shown, duplicate, before] = await Promise.all([
      cli('schedule', 'list'),
      cli('schedule', 'describe', 'nightly-test'),
      cli('schedule', 'create', 'nightly-test', '--cron', '0 3 * * *', '--input', input, '--output', template),
      describeJson('nightly-test'),
    ]);
    assert.equal(list.code, 0, list.output);
    assert.match(
      list.output,
      /^nightly-test {2}"0 2 \* \* \*" {2}active {2}next \d{4}-\d\d-\d\d 02:00 UTC {2}last job —$/m,
    );
    assert.equal(shown.code, 0, shown.output);
    assert.match(shown.output, /^schedule nightly-test: "0 2 \* \* \*" \(UTC\), active, overlap skip$/m);
    assert.match(
      shown.output,
      new RegExp(
        `^ {2}job input: ${JSON.stringify({ input, output: template, poll: { initial: '1s' } }).replace(/[{}[\]]/g, '\\$&')}$`,
        'm',
      ),
    );
    assert.match(shown.output, new RegExp(`^ {2}task queue: ${config.taskQueue}; runs so far: 0$`, 'm'));
    assert.match(shown.output, /^ {2}next: (\d{4}-\d\d-\d\d 02:00 UTC(, )?){5}$/m);
    assert.equal(duplicate.code, 2, duplicate.output);
    assert.match(duplicate.output, /^error: a schedule named 'nightly-test' already exists$/m);
    assert.match(duplicate.output, /^hint: /m);

    // The default overlap policy is SKIP: as described by the CLI, and as the server holds it.
    assert.equal(before.overlap, 'SKIP');
    assert.equal(before.paused, false);
    assert.equal(before.note, null);
    assert.equal(before.taskQueue, config.taskQueue);
    assert.deepEqual(before.jobInput, { input, output: template, poll: { initial: '1s' } });
    assert.equal(before.nextRuns.length, 5);
    assert.equal(
      (await env.client.schedule.getHandle('nightly-test').describe()).policies.overlap,
      ScheduleOverlapPolicy.SKIP,
    );

    const today = new Date().toISOString().slice(0, 10);
    const triggered = await cli('schedule', 'trigger', 'nightly-test');
    assert.equal(triggered.code, 0, triggered.output);
    assert.match(triggered.output, /^schedule nightly-test triggered: a job is starting$/m);
    const schedule = env.client.schedule.getHandle('nightly-test');
    let jobId: string | undefined;
    for (const deadline = Date.now() + 20_000; !jobId && Date.now() < deadline;) {
      jobId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
      if (!jobId) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(jobId && jobId.startsWith('nightly-test-'), `a job was started: ${jobId}`);
    const job = env.client.workflow.getHandle(jobId);
    // Pausing the schedule while its job runs: the job goes on.
    const [result, paused] = await Promise.all([
      job.result() as Promise<{ outputUri: string; lines: number }>,
      cli('schedule', 'pause', 'nightly-test', '--note', 'maintenance'),
    ]);
    const runDate = (await job.describe()).startTime.toISOString().slice(0, 10);
    assert.ok([today, new Date().toISOString().slice(0, 10)].includes(runDate), 'the job ran today (UTC)');
    const out = path.join(dir, `results-${runDate}.jsonl`);
    assert.equal(result.outputUri, `file://${out}`, '{date} expanded to the UTC date of the run');
    assertExactOutput(readOutput(out), idsOf(5, 'night'));
    assert.equal(readReport(out).outcomes.succeeded, 5);

    assert.equal(paused.code, 0, paused.output);
    assert.match(paused.output, /^schedule nightly-test paused$/m);
    const [pausedView, pausedList] = await Promise.all([describeJson('nightly-test'), cli('schedule', 'list')]);
    assert.equal(pausedView.actionsTaken, 1);
    assert.deepEqual(
      pausedView.recentJobs.map((j) => j.jobId),
      [jobId],
    );
    assert.equal(pausedView.paused, true);
    assert.equal(pausedView.note, 'maintenance');
    assert.match(
      pausedList.output,
      new RegExp(`^nightly-test {2}"0 2 \\* \\* \\*" {2}paused {2}.* {2}last job ${jobId}$`, 'm'),
    );

    const unpaused = await cli('schedule', 'unpause', 'nightly-test');
    assert.equal(unpaused.code, 0, unpaused.output);
    const shownAgain = await cli('schedule', 'describe', 'nightly-test');
    assert.match(shownAgain.output, /^schedule nightly-test: "0 2 \* \* \*" \(UTC\), active, overlap skip$/m);
    assert.match(shownAgain.output, /^ {2}note: unpaused with claude-batch$/m);
    assert.match(shownAgain.output, new RegExp(`^ {2}ran \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC: ${jobId}$`, 'm'));

    const deleted = await cli('schedule', 'delete', 'nightly-test');
    assert.equal(deleted.code, 0, deleted.output);
    assert.match(deleted.output, /^schedule nightly-test deleted$/m);
    const [gone, emptyList] = await Promise.all([cli('schedule', 'describe', 'nightly-test'), cli('schedule', 'list')]);
    assert.equal(gone.code, 2, gone.output);
    assert.equal(gone.output.match(/^error: /gm)?.length, 1, gone.output);
    assert.match(gone.output, /^error: no schedule 'nightly-test'$/m);
    assert.match(gone.output, /^hint: `claude-batch schedule list` shows the schedules$/m);
    assert.doesNotMatch(gone.output, /^\s+at /m);
    assert.match(emptyList.output, /^no schedules; create one with `claude-batch schedule create`$/m);
    assert.ok(existsSync(out), 'deleting the schedule leaves the results of its jobs');
  });

  it('create refuses a bad cron spec and a bad overlap policy with one line each', async () => {
    const input = writeJobInput(dir, 1, 'bad', 'bad.jsonl');
    const [cron, overlap] = await Promise.all([
      cli(
        'schedule',
        'create',
        'bad-cron',
        '--cron',
        'every night',
        '--input',
        input,
        '--output',
        path.join(dir, 'x.jsonl'),
      ),
      cli(
        'schedule',
        'create',
        'bad-overlap',
        '--cron',
        '0 2 * * *',
        '--input',
        input,
        '--output',
        path.join(dir, 'x.jsonl'),
        '--overlap',
        'never',
      ),
    ]);
    for (const r of [cron, overlap]) {
      assert.notEqual(r.code, 0, r.output);
      assert.equal(r.output.match(/^error: /gm)?.length, 1, r.output);
      assert.doesNotMatch(r.output, /^\s+at /m);
    }
    assert.match(cron.output, /^error: the server refused the schedule: .*CronString/m);
    assert.match(cron.output, /^hint: check --cron/m);
    await assert.rejects(env.client.schedule.getHandle('bad-cron').describe(), ScheduleNotFoundError);
    assert.match(
      overlap.output,
      /^error: option '--overlap <policy>' argument 'never' is invalid\. Allowed choices are skip, buffer-one/m,
    );
  });
});
