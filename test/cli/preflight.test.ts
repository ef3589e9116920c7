import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { packageRoot } from '../../config/load.js';
import type { JobReport } from '../../shared/report.js';
import type { WorkerConfig } from '../../worker/config.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { jobDir, readOutput, readReport, shortRequest, writeJobInput } from '../helpers/jobs.js';
import { spawnCli } from '../helpers/processes.js';
import { cliEnvFor, runTestWorker, startDevServer, testWorkerConfig } from '../helpers/temporal.js';

const FAST = ['--poll-initial', '1s', '--poll-max', '2s'];
const NO_STACK = /^\s+at /m;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

interface CliResult {
  code: number | null;
  output: string;
  stdout: string;
}

/**
 * Every mistaken input of a new user gets an answer before a cent is spent: each refusal runs the real binary
 * against a dev server, a worker and an emulator on which no batch may ever be created (its ledger is checked
 * after every refusal), and the user's input file is compared byte for byte afterwards.
 */
describe(
  'pre-flight: refused before any create, nothing of the user overwritten (real CLI, dev server, emulator)',
  {
    concurrency: true,
  },
  () => {
    let env: TestWorkflowEnvironment;
    /** No test may create a batch here: every job on this emulator must be refused. */
    let refusing: EmulatorHarness;
    /** Jobs that are meant to run. */
    let running: EmulatorHarness;
    /** Batches take ~25 s, on a clock ten minutes a second fast (as under `claude-batch dev`). */
    let slow: EmulatorHarness;
    let refusingConfig: WorkerConfig;
    let runningConfig: WorkerConfig;
    let slowConfig: WorkerConfig;
    let workers: { stop(): Promise<void> }[] = [];
    const dir = jobDir();
    const quickstart = path.join(packageRoot, 'examples', 'quickstart');
    /** Outside every root the workers may use. */
    const outside = mkdtempSync(path.join(tmpdir(), 'cb-outside-'));

    before(async () => {
      [env, refusing, running, slow] = await Promise.all([
        startDevServer(),
        startTestEmulator(),
        startTestEmulator({ processing: { baseLatencyMs: 0, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 } }),
        startTestEmulator({
          timeScale: 600,
          processing: { baseLatencyMs: 25 * 600_000, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 },
        }),
      ]);
      refusingConfig = testWorkerConfig(refusing.url, { allowedRoots: [dir, quickstart] });
      runningConfig = testWorkerConfig(running.url, { allowedRoots: [dir] });
      slowConfig = testWorkerConfig(slow.url, { allowedRoots: [dir] });
      workers = await Promise.all([
        runTestWorker(env, refusingConfig),
        runTestWorker(env, runningConfig),
        runTestWorker(env, slowConfig),
      ]);
    });
    after(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all([refusing?.close(), running?.close(), slow?.close()]);
      await env?.teardown();
    });

    async function cli(args: string[], queue: 'refusing' | 'running' | 'slow' = 'refusing'): Promise<CliResult> {
      const config = { refusing: refusingConfig, running: runningConfig, slow: slowConfig }[queue];
      const p = spawnCli(args, { ...cliEnvFor(env, config.taskQueue), ANTHROPIC_API_KEY: '' });
      let stdout = '';
      p.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      const code = await p.exited;
      return { code, output: p.output(), stdout };
    }

    /** A refusal: non-zero exit, one error line naming the problem, a hint, no stack, and nothing created. */
    async function assertRefused(r: CliResult, message: RegExp, what: string): Promise<void> {
      assert.notEqual(r.code, 0, `${what}: non-zero exit\n${r.output}`);
      assert.equal(r.output.match(/^error: /gm)?.length, 1, `${what}: one error line\n${r.output}`);
      assert.match(r.output, message, `${what}\n${r.output}`);
      assert.match(r.output, /^(hint: \S|\(run with --help for usage\))/m, `${what}: a hint\n${r.output}`);
      assert.doesNotMatch(r.output, NO_STACK, `${what}: no stack trace\n${r.output}`);
      const stats = await refusing.stats();
      assert.equal(stats.batches.created, 0, `${what}: no batch created`);
    }

    const input = (name: string, n = 3) => writeJobInput(dir, n, name.replace(/\W/g, ''), name);

    it('output = input: refused, also through a symlink or `..`; the input is byte-for-byte unchanged', async () => {
      const same = input('same.jsonl');
      const before = sha(same);
      const link = path.join(dir, 'link-to-same.jsonl');
      symlinkSync(same, link);
      mkdirSync(path.join(dir, 'sub'), { recursive: true });
      const dotted = path.join(dir, 'sub', '..', 'same.jsonl');
      for (const out of [same, link, dotted]) {
        const r = await cli(['run', same, '--out', out, '--yes', ...FAST]);
        await assertRefused(r, /is the input file/, `--out ${out}`);
        assert.equal(r.code, 2, 'a user mistake');
        assert.match(r.output, /^hint: write the results to another file/m);
      }
      assert.equal(sha(same), before, 'input unchanged');
    });

    it('an existing output is refused unless --overwrite; then it is replaced', async () => {
      const src = input('yesterday.jsonl');
      const out = path.join(dir, 'yesterday-results.jsonl');
      writeFileSync(out, 'yesterday\n');
      const r = await cli(['run', src, '--out', out, ...FAST]);
      await assertRefused(r, /already exists; nothing was overwritten or submitted/, 'existing output');
      assert.match(r.output, /^hint: choose another --out, or pass --overwrite/m);
      assert.equal(readFileSync(out, 'utf8'), 'yesterday\n', 'yesterday’s results kept');

      // An existing report is an output too.
      const out2 = path.join(dir, 'fresh-results.jsonl');
      writeFileSync(path.join(dir, 'fresh-results.report.md'), '# mine\n');
      await assertRefused(await cli(['run', src, '--out', out2, ...FAST]), /report .* already exists/, 'report');

      const ok = await cli(['run', src, '--out', out, '--overwrite', ...FAST], 'running');
      assert.equal(ok.code, 0, ok.output);
      assert.equal(readOutput(out).length, 3);
    });

    it('an output outside the worker’s allowed roots is refused before any create (not at finalize)', async () => {
      const src = input('roots.jsonl');
      const before = sha(src);
      const r = await cli(['run', src, '--out', path.join(outside, 'results.jsonl'), '--yes', ...FAST]);
      await assertRefused(r, /outside the worker's allowed roots/, 'output outside roots');
      assert.match(r.output, /^hint: .*CLAUDE_BATCH_ALLOWED_ROOTS/m);
      assert.equal(existsSync(path.join(outside, 'results.jsonl')), false);
      assert.equal(sha(src), before);
    });

    it('an input that is a folder or an http:// URI gets one clear answer at once (CLI and workflow)', async () => {
      const folder = path.join(dir, 'a-folder.jsonl');
      mkdirSync(folder, { recursive: true });
      await assertRefused(await cli(['run', folder, '--out', path.join(dir, 'f.jsonl')]), /is a folder/, 'run dir');
      await assertRefused(await cli(['estimate', folder]), /is a folder/, 'estimate dir');
      await assertRefused(
        await cli(['run', 'http://example.com/in.jsonl', '--out', path.join(dir, 'h.jsonl')]),
        /the http:\/\/ scheme is not supported/,
        'http input',
      );
      // Started as the UI or a Schedule would (no CLI check first): the workflow fails at once, not retried forever.
      const handle = await env.client.workflow.start('batchJob', {
        workflowId: 'folder-input',
        taskQueue: refusingConfig.taskQueue,
        args: [{ input: folder, output: path.join(dir, 'folder-out.jsonl') }],
      });
      await assert.rejects(handle.result(), (err: WorkflowFailedError) => {
        const failure = err.cause?.cause as ApplicationFailure | undefined;
        return /is a folder/.test(String(failure?.message)) && failure?.nonRetryable === true;
      });
      const history = await handle.fetchHistory();
      const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).length;
      assert.equal(attempts, 1, 'one attempt: a folder does not become a file by retrying');
      assert.equal((await refusing.stats()).batches.created, 0);
    });

    it('empty, blank-only, header-only and all-invalid inputs fail with "nothing to submit", unless --allow-empty', async () => {
      const empty = path.join(dir, 'empty.jsonl');
      writeFileSync(empty, '');
      const blank = path.join(dir, 'blank.jsonl');
      writeFileSync(blank, '\n  \n\n');
      const header = path.join(dir, 'header.csv');
      writeFileSync(header, 'id,text\n');
      const bad = path.join(dir, 'all-bad.jsonl');
      writeFileSync(bad, '{"custom_id": "a b"}\nnot json\n');
      const cases: [string, string[], RegExp][] = [
        [empty, [], /has no requests/],
        [blank, [], /has no requests/],
        [header, ['--prompt', 'Summarize: {text}'], /has no requests/],
        [bad, ['--on-invalid', 'skip'], /all 2 line\(s\) of .* are invalid/],
      ];
      await Promise.all(
        cases.map(async ([file, flags, message]) => {
          const before = sha(file);
          const r = await cli(['run', file, '--out', `${file}.out.jsonl`, ...flags, ...FAST]);
          await assertRefused(r, message, path.basename(file));
          assert.equal(r.code, 2);
          assert.match(r.output, /--allow-empty/);
          assert.equal(sha(file), before);
        }),
      );
      const allowed = await cli(['run', empty, '--out', path.join(dir, 'empty-ok.jsonl'), '--allow-empty', ...FAST]);
      assert.equal(allowed.code, 0, allowed.output);
      assert.match(allowed.output, /completed: 0 result lines/);
      const estimate = await cli(['estimate', blank]);
      assert.equal(estimate.code, 1, estimate.output);
      assert.match(estimate.output, /^nothing to submit: .* has no requests/m);
    });

    it('a prompt without a placeholder is refused unless --constant-prompt', async () => {
      const items = path.join(dir, 'items.txt');
      writeFileSync(items, 'one\ntwo\n');
      const before = sha(items);
      const r = await cli(['run', items, '--out', path.join(dir, 'items.jsonl'), '--prompt', 'Say hi']);
      await assertRefused(r, /has no placeholder, so every request would be the same/, 'constant prompt');
      assert.match(r.output, /--constant-prompt/);
      assert.equal(sha(items), before);
      const est = await cli(['estimate', items, '--prompt', 'Say hi', '--constant-prompt']);
      assert.equal(est.code, 0, est.output);
      assert.match(est.output, /2 valid requests/);
    });

    it('a misspelt model is an invalid line found through the Models API, with a suggestion', async () => {
      const file = path.join(dir, 'misspelt.jsonl');
      const line = (i: number, model: string) =>
        JSON.stringify({ ...shortRequest(i, 'm'), params: { ...shortRequest(i).params, model } });
      writeFileSync(file, [line(0, 'claude-haiku-4.5'), line(1, 'claude-haiku-4-5')].join('\n') + '\n');
      const before = sha(file);
      const r = await cli(['run', file, '--out', path.join(dir, 'misspelt-out.jsonl'), '--yes', ...FAST]);
      await assertRefused(
        r,
        /line 1, params\.model: unknown model 'claude-haiku-4\.5'.*did you mean claude-haiku-4-5/,
        'model',
      );
      assert.match(r.output, /^hint: .*--on-invalid skip/m);
      assert.doesNotMatch(r.output, /"onInvalid"/, 'the CLI’s spelling, not the JSON one');
      const est = await cli(['estimate', file, '--model', 'claude-haiku-4-5']);
      assert.equal(est.code, 1, est.output);
      assert.match(est.output, /line 1, params\.model: unknown model/);
      assert.equal(sha(file), before);
    });

    it('a line nested 100,000 levels deep is an invalid line, not a job retried forever', async () => {
      const file = path.join(dir, 'deep.jsonl');
      const deep = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
      const nested = JSON.stringify(shortRequest(0, 'deep')).replace(
        '"max_tokens":8',
        `"max_tokens":8,"metadata":${deep}`,
      );
      writeFileSync(file, nested + '\n');
      const before = sha(file);
      const r = await cli(['run', file, '--out', path.join(dir, 'deep-out.jsonl'), ...FAST]);
      await assertRefused(r, /line 1, \(line\): JSON nested too deeply/, 'deep');
      assert.equal(sha(file), before);
    });

    it('a UTF-8 BOM and CRLF line ends are accepted', async () => {
      const file = path.join(dir, 'windows.jsonl');
      const lines = [0, 1].map((i) => JSON.stringify(shortRequest(i, 'bom')));
      writeFileSync(file, '\ufeff' + lines.join('\r\n') + '\r\n');
      const out = path.join(dir, 'windows-out.jsonl');
      const r = await cli(['run', file, '--out', out, ...FAST], 'running');
      assert.equal(r.code, 0, r.output);
      assert.deepEqual(
        readOutput(out)
          .map((l) => l.custom_id)
          .sort(),
        ['bom-0', 'bom-1'],
      );
    });

    it('run --yes --detach is approved in the workflow: a detached job above the threshold never waits', async () => {
      const src = input('detached.jsonl');
      const out = path.join(dir, 'detached-out.jsonl');
      const r = await cli(
        ['run', src, '--out', out, '--yes', '--detach', '--approve-above', '0', '--job-id', 'detached-yes', ...FAST],
        'running',
      );
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /approved up front/);
      const report = (await env.client.workflow.getHandle('detached-yes').result()) as { lines: number };
      assert.equal(report.lines, 3);
      const json = readReport(out);
      assert.equal(json.status, 'completed');
    });

    it('--on-invalid skip: the CLI, the report and `results --invalid` show which lines were skipped and why', async () => {
      const file = path.join(dir, 'some-bad.jsonl');
      writeFileSync(
        file,
        [
          JSON.stringify(shortRequest(0, 'sk')),
          '{"custom_id": "bad id!", "params": {}}',
          JSON.stringify(shortRequest(2, 'sk')),
        ].join('\n') + '\n',
      );
      const out = path.join(dir, 'some-bad-out.jsonl');
      const r = await cli(
        ['run', file, '--out', out, '--on-invalid', 'skip', '--job-id', 'skipper', ...FAST],
        'running',
      );
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /skipped line 2, custom_id: may contain only letters/);
      assert.match(r.output, /^ {4}every one: .* results skipper --invalid --out -$/m);
      const report: JobReport = readReport(out);
      assert.equal(report.requests.invalidLines, 1);
      assert.ok(report.requests.invalidFirst!.some((p) => p.line === 2 && p.field === 'params.model'));
      const md = readFileSync(out.replace(/\.jsonl$/, '.report.md'), 'utf8');
      assert.match(md, /## Skipped lines[\s\S]*\| 2 \| bad id! \| custom_id \| may contain only letters/);
      const listed = await cli(['results', 'skipper', '--invalid', '--out', '-'], 'running');
      assert.equal(listed.code, 0, listed.output);
      const problems = listed.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { line: number; field: string });
      assert.ok(problems.length >= 3 && problems.every((p) => p.line === 2), listed.stdout);
    });

    it('plain progress: lines in the order things happened, one every ≤ 10 s while waiting, expiry on the API clock', async () => {
      const src = input('slow.jsonl', 2);
      const r = await cli(['run', src, '--out', path.join(dir, 'slow-out.jsonl'), ...FAST], 'slow');
      assert.equal(r.code, 0, r.output);
      const lines = r.stdout.split('\n').filter((l) => /^\[\s*[\dhms ]+\] /.test(l));
      const seconds = (l: string) => {
        const [, m, s] = /^\[\s*(?:(\d+)m )?(\d+)s\]/.exec(l)!;
        return Number(m ?? 0) * 60 + Number(s);
      };
      for (let i = 1; i < lines.length; i++)
        assert.ok(seconds(lines[i]!) - seconds(lines[i - 1]!) <= 11, `a silence before\n${lines[i]}\nin\n${r.stdout}`);
      assert.ok(seconds(lines.at(-1)!) >= 20, 'the batch took its time');
      const order = ['] validating', 'requests in 1 batch(es)', '] estimate $', '] running', 'done 2/2', '] completed'];
      // (A phase shorter than the 1 s between status queries, such as estimating here, may not get a line.)
      const at = order.map((text) => lines.findIndex((l) => l.includes(text)));
      assert.ok(
        at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1]!)),
        `in order ${JSON.stringify(at)}:\n${r.stdout}`,
      );
      const waiting = lines.filter((l) => l.includes('still running'));
      assert.ok(waiting.length >= 1, r.stdout);
      // The emulator's clock runs 600× fast: its batch expires within a day of *its* time, not "in 28h".
      const expiry = waiting.map((l) => /on the API's clock \(in (\d+)h/.exec(l)).find(Boolean);
      assert.ok(expiry && Number(expiry[1]) < 24, r.stdout);
    });

    it('estimate --help lists only the flags that shape and price requests (the real binary)', async () => {
      const r = await cli(['estimate', '--help']);
      assert.equal(r.code, 0, r.output);
      for (const flag of ['--format', '--prompt', '--model', '--chunk-size', '--approve-above'])
        assert.match(r.output, new RegExp(`${flag}\\b`), flag);
      for (const flag of ['--poll-initial', '--webhook', '--max-rounds', '--on-invalid', '--yes', '--overwrite'])
        assert.doesNotMatch(r.output, new RegExp(`${flag}\\b`), flag);
    });

    it("the README's quickstart inputs exist and are valid (estimated, as the README's commands shape them)", async () => {
      const [tickets, reviews, contracts] = await Promise.all([
        cli(['estimate', path.join(quickstart, 'tickets.jsonl')]),
        cli([
          'estimate',
          path.join(quickstart, 'reviews.txt'),
          '--prompt',
          'Sentiment, answer with one of: positive, negative, neutral: {item}',
          '--max-tokens',
          '5',
        ]),
        cli([
          'estimate',
          path.join(quickstart, 'contracts.csv'),
          '--column',
          'body',
          '--id-column',
          'contract_id',
          '--system-file',
          path.join(quickstart, 'extract-instructions.md'),
          '--prompt',
          'Extract the parties and the term from: {item}',
        ]),
      ]);
      for (const [r, n] of [
        [tickets, 5],
        [reviews, 4],
        [contracts, 2],
      ] as const) {
        assert.equal(r.code, 0, r.output);
        assert.match(r.output, new RegExp(`${n} valid requests`));
      }
      assert.equal((await refusing.stats()).batches.created, 0, 'an estimate submits nothing');
    });

    it('schedule create checks its files on a worker: outside the roots or missing is refused, nothing scheduled', async () => {
      const src = input('nightly.jsonl');
      const before = sha(src);
      const cases: [string[], RegExp][] = [
        [['--input', src, '--output', path.join(outside, 'r-{date}.jsonl')], /outside the worker's allowed roots/],
        [['--input', path.join(dir, 'missing.jsonl'), '--output', path.join(dir, 'r-{date}.jsonl')], /does not exist/],
        [['--input', src, '--output', src], /is the input file/],
      ];
      for (const [i, [flags, message]] of cases.entries()) {
        const r = await cli(['schedule', 'create', `bad-${i}`, '--cron', '0 2 * * *', ...flags]);
        await assertRefused(r, message, flags.join(' '));
        const listed = await cli(['schedule', 'describe', `bad-${i}`]);
        assert.match(listed.output, /no schedule/);
      }
      assert.equal(sha(src), before);
    });
  },
);
