import Anthropic, { AuthenticationError, APIError, APIConnectionError } from '@anthropic-ai/sdk';
import { Connection } from '@temporalio/client';
import { Command } from 'commander';
import { createSearchAttributesCommand, missingSearchAttributes } from '../../worker/search-attribute-check.js';
import { temporalSettings } from '../connection.js';
import { ProvisionError } from '../provision/python-venv.js';
import { cliVersion, temporalCli, testServer } from '../provision/temporal-binaries.js';

type Check = { name: string; ok: boolean; detail: string };

function binaries(): Check[] {
  const checks: Check[] = [];
  for (const [name, find, version] of [
    ['Temporal CLI (dev server)', () => temporalCli({ install: false }), (p: string) => cliVersion(p)],
    ['Temporal test server', () => testServer({ install: false }), () => 'time-skipping'],
  ] as const) {
    try {
      const b = find();
      checks.push({ name, ok: true, detail: `${b.path} (${b.source}; ${version(b.path)})` });
    } catch (err) {
      const tried = err instanceof ProvisionError ? err.attempts.map((a) => a.source).join(', ') : String(err);
      checks.push({
        name,
        ok: false,
        detail: `not installed (looked at: ${tried}); \`npm run provision\` or \`claude-batch dev\` installs it`,
      });
    }
  }
  return checks;
}

async function temporalServer(): Promise<Check> {
  const { connectionOptions, namespace } = temporalSettings();
  const where = `${connectionOptions.address} (namespace ${namespace})`;
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: '3s' } as Parameters<
      typeof Connection.connect
    >[0]);
    const info = await connection.workflowService.getSystemInfo({});
    const missing = await missingSearchAttributes(connection, namespace);
    const version = info.serverVersion ? `server ${info.serverVersion}` : 'server answers';
    if (missing.length > 0)
      return {
        name: 'Temporal server',
        ok: false,
        detail: `${where}: ${version}, but search attributes are missing — ${createSearchAttributesCommand(namespace, missing)}`,
      };
    return { name: 'Temporal server', ok: true, detail: `${where}: ${version}, search attributes registered` };
  } catch (err) {
    return {
      name: 'Temporal server',
      ok: false,
      detail: `${where}: unreachable (${String(err).split('\n')[0]}); start one with \`claude-batch dev\``,
    };
  } finally {
    await connection?.close();
  }
}

async function anthropicEndpoint(): Promise<Check> {
  const base = process.env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com';
  const name = 'Anthropic API';
  if (!process.env.ANTHROPIC_API_KEY) return { name, ok: false, detail: `${base}: ANTHROPIC_API_KEY is not set` };
  const client = new Anthropic({ apiKey: process.env.ANTHROPIC_API_KEY, baseURL: base, maxRetries: 0, timeout: 5000 });
  try {
    await client.messages.batches.list({ limit: 1 });
    return { name, ok: true, detail: `${base}: answers, API key accepted` };
  } catch (err) {
    if (err instanceof AuthenticationError)
      return { name, ok: false, detail: `${base}: answers, but rejects the API key (401)` };
    if (err instanceof APIConnectionError) return { name, ok: false, detail: `${base}: unreachable (${err.message})` };
    if (err instanceof APIError) return { name, ok: false, detail: `${base}: answers ${err.status} (${err.message})` };
    throw err;
  }
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description(
      'Show where the Temporal binaries are and their versions, and whether the Temporal server and the Anthropic endpoint answer',
    )
    .action(async () => {
      const checks = [...binaries(), await temporalServer(), await anthropicEndpoint()];
      const width = Math.max(...checks.map((c) => c.name.length));
      for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`);
      process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
    });
}
