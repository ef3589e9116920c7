import Anthropic, { AuthenticationError, APIError, APIConnectionError } from '@anthropic-ai/sdk';
import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { DEFAULT_TASK_QUEUE } from '../../shared/task-queue.js';
import { createSearchAttributesCommand, missingSearchAttributes } from '../../worker/search-attribute-check.js';
import { GRPC, grpcAnswer } from '../cli-errors.js';
import { commandName } from '../command-name.js';
import { temporalSettings } from '../connection.js';
import { taskQueuePollers } from '../jobs.js';
import { ProvisionError } from '../provision/python-venv.js';
import { cliVersion, temporalCli, testServer } from '../provision/temporal-binaries.js';

/** `note`: worth knowing, never a failure (e.g. the test server, which only the test suite uses). */
type Check = { name: string; state: 'ok' | 'FAIL' | 'note'; detail: string };

/** Where `claude-batch dev` serves its emulator unless --emulator-port says otherwise. */
const DEV_EMULATOR_URL = 'http://127.0.0.1:4010';

function binaries(): Check[] {
  const cmd = commandName();
  const checks: Check[] = [];
  for (const [name, find, version, required, installs] of [
    [
      'Temporal CLI (dev server)',
      () => temporalCli({ install: false }),
      (p: string) => cliVersion(p),
      true,
      `\`${cmd} dev\` installs it (or \`npm run provision\` in a checkout)`,
    ],
    [
      'Temporal test server',
      () => testServer({ install: false }),
      () => 'time-skipping',
      false,
      'only the test suite uses it; `npm run provision` in a checkout installs it',
    ],
  ] as const) {
    try {
      const b = find();
      checks.push({ name, state: 'ok', detail: `${b.path} (${b.source}; ${version(b.path)})` });
    } catch (err) {
      const tried = err instanceof ProvisionError ? err.attempts.map((a) => a.source).join(', ') : String(err);
      checks.push({
        name,
        state: required ? 'FAIL' : 'note',
        detail: `not installed (looked at: ${tried}); ${installs}`,
      });
    }
  }
  return checks;
}

/** The server check, and the connection for the checks that need one (null when the server did not answer). */
async function temporalServer(): Promise<{ check: Check; connection: Connection | null; namespace: string }> {
  const { connectionOptions, namespace } = temporalSettings();
  const where = `${connectionOptions.address} (namespace ${namespace})`;
  const name = 'Temporal server';
  let connection: Connection | null = null;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: '3s' } as Parameters<
      typeof Connection.connect
    >[0]);
    const info = await connection.workflowService.getSystemInfo({});
    const missing = await missingSearchAttributes(connection, namespace);
    const version = info.serverVersion ? `server ${info.serverVersion}` : 'server answers';
    if (missing.length > 0)
      return {
        check: {
          name,
          state: 'FAIL',
          detail: `${where}: ${version}, but search attributes are missing — ${createSearchAttributesCommand(namespace, missing)}`,
        },
        connection,
        namespace,
      };
    return {
      check: { name, state: 'ok', detail: `${where}: ${version}, search attributes registered` },
      connection,
      namespace,
    };
  } catch (err) {
    await connection?.close();
    const answer = grpcAnswer(err);
    // A server that answered with a refusal (no such namespace, no permission) is reachable: say what it said.
    const answered = answer && answer.code !== GRPC.UNAVAILABLE && answer.code !== GRPC.DEADLINE_EXCEEDED;
    const detail = answered
      ? `${where}: answers, but refuses: ${answer.details}`
      : `${where}: unreachable (${String(err).split('\n')[0]}); start one with \`${commandName()} dev\``;
    return { check: { name, state: 'FAIL', detail }, connection: null, namespace };
  }
}

