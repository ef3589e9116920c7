import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { packageRoot } from '../../config/load.js';
import { commandName } from '../../client/command-name.js';
import { temporalCli } from '../../client/provision/temporal-binaries.js';
import type { WorkerConfig } from '../../worker/config.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { jobDir, writeJobInput } from '../helpers/jobs.js';
import { CLI, runCli, spawnCli } from '../helpers/processes.js';
import { cliEnvFor, runTestWorker, startDevServer, testWorkerConfig } from '../helpers/temporal.js';

const NO_STACK = /^\s+at /m;

/** A user error: exit 2, one `error:` line, one `hint:` line, no stack trace. */
function assertUserError(r: { code: number | null; output: string }, what: string): void {
  assert.equal(r.code, 2, `${what}: exit 2\n${r.output}`);
  assert.equal(r.output.match(/^error: /gm)?.length, 1, `${what}: one error line\n${r.output}`);
  assert.equal(r.output.match(/^hint: \S/gm)?.length, 1, `${what}: one hint\n${r.output}`);
  assert.doesNotMatch(r.output, NO_STACK, `${what}: no stack trace\n${r.output}`);
}

/** A port held by this process until `close()`. */
async function busyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('claude-batch hints and edges (the real binary)', { concurrency: true }, () => {
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
    // No API key and no base URL: what a user of the dev stack has.
    cliEnv = { ...cliEnvFor(env, config.taskQueue), ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: '' };
  });
  after(async () => {
    await worker?.stop();
    await em?.close();
    await env?.teardown();
  });

  it('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, r.output);
      assert.equal(r.output, `${version}\n`);
    }
  });

  it('results --out - into a pipe closed early (`| head -1`) ends quietly with exit 0', async () => {
    // Enough lines that the results outgrow the pipe's buffer: the CLI is still writing when the reader is gone.
    const input = writeJobInput(dir, 1500, 'pipe', 'pipe.jsonl');
    await env.client.workflow.execute('batchJob', {
      taskQueue: config.taskQueue,
      workflowId: 'pipe-1',
      args: [{ input, output: path.join(dir, 'pipe-results.jsonl'), poll: { initial: '1s', max: '1s' } }],
    });
    const p = spawnCli(['results', 'pipe-1', '--out', '-'], cliEnv);
    let stderr = '';
    p.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const first = await new Promise<string>((resolve) => {
      let got = '';
      const stdout = p.child.stdout!;
      stdout.on('data', (d: Buffer) => {
        got += d.toString();
        const nl = got.indexOf('\n');
        if (nl >= 0) {
          stdout.destroy(); // what `head -1` does after its line
          resolve(got.slice(0, nl));
        }
      });
    });
    assert.match(first, /^\{"custom_id":"pipe-\d+"/);
    const code = await p.exited;
    assert.equal(stderr, '', 'nothing on stderr');
    assert.equal(code, 0);
  });

  it('hints say the command as the user runs it: CLAUDE_BATCH_COMMAND, npx, the bin, node <path>', async () => {
    // The bin through a link named like npm's, as `npx claude-batch` or the installed bin runs it.
    const bin = path.join(mkdtempSync(path.join(tmpdir(), 'cb-bin-')), 'claude-batch');
    symlinkSync(CLI, bin);
    const viaLink = (extra: NodeJS.ProcessEnv) =>
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, [bin, 'status', 'no-such-job'], {
          env: {
            ...process.env,
            ...cliEnv,
            CLAUDE_BATCH_COMMAND: '',
            npm_command: '',
            npm_lifecycle_event: '',
            ...extra,
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.once('close', () => resolve(err));
      });
    const [override, npx, installed, node] = await Promise.all([
      runCli(['status', 'no-such-job'], { ...cliEnv, CLAUDE_BATCH_COMMAND: 'my-wrapper' }),
      // What npm 11 sets for `npx …` and `npm exec …`.
      viaLink({ npm_command: 'exec', npm_lifecycle_event: 'npx' }),
      viaLink({}),
      runCli(['status', 'no-such-job'], { ...cliEnv, CLAUDE_BATCH_COMMAND: '' }),
    ]);
    assertUserError(override, 'no such job');
    assert.match(override.output, /^hint: `my-wrapper list` shows recent jobs$/m);
    assert.match(npx, /^hint: `npx claude-batch list` shows recent jobs$/m);
    assert.match(installed, /^hint: `claude-batch list` shows recent jobs$/m);
    const shown = path.relative(process.cwd(), CLI);
    assert.ok(node.output.includes(`hint: \`node ${shown.length < CLI.length ? shown : CLI} list\``), node.output);

    // The same rules, without a process: a bin path inside node_modules (Windows' shims) is the installed bin too.
    const none = { CLAUDE_BATCH_COMMAND: '' };
    assert.equal(commandName({ CLAUDE_BATCH_COMMAND: ' x y ' }, ['node', CLI]), 'x y');
    assert.equal(
      commandName({ ...none, npm_command: 'exec', npm_lifecycle_event: 'npx' }, [
        'node',
        '/p/node_modules/.bin/claude-batch',
      ]),
      'npx claude-batch',
    );
    assert.equal(
      commandName({ ...none, npm_command: 'exec', npm_lifecycle_event: 'npx' }, [
        'node',
        'C:\\p\\node_modules\\claude-batch\\dist\\client\\cli.js',
      ]),
      'npx claude-batch',
    );
    assert.equal(
      commandName({ ...none, npm_command: 'run-script' }, ['node', '/usr/local/bin/claude-batch']),
      'claude-batch',
    );
    // A checkout's cli.js run by a tool that npx started is still `node …`, not `npx claude-batch`.
    assert.match(
      commandName({ ...none, npm_command: 'exec', npm_lifecycle_event: 'npx' }, ['node', CLI]),
      /^node \S+cli\.js$/,
    );
  });

  it('a bad list --query shows the server’s reason and a query hint, not TEMPORAL_ADDRESS', async () => {
    const [syntax, attribute] = await Promise.all([
      runCli(['list', '--query', 'BatchJobStatus = '], cliEnv),
      runCli(['list', '--query', "NoSuchAttribute = 'x'"], cliEnv),
    ]);
    for (const [r, what] of [
      [syntax, 'syntax'],
      [attribute, 'attribute'],
    ] as const) {
      assertUserError(r, what);
      assert.match(r.output, /^error: the Temporal server refused --query ".*": invalid query/m, what);
      assert.match(r.output, /^hint: --query takes a Temporal visibility query/m, what);
      assert.doesNotMatch(r.output, /TEMPORAL_ADDRESS/, what);
    }
    assert.match(syntax.output, /syntax error/);
    assert.match(attribute.output, /NoSuchAttribute/);
  });

  it('a missing namespace is named as such, with a hint about TEMPORAL_NAMESPACE', async () => {
    const r = await runCli(['list'], { ...cliEnv, TEMPORAL_NAMESPACE: 'no-such-namespace' });
    assertUserError(r, 'namespace');
    assert.match(r.output, /^error: the Temporal server has no namespace 'no-such-namespace'$/m);
    assert.match(r.output, /^hint: set TEMPORAL_NAMESPACE/m);
  });

  it('a busy port: the hint names the flags of the command that ran', async () => {
    const busy = await busyPort();
    try {
      const [emulator, devTemporal, devEmulator] = await Promise.all([
        runCli(['emulator', '--port', String(busy.port), '--data-dir', path.join(dir, 'em')]),
        runCli(['dev', '--temporal-port', String(busy.port), '--data-dir', path.join(dir, 'dev')], {
          CLAUDE_BATCH_COMMAND: 'claude-batch',
        }),
        runCli(['dev', '--temporal-port', '0', '--ui-port', '0', '--emulator-port', String(busy.port)], {
          ANTHROPIC_API_KEY: '',
          CLAUDE_BATCH_COMMAND: 'claude-batch',
        }),
      ]);
      assertUserError(emulator, 'emulator');
      assert.match(emulator.output, new RegExp(`^error: .*EADDRINUSE.*:${busy.port}$`, 'm'));
      assert.match(emulator.output, /^hint: another process uses that port; choose another with --port/m);

      assertUserError(devTemporal, 'dev --temporal-port');
      assert.match(devTemporal.output, new RegExp(`^error: port ${busy.port} \\(Temporal gRPC\\) is in use$`, 'm'));
      assert.match(
        devTemporal.output,
        /^hint: .*another `claude-batch dev`.*choose another port with --temporal-port$/m,
      );
      assertUserError(devEmulator, 'dev --emulator-port');
      assert.match(devEmulator.output, /^hint: .*choose another port with --emulator-port$/m);
      for (const r of [devTemporal, devEmulator]) assert.doesNotMatch(r.output, /--port\b/);
    } finally {
      await busy.close();
    }
  });

  it('doctor passes against a dev server, the emulator and a worker, with no API key and no test server', async () => {
    const r = await runCli(['doctor', '--emulator-url', em.url], {
      ...cliEnv,
      // The test server hidden (an empty cache), the CLI still found where it is.
      CLAUDE_BATCH_CACHE_DIR: mkdtempSync(path.join(tmpdir(), 'cb-cache-')),
      TEMPORAL_CLI_PATH: temporalCli({ install: false }).path,
      TEMPORAL_TEST_SERVER_PATH: '',
    });
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, /^FAIL/m);
    assert.match(r.output, /^note {2}Temporal test server\s+not installed .*only the test suite uses it/m);
    assert.match(r.output, /^ok {4}Temporal server\s+/m);
    assert.match(r.output, new RegExp(`^ok {4}Worker\\s+task queue ${config.taskQueue}: polled by `, 'm'));
    assert.match(
      r.output,
      new RegExp(
        `^ok {4}Anthropic API\\s+the dev stack's emulator answers at ${em.url}; the dev worker needs no key`,
        'm',
      ),
    );

    // A task queue nobody polls is a failure, with the way to start a worker.
    const idle = await runCli(['doctor', '--emulator-url', em.url], {
      ...cliEnv,
      CLAUDE_BATCH_TASK_QUEUE: 'nobody-polls-this',
      CLAUDE_BATCH_COMMAND: 'claude-batch',
    });
    assert.equal(idle.code, 1, idle.output);
    assert.match(idle.output, /^FAIL {2}Worker\s+no worker polls task queue nobody-polls-this.*`claude-batch worker`/m);
  });

  it('a paused schedule shows no next run in list and describe', async () => {
    await env.client.schedule.create({
      scheduleId: 'paused-hints',
      spec: { cronExpressions: ['0 2 * * *'] },
      action: {
        type: 'startWorkflow',
        workflowType: 'batchJob',
        workflowId: 'paused-hints',
        taskQueue: config.taskQueue,
        args: [{ input: path.join(dir, 'never.jsonl'), output: path.join(dir, 'never-out.jsonl') }],
      },
      state: { paused: true },
      memo: { cron: '0 2 * * *' },
    });
    const env2 = { ...cliEnv, CLAUDE_BATCH_COMMAND: 'claude-batch' };
    const [list, listJson, shown, shownJson] = await Promise.all([
      runCli(['schedule', 'list'], env2),
      runCli(['schedule', 'list', '--json'], env2),
      runCli(['schedule', 'describe', 'paused-hints'], env2),
      runCli(['schedule', 'describe', 'paused-hints', '--json'], env2),
    ]);
    for (const r of [list, listJson, shown, shownJson]) assert.equal(r.code, 0, r.output);
    assert.match(list.output, /^paused-hints {2}"0 2 \* \* \*" {2}paused {2}no next run {2}last job —$/m);
    assert.match(shown.output, /^ {2}next: paused; `claude-batch schedule unpause paused-hints` resumes it$/m);
    for (const r of [list, shown]) assert.doesNotMatch(r.output, /next:? \d{4}-/);
    const row = (JSON.parse(listJson.output) as { name: string; nextRun: string | null }[]).find(
      (s) => s.name === 'paused-hints',
    );
    assert.equal(row?.nextRun, null);
    assert.deepEqual((JSON.parse(shownJson.output) as { nextRuns: string[] }).nextRuns, []);
    await env.client.schedule.getHandle('paused-hints').delete();
  });
});
