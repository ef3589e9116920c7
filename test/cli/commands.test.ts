import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { formatUsd } from '../../shared/money.js';
import { statusQuery, type JobStatusView } from '../../workflows/messages.js';
import type { WorkerConfig } from '../../worker/config.js';
import type { JobSnapshot } from '../../client/jobs.js';
import type { JobRow } from '../../client/commands/list.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import {
  assertExactOutput,
  idsOf,
  jobDir,
  readOutput,
  readReport,
  shortRequest,
  writeJobInput,
} from '../helpers/jobs.js';
import { runCli, spawnCli } from '../helpers/processes.js';
import { startDevServer, cliEnvFor, runTestWorker, testWorkerConfig } from '../helpers/temporal.js';

// Hints name the command as it was run (`node dist/client/cli.js` here); these tests check the words after it.
process.env.CLAUDE_BATCH_COMMAND = 'claude-batch';

/** Runs finish in seconds: the emulator answers at once, and the job polls after 1 s. */
const FAST = ['--poll-initial', '1s', '--poll-max', '2s'];
const NO_STACK = /^\s+at /m;
const LABELS = ['positive', 'negative', 'neutral'];

/** A request as submitted to the API. */
interface Sent {
  custom_id: string;
  params: { max_tokens: number; messages: { role: string; content: string }[] };
}

interface CliResult {
  code: number | null;
  /** stdout and stderr, interleaved as printed. */
  output: string;
  stdout: string;
}

/** Runs the binary to completion, keeping stdout apart (for `results --out -`). */
async function cliRun(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const p = spawnCli(args, env);
  let stdout = '';
  p.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await p.exited;
  return { code, output: p.output(), stdout };
}