async function worker(connection: Connection | null, namespace: string, taskQueue: string): Promise<Check> {
  const name = 'Worker';
  if (!connection)
    return { name, state: 'note', detail: `task queue ${taskQueue}: not checked (the Temporal server check failed)` };
  const cmd = commandName();
  try {
    const pollers = await taskQueuePollers(new Client({ connection, namespace }), taskQueue);
    if (pollers.length === 0)
      return {
        name,
        state: 'FAIL',
        detail: `no worker polls task queue ${taskQueue}, so jobs would wait; start one with \`${cmd} worker\` (or \`${cmd} dev\`), or set CLAUDE_BATCH_TASK_QUEUE to the queue yours serves`,
      };
    return { name, state: 'ok', detail: `task queue ${taskQueue}: polled by ${[...new Set(pollers)].join(', ')}` };
  } catch (err) {
    return { name, state: 'FAIL', detail: `task queue ${taskQueue}: cannot ask the server (${String(err)})` };
  }
}

async function anthropicApi(key: string, base: string): Promise<Check> {
  const name = 'Anthropic API';
  const client = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0, timeout: 5000 });
  try {
    await client.messages.batches.list({ limit: 1 });
    return { name, state: 'ok', detail: `${base}: answers, API key accepted` };
  } catch (err) {
    if (err instanceof AuthenticationError)
      return { name, state: 'FAIL', detail: `${base}: answers, but rejects the API key (401)` };
    if (err instanceof APIConnectionError)
      return { name, state: 'FAIL', detail: `${base}: unreachable (${err.message})` };
    if (err instanceof APIError)
      return { name, state: 'FAIL', detail: `${base}: answers ${err.status} (${err.message})` };
    throw err;
  }
}

/**
 * Without a key, the dev stack is the only way jobs can run: `claude-batch dev` then serves its emulator and gives
 * its worker a key of its own. So the question is whether that emulator answers.
 */
async function devEmulator(url: string): Promise<Check> {
  const name = 'Anthropic API';
  const cmd = commandName();
  const base = url.replace(/\/+$/, '');
  const answers = await fetch(`${base}/_emulator/health`, { signal: AbortSignal.timeout(3000) }).then(
    async (r) => r.ok && ((await r.json()) as { ok?: unknown }).ok === true,
    () => false,
  );
  if (answers)
    return {
      name,
      state: 'ok',
      detail: `the dev stack's emulator answers at ${base}; the dev worker needs no key (ANTHROPIC_API_KEY is not set; a separate \`${cmd} worker\` takes any key with ANTHROPIC_BASE_URL=${base})`,
    };
  return {
    name,
    state: 'FAIL',
    detail: `ANTHROPIC_API_KEY is not set, and no emulator answers at ${base}; set ANTHROPIC_API_KEY for the real API, or start the dev stack (\`${cmd} dev\`, whose emulator needs no key)`,
  };
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description(
      'Check the setup: the Temporal binaries, the Temporal server, a worker on the task queue, and the Anthropic API (or, without ANTHROPIC_API_KEY, the emulator of the dev stack)',
    )
    .option(
      '--emulator-url <url>',
      `the emulator to check when ANTHROPIC_API_KEY is not set (default: ANTHROPIC_BASE_URL, else ${DEV_EMULATOR_URL}, where \`dev\` serves it)`,
    )
    .option(
      '--task-queue <name>',
      'task queue a worker should poll',
      process.env.CLAUDE_BATCH_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    )
    .action(async (o: { emulatorUrl?: string; taskQueue: string }) => {
      const key = process.env.ANTHROPIC_API_KEY;
      const base = process.env.ANTHROPIC_BASE_URL || undefined;
      const server = await temporalServer();
      const checks: Check[] = [
        ...binaries(),
        server.check,
        await worker(server.connection, server.namespace, o.taskQueue),
        key
          ? await anthropicApi(key, base ?? 'https://api.anthropic.com')
          : await devEmulator(o.emulatorUrl ?? base ?? DEV_EMULATOR_URL),
      ];
      await server.connection?.close();
      const width = Math.max(...checks.map((c) => c.name.length));
      for (const c of checks) console.log(`${c.state.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
      process.exitCode = checks.some((c) => c.state === 'FAIL') ? 1 : 0;
    });
}