/** Runs `fn` over `items` with at most `limit` at a time (each CLI start costs a core for a second or two). */
async function pooled<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** A user error: non-zero exit, exactly one `error:` line and a hint, no stack trace. */
function assertUserError(r: { code: number | null; output: string }, message: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what}: non-zero exit\n${r.output}`);
  assert.equal(r.output.match(/^error: /gm)?.length, 1, `${what}: one error line\n${r.output}`);
  assert.match(r.output, message, what);
  assert.match(r.output, /^(hint: \S|\(run with --help for usage\))/m, `${what}: a hint\n${r.output}`);
  assert.doesNotMatch(r.output, NO_STACK, `${what}: no stack trace`);
}

// The tests run concurrently (most of their time is spent waiting for jobs and for CLI starts), so none of them
// counts batches or changes the emulator: what a job submitted is read from the emulator's store by custom_id.
describe(
  'claude-batch job commands (the real binary against a dev server, a worker and the emulator)',
  { concurrency: true },
  () => {
    let env: TestWorkflowEnvironment;
    let em: EmulatorHarness;
    /** An emulator whose batches take 10 minutes, with its own worker and task queue: jobs there can be canceled. */
    let slowEm: EmulatorHarness;
    let config: WorkerConfig;
    let slowConfig: WorkerConfig;
    let workers: { stop(): Promise<void> }[] = [];
    const dir = jobDir();
    let cliEnv: NodeJS.ProcessEnv;
    const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => cliRun(args, { ...cliEnv, ...extra });

    before(async () => {
      [env, em, slowEm] = await Promise.all([
        startDevServer(),
        startTestEmulator({ processing: { baseLatencyMs: 0, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 } }),
        startTestEmulator({ processing: { baseLatencyMs: 600_000, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 } }),
      ]);
      config = testWorkerConfig(em.url, { allowedRoots: [dir] });
      slowConfig = testWorkerConfig(slowEm.url, { allowedRoots: [dir] });
      workers = await Promise.all([runTestWorker(env, config), runTestWorker(env, slowConfig)]);
      cliEnv = {
        ...cliEnvFor(env, config.taskQueue),
        // The CLI never needs an API key; make sure it does not find one.
        ANTHROPIC_API_KEY: '',
      };
    });
    after(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all([em?.close(), slowEm?.close()]);
      await env?.teardown();
    });

    const handle = (id: string) => env.client.workflow.getHandle(id);
    const query = (id: string) => handle(id).query(statusQuery);
    async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!(await check().catch(() => false))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const phaseIs = (id: string, phase: JobStatusView['phase']) => async () => (await query(id)).phase === phase;
    /** The requests of a batch, as the emulator stored them. */
    function batchRequests(batchId: string): Sent[] {
      const file = path.join(em.dataDir, 'batches', batchId, 'requests.jsonl');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Sent);
    }
    /** The custom_ids with this prefix in any batch the emulator received. */
    function receivedIds(prefix: string): string[] {
      const batches = path.join(em.dataDir, 'batches');
      if (!existsSync(batches)) return [];
      return readdirSync(batches)
        .flatMap((b) => batchRequests(b).map((r) => r.custom_id))
        .filter((id) => id.startsWith(prefix));
    }
    /** The requests a job submitted, by custom_id. */
    async function submitted(id: string): Promise<Record<string, Sent>> {
      const batches = (await query(id)).chunks.map((c) => c.batchId!);
      return Object.fromEntries(batches.flatMap(batchRequests).map((r) => [r.custom_id, r]));
    }

    it('run: follows a batch JSONL job with plain log lines to the end; one output line per request, cost and report in the summary', async () => {
      const input = writeJobInput(dir, 6, 'run', 'run.jsonl');
      const out = path.join(dir, 'run-results.jsonl');
      const r = await cli(['run', input, '--out', out, '--job-id', 'run-1', ...FAST]);
      assert.equal(r.code, 0, r.output);
      assertExactOutput(readOutput(out), idsOf(6, 'run'));

      // Not a terminal: log lines, no redrawn frame.
      assert.equal(r.output.includes('\u001b['), false, 'no terminal escape codes');
      assert.match(r.output, /^started job run-1 \(task queue test-\w+\)$/m);
      assert.match(r.output, /^\[\s*\d+s\] (validating|estimating|running|finalizing|completed)$/m);
      assert.match(r.output, /^\[\s*\d+s\] r0-c0001 msgbatch_\w+ (in progress|fetching results|done) \d\/6/m);
      // Normally "r0-c0001 … done 6/6" and "completed" follow; on a machine so busy that the last status query
      // times out, the summary below is what says so.

      const report = readReport(out);
      assert.equal(report.status, 'completed');
      assert.equal(report.outcomes.succeeded, 6);
      assert.ok(existsSync(path.join(dir, 'run-results.report.md')));
      assert.match(r.output, /^job run-1 completed: 6 result lines, one per request$/m);
      assert.match(r.output, /^ {2}outcomes: succeeded 6$/m);
      const cost = formatUsd(report.actual.costUsd).replace('$', '\\$');
      assert.match(r.output, new RegExp(`^ {2}cost ${cost} at batch prices \\(estimated \\$[\\d.]+\\)`, 'm'));
      assert.match(r.output, new RegExp(`^ {2}results: file://${out}$`, 'm'));
      assert.match(r.output, new RegExp(`^ {2}report: +file://${path.join(dir, 'run-results.report.md')}$`, 'm'));
    });

    it('run: a lines (.txt) input and a CSV input become requests through --prompt; ids generated or from --id-column', async () => {
      const prompt = 'Classify the sentiment. Answer with one of: positive, negative, neutral: {item}';
      const txt = path.join(dir, 'reviews.txt');
      writeFileSync(txt, 'great product, love it\nbroke after a day\n\nit is fine I guess\n');
      const csv = path.join(dir, 'tickets.csv');
      writeFileSync(csv, 'id,lang,text\nT-1,en,"Thanks, works great"\nT-2,de,funktioniert nicht\nT-3,en,meh\n');
      const [lines, table] = await Promise.all([
        cli(['run', txt, '--out', path.join(dir, 'reviews.jsonl'), '--prompt', prompt, '--job-id', 'lines-1', ...FAST]),
        cli([
          'run',
          csv,
          '--out',
          path.join(dir, 'tickets-results.jsonl'),
          '--prompt',
          `[{lang}] ${prompt}`,
          '--column',
          'text',
          '--id-column',
          'id',
          '--max-tokens',
          '5',
          '--job-id',
          'csv-1',
          ...FAST,
        ]),
      ]);
      assert.equal(lines.code, 0, lines.output);
      assert.equal(table.code, 0, table.output);

      // Ids from the line numbers (the blank line 3 is skipped), or from the id column.
      const fromLines = readOutput(path.join(dir, 'reviews.jsonl'));
      assertExactOutput(fromLines, ['item-0000001', 'item-0000002', 'item-0000004']);
      const fromCsv = readOutput(path.join(dir, 'tickets-results.jsonl'));
      assertExactOutput(fromCsv, ['T-1', 'T-2', 'T-3']);
      for (const line of [...fromLines, ...fromCsv]) {
        const text = (line.result as { message?: { content: { text: string }[] } }).message?.content[0]?.text;
        assert.ok(text && LABELS.includes(text), `${line.custom_id} was answered with a label, not "${text}"`);
      }

      // What was submitted: the prompt with {item} (and {lang}) filled in, and the flags' max_tokens.
      const sentLines = await submitted('lines-1');
      assert.equal(
        sentLines['item-0000002']!.params.messages[0]!.content,
        prompt.replace('{item}', 'broke after a day'),
      );
      const sentCsv = await submitted('csv-1');
      assert.equal(
        sentCsv['T-1']!.params.messages[0]!.content,
        `[en] ${prompt.replace('{item}', 'Thanks, works great')}`,
      );
      assert.equal(sentCsv['T-2']!.params.max_tokens, 5);
    });

    it('run --detach returns at once; watch follows the job to the end; status, results and list show it', async () => {
      const input = writeJobInput(dir, 4, 'det', 'det.jsonl');
      const out = path.join(dir, 'det-results.jsonl');
      // A first poll after 3 s: the job is surely still running when `run --detach` has returned.
      const started = await cli(['run', input, '--out', out, '--detach', '--poll-initial', '3s', '--poll-max', '3s']);
      assert.equal(started.code, 0, started.output);
      const id = started.output.match(/^started job (\S+) /m)?.[1] ?? '';
      assert.ok(id.startsWith('det-'), started.output);
      assert.match(started.output, new RegExp(`watch: +claude-batch watch ${id}`));
      assert.equal((await handle(id).describe()).status.name, 'RUNNING', 'returned before the job ended');
      assert.equal(existsSync(out), false);

      const watched = await cli(['watch', id]);
      assert.equal(watched.code, 0, watched.output);
      assert.match(watched.output, new RegExp(`^job ${id} completed: 4 result lines, one per request$`, 'm'));
      assertExactOutput(readOutput(out), idsOf(4, 'det'));

      const copy = path.join(dir, 'det-copy.jsonl');
      const [status, json, results, toStdout, list, listJson] = await pooled(
        [
          ['status', id],
          ['status', id, '--json'],
          ['results', id, '--out', copy],
          ['results', id, '--out', '-'],
          ['list'],
          ['list', '--json'],
        ],
        3,
        (args) => cli(args),
      );
      for (const r of [status, json, results, toStdout, list, listJson]) assert.equal(r!.code, 0, r!.output);

      assert.match(status!.output, new RegExp(`^job ${id} {2}· {2}completed {2}· `, 'm'));
      assert.match(status!.output, /^ {2}4 requests in 1 batch\(es\)$/m);
      assert.match(status!.output, /^ {2}r0-c0001 {2}msgbatch_\w+ +█+ +4\/4 +done$/m);
      assert.match(status!.output, /^ {2}temporal: completed$/m);

      const snapshot = JSON.parse(json!.stdout) as JobSnapshot;
      assert.equal(snapshot.id, id);
      assert.equal(snapshot.execution, 'COMPLETED');
      assert.equal(snapshot.view?.phase, 'completed');
      assert.equal(snapshot.view?.chunks.length, 1);
      assert.match(snapshot.view?.chunks[0]?.batchId ?? '', /^msgbatch_/);
      assert.equal(snapshot.report?.lines, 4);

      const original = readFileSync(out, 'utf8');
      assert.equal(readFileSync(copy, 'utf8'), original, 'results --out copies the output exactly');
      assert.match(results!.output, new RegExp(`^wrote 4 result lines to ${copy} \\(succeeded 4\\)$`, 'm'));
      assert.equal(toStdout!.stdout, original, 'results --out - writes the JSONL, and only it, to stdout');

      assert.match(list!.output, new RegExp(`│ ${id} +│ completed +│`));
      const row = (JSON.parse(listJson!.stdout) as JobRow[]).find((j) => j.id === id);
      assert.ok(row, listJson!.output);
      assert.equal(row.status, 'completed');
      assert.equal(row.requests, 4);
      assert.equal(row.costUsd, snapshot.report?.costUsd);
      assert.ok(row.costUsd! > 0);
    });

    it('approval: a job above --approve-above waits; approve lets it run once, reject ends another with nothing submitted, --yes approves by itself', async () => {
      const a = writeJobInput(dir, 3, 'appr', 'appr.jsonl');
      const b = writeJobInput(dir, 7, 'rej', 'rej.jsonl');
      const approvedOut = path.join(dir, 'appr-results.jsonl');
      const rejectedOut = path.join(dir, 'rej-results.jsonl');
      const [startA, startB] = await Promise.all([
        cli(['run', a, '--out', approvedOut, '--approve-above', '0', '--detach', '--job-id', 'appr-1', ...FAST]),
        cli(['run', b, '--out', rejectedOut, '--approve-above', '0', '--detach', '--job-id', 'rej-1', ...FAST]),
      ]);
      assert.equal(startA.code, 0, startA.output);
      assert.equal(startB.code, 0, startB.output);
      await until('both jobs to wait for approval', async () =>
        (await Promise.all([phaseIs('appr-1', 'awaiting_approval')(), phaseIs('rej-1', 'awaiting_approval')()])).every(
          Boolean,
        ),
      );

      // A --yes run meanwhile: approved up front in the workflow (it never waits), and run to the end.
      const yesRun = cli([
        'run',
        writeJobInput(dir, 2, 'yes', 'yes.jsonl'),
        '--out',
        path.join(dir, 'yes-results.jsonl'),
        '--approve-above',
        '0',
        '--yes',
        '--job-id',
        'yes-1',
        ...FAST,
      ]);

      const waiting = await cli(['status', 'appr-1']);
      assert.equal(waiting.code, 0, waiting.output);
      assert.match(waiting.output, /^job appr-1 {2}· {2}awaiting approval {2}· /m);
      assert.match(waiting.output, /^ {2}approval: waiting$/m);
      assert.match(waiting.output, /^ {2}estimate \$[\d.]+ at batch prices/m);

      const [approved, rejected] = await Promise.all([
        cli(['approve', 'appr-1', '--reason', 'x', '--by', 'ana']),
        cli(['reject', 'rej-1', '--reason', 'over budget', '--by', 'bo']),
      ]);
      assert.equal(approved.code, 0, approved.output);
      assert.match(approved.output, /^job appr-1: approved by ana$/m);
      assert.equal(rejected.code, 0, rejected.output);
      assert.match(rejected.output, /^job rej-1: rejected by bo$/m);

      const again = await cli(['approve', 'appr-1']);
      assertUserError(
        again,
        /^error: (cannot approve job appr-1: this job is not waiting for approval \(approval: approved|job appr-1 has already ended \(completed\))/m,
        'a second approve',
      );

      await handle('appr-1').result();
      assertExactOutput(readOutput(approvedOut), idsOf(3, 'appr'));
      assert.equal((await query('appr-1')).approval?.reason, 'x', 'the reason is recorded in the job');
      await assert.rejects(
        handle('rej-1').result(),
        (err: unknown) =>
          err instanceof WorkflowFailedError &&
          /^Job rejected by bo: over budget\. Nothing was submitted\.$/.test(err.cause?.message ?? ''),
      );

      const yes = await yesRun;
      assert.equal(yes.code, 0, yes.output);
      assert.match(yes.output, /^\[\s*\d+s\] approved by \S+ \(claude-batch cli\) \(approved up front\)$/m);
      assert.doesNotMatch(yes.output, /awaiting approval/, 'an approval given up front is never waited for');
      assert.equal(yes.output.match(/estimate \$/g)?.length, 1, `the estimate, once:\n${yes.output}`);
      assert.equal((await query('yes-1')).approval?.state, 'approved');
      assert.match(yes.output, /^job yes-1 completed: 2 result lines/m);

      const rejectedStatus = await cli(['status', 'rej-1']);
      assert.equal(rejectedStatus.code, 0, rejectedStatus.output);
      assert.match(rejectedStatus.output, /^job rej-1 {2}· {2}rejected {2}· /m);
      assert.match(rejectedStatus.output, /^ {2}approval: rejected by bo$/m);
      assert.match(rejectedStatus.output, /^ {2}temporal: failed$/m);
      assert.match(rejectedStatus.output, /^ {2}error: Job rejected by bo: over budget\. Nothing was submitted\.$/m);

      // The emulator received the approved job's requests and the --yes job's, and none of the rejected job's.
      assert.deepEqual(receivedIds('appr-').sort(), idsOf(3, 'appr'));
      assert.deepEqual(receivedIds('yes-').sort(), idsOf(2, 'yes'));
      assert.deepEqual(receivedIds('rej-'), []);
      assert.equal(existsSync(rejectedOut), false, 'a rejected job writes no output');
    });

    it('estimate: prints the estimate, submits nothing; invalid lines are listed with line, field and rule', async () => {
      const good = writeJobInput(dir, 5, 'est', 'est.jsonl');
      const bad = path.join(dir, 'est-bad.jsonl');
      writeFileSync(
        bad,
        [
          JSON.stringify(shortRequest(0, 'eb')),
          JSON.stringify({ ...shortRequest(1, 'eb'), custom_id: 'has space' }),
          '{"custom_id": "eb-2", "params": ',
          JSON.stringify({ custom_id: 'eb-3', params: { ...shortRequest(3).params, max_tokens: 999_999 } }),
        ].join('\n'),
      );
      const [ok, invalid] = await Promise.all([cli(['estimate', good]), cli(['estimate', bad])]);
      assert.equal(ok.code, 0, ok.output);
      assert.match(ok.output, /est\.jsonl: 5 lines, 5 valid requests in 1 batch\(es\); models: claude-haiku-4-5$/m);
      assert.match(
        ok.output,
        /^estimate: \$[\d.]+ at batch prices; \$[\d.]+ at synchronous prices \(saves \$[\d.]+\)$/m,
      );
      assert.match(ok.output, /input tokens counted for every request/);
      assert.match(
        ok.output,
        /^ {2}worst case: \$[\d.]+ at batch prices \(no cache hits, every answer at max_tokens\)/m,
      );
      assert.match(
        ok.output,
        /^ {2}expected tokens: \d+ uncached input, 0 5m cache writes, 0 cache reads, \d+ output/m,
      );
      assert.match(ok.output, /^a run would start without approval \(worst case within \$10\.00\)$/m);
      assert.match(ok.output, /^nothing was submitted\.$/m);

      assert.notEqual(invalid.code, 0, invalid.output);
      assert.match(invalid.output, /4 lines, 1 valid requests/);
      assert.match(invalid.output, /^3 invalid line\(s\), 3 problem\(s\):$/m);
      assert.match(invalid.output, /^ {2}line 2, custom_id: may contain only letters, digits, '-' and '_'/m);
      assert.match(invalid.output, /^ {2}line 3, \(line\): not valid JSON/m);
      assert.match(
        invalid.output,
        /^ {2}line 4, params\.max_tokens: must be at most 64000 for claude-haiku-4-5 \(is 999999\)$/m,
      );
      assert.match(invalid.output, /^nothing was submitted\.$/m);
      assert.doesNotMatch(invalid.output, NO_STACK);

      assert.deepEqual([...receivedIds('est-'), ...receivedIds('eb-')], [], 'no batch holds any of their requests');
    });

    it('cancel: a running job cancels its batch, collects what there is, and writes its output and report', async () => {
      {
        const input = writeJobInput(dir, 4, 'can', 'can.jsonl');
        const out = path.join(dir, 'can-results.jsonl');
        // On the slow emulator: its batch would take 10 minutes; a cancel ends it at once.
        const started = await cli(['run', input, '--out', out, '--detach', '--job-id', 'can-1', ...FAST], {
          CLAUDE_BATCH_TASK_QUEUE: slowConfig.taskQueue,
        });
        assert.equal(started.code, 0, started.output);
        await until(
          'the batch to be in progress',
          async () => (await query('can-1')).chunks[0]?.status === 'in_progress',
        );

        // While it runs: no results yet, and no approval to give.
        const [results, approve] = await Promise.all([
          cli(['results', 'can-1', '--out', '-']),
          cli(['approve', 'can-1']),
        ]);
        assertUserError(
          results,
          /^error: job can-1 is still running; its results are written when it ends$/m,
          'results',
        );
        assert.match(results.output, /^hint: follow it with `claude-batch watch can-1`$/m);
        assert.equal(results.stdout.includes('custom_id'), false);
        assertUserError(
          approve,
          /^error: cannot approve job can-1: this job is not waiting for approval \(approval: not_needed, phase: running\)$/m,
          'approve of a job that needs none',
        );

        const canceled = await cli(['cancel', 'can-1', '--wait']);
        assert.equal(canceled.code, 0, canceled.output);
        assert.match(canceled.output, /^cancel requested for job can-1/m);
        assert.match(canceled.output, /^job can-1 is canceled;/m);
        assert.equal((await handle('can-1').describe()).status.name, 'CANCELLED');

        const lines = readOutput(out);
        assertExactOutput(lines, idsOf(4, 'can'));
        assert.ok(lines.every((l) => l.result.type === 'canceled'));
        const report = readReport(out);
        assert.equal(report.status, 'canceled');
        assert.equal(report.outcomes.canceled, 4);

        const status = await cli(['status', 'can-1']);
        assert.match(status.output, /^job can-1 {2}· {2}canceled {2}· /m);
        assert.match(status.output, /^ {2}outcomes: canceled 4$/m);
        assert.match(status.output, new RegExp(`report file://${path.join(dir, 'can-results.report.md')}`));
      }
    });

    it('user errors: one `error:` line and a hint, a non-zero exit, never a stack trace', async () => {
      const input = writeJobInput(dir, 1, 'ue', 'ue.jsonl');
      const out = path.join(dir, 'ue-results.jsonl');
      const cases: [string, string[], RegExp, NodeJS.ProcessEnv?][] = [
        [
          'missing input',
          ['run', path.join(dir, 'missing.jsonl'), '--out', out],
          /^error: input file .*missing\.jsonl does not exist$/m,
        ],
        ['unknown flag', ['run', input, '--out', out, '--bogus'], /^error: unknown option '--bogus'$/m],
        [
          'bad flag value',
          ['run', input, '--out', out, '--chunk-size', '0'],
          /^error: option '--chunk-size <n>' argument '0' is invalid\. expected a whole number ≥ 1$/m,
        ],
        ['missing --out', ['run', input], /^error: required option '-o, --out <file>' not specified$/m],
        [
          'a flag the format ignores',
          ['run', input, '--out', out, '--prompt', 'x {item}'],
          /^error: --prompt applies to lines and CSV input/m,
        ],
        ['unknown job (status)', ['status', 'no-such-job'], /^error: no job 'no-such-job' in namespace default$/m],
        ['unknown job (approve)', ['approve', 'no-such-job'], /^error: no job 'no-such-job' in namespace default$/m],
        [
          'unknown job (results)',
          ['results', 'no-such-job', '--out', '-'],
          /^error: no job 'no-such-job' in namespace default$/m,
        ],
        [
          'unreachable server',
          ['status', 'x'],
          /^error: cannot reach the Temporal server at 127\.0\.0\.1:1 /m,
          { TEMPORAL_ADDRESS: '127.0.0.1:1' },
        ],
      ];
      const results = await pooled(cases, 4, ([, args, , extra]) => cli(args, extra));
      cases.forEach(([what, , message], i) => assertUserError(results[i]!, message, what));
      assert.match(results[5]!.output, /^hint: `claude-batch list` shows recent jobs$/m);
      assert.match(results[8]!.output, /^hint: start one with `claude-batch dev`/m);
      assert.equal(existsSync(out), false);
    });

    it('--help works for every command', async () => {
      const commands = [
        'run',
        'estimate',
        'status',
        'watch',
        'approve',
        'reject',
        'cancel',
        'results',
        'list',
        'schedule',
        'dev',
        'worker',
        'doctor',
        'emulator',
        'codec-server',
      ];
      const runs = await pooled([[], ...commands.map((c) => [c])], 4, (c) => runCli([...c, '--help'], cliEnv));
      const [top, ...rest] = runs;
      assert.equal(top!.code, 0);
      for (const c of commands) assert.match(top!.output, new RegExp(`^ {2}${c}\\b`, 'm'), `the overview lists ${c}`);
      commands.forEach((c, i) => {
        const r = rest[i]!;
        assert.equal(r.code, 0, `${c} --help: ${r.output}`);
        assert.match(r.output, new RegExp(`^Usage: claude-batch ${c} `, 'm'));
        assert.doesNotMatch(r.output, /^error/m);
      });
      const help = Object.fromEntries(commands.map((c, i) => [c, rest[i]!.output]));
      assert.match(help.run!, /--approve-above <usd>/);
      assert.match(help.run!, /--detach/);
      assert.match(help.estimate!, /--prompt <template>/);
      assert.match(help.results!, /-o, --out <file>/);
      assert.match(help.schedule!, /^ {2}create \[options\] <name>/m);
      assert.match(help.emulator!, /--time-scale <n>/);
    });
  },
);
