import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { startEmulator } from '../../emulator/server.js';
import type { FaultsInput } from '../../emulator/faults.js';
import type { EmulatorOptionsInput } from '../../emulator/options.js';
import { UserError } from '../cli-errors.js';
import { collect, durationMs, nonNegativeInt, port, positiveInt, positiveNumber, rate } from '../parse-options.js';

const ERROR_TYPES = ['overloaded_error', 'api_error', 'invalid_request_error'] as const;

function errorRate(value: string): [string, number] {
  const [type, r] = value.split('=');
  if (!type || !ERROR_TYPES.includes(type as (typeof ERROR_TYPES)[number]) || r === undefined)
    throw new InvalidArgumentError(`expected TYPE=RATE with TYPE one of ${ERROR_TYPES.join(', ')}`);
  return [type, rate(r)];
}

function workspaceOfKey(value: string): [string, string] {
  const at = value.lastIndexOf('=');
  if (at <= 0 || at === value.length - 1) throw new InvalidArgumentError('expected KEY=WORKSPACE');
  return [value.slice(0, at), value.slice(at + 1)];
}

interface EmulatorFlags {
  port: number;
  host: string;
  dataDir: string;
  timeScale: number;
  faults?: string;
  apiKey: string[];
  publicUrl?: string;
  baseLatency?: number;
  perRequest?: number;
  spread?: number;
  cancelLatency?: number;
  incrementalCounts?: boolean;
  maxRequests?: number;
  maxBytes?: number;
  errorRate: [string, number][];
  expireRate?: number;
  queueLimit?: number;
  rpm?: number;
  loseCreateResponses?: number;
  resultsCutoff?: number;
  listLag?: number;
  shuffleResults?: boolean;
  foreignClient?: true | number;
  workspace?: [string, string][];
  log?: boolean;
}

function readFaultsFile(file: string): FaultsInput {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as FaultsInput;
  } catch (err) {
    throw new UserError(
      `cannot read the faults file ${file}: ${(err as Error).message}`,
      'pass a JSON file, see docs/emulator.md',
    );
  }
}

export function emulatorOptionsFrom(flags: EmulatorFlags): EmulatorOptionsInput {
  const faults: Record<string, unknown> = flags.faults ? { ...readFaultsFile(flags.faults) } : {};
  const outcomes: Record<string, number> = { ...((faults.outcomes as Record<string, number>) ?? {}) };
  for (const [type, r] of flags.errorRate) outcomes[type] = r;
  if (flags.expireRate !== undefined) outcomes.expired = flags.expireRate;
  faults.outcomes = outcomes;
  if (flags.queueLimit !== undefined) faults.queueLimit = flags.queueLimit;
  if (flags.rpm !== undefined) faults.rpm = flags.rpm;
  if (flags.loseCreateResponses !== undefined) faults.createResponseLost = flags.loseCreateResponses;
  if (flags.resultsCutoff !== undefined) faults.resultsCutoff = { afterLines: flags.resultsCutoff };
  if (flags.listLag !== undefined) faults.listLagMs = Math.round(flags.listLag);
  if (flags.shuffleResults) faults.shuffleResults = true;
  if (flags.foreignClient !== undefined)
    faults.foreignClient = {
      ...((faults.foreignClient as Record<string, unknown> | undefined) ?? {}),
      ...(flags.foreignClient === true ? {} : { everyCreates: flags.foreignClient }),
    };
  if (flags.workspace && flags.workspace.length > 0)
    faults.workspaces = {
      ...((faults.workspaces as Record<string, string> | undefined) ?? {}),
      ...Object.fromEntries(flags.workspace),
    };
  const processing: Record<string, number> = {};
  if (flags.baseLatency !== undefined) processing.baseLatencyMs = flags.baseLatency;
  if (flags.perRequest !== undefined) processing.perRequestMs = flags.perRequest;
  if (flags.spread !== undefined) processing.spread = flags.spread;
  if (flags.cancelLatency !== undefined) processing.cancelLatencyMs = flags.cancelLatency;
  return {
    port: flags.port,
    host: flags.host,
    dataDir: path.resolve(flags.dataDir),
    timeScale: flags.timeScale,
    apiKeys: flags.apiKey,
    ...(flags.publicUrl ? { publicUrl: flags.publicUrl } : {}),
    ...(flags.maxRequests ? { maxRequestsPerBatch: flags.maxRequests } : {}),
    ...(flags.maxBytes ? { maxBatchBytes: flags.maxBytes } : {}),
    processing,
    incrementalCounts: flags.incrementalCounts ?? false,
    faults: faults as FaultsInput,
    logRequests: flags.log ?? false,
  };
}

export function emulatorCommand(): Command {
  return new Command('emulator')
    .description('Run the local emulator of the Anthropic Message Batches API (same HTTP protocol, no cost)')
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', port, 4010)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('-d, --data-dir <dir>', 'where batches, results and the billing ledger are kept', '.data/emulator')
    .option('--time-scale <n>', 'virtual seconds per real second (3600 = one hour per second)', positiveNumber, 1)
    .option('--faults <file.json>', 'fault-injection configuration (see docs/emulator.md)')
    .option('--api-key <key>', 'accept only this API key (repeatable); default: any key', collect(String), [])
    .option('--public-url <url>', 'base of results_url (default: from the Host header)')
    .option('--base-latency <duration>', 'processing: fixed latency of a batch (default 60s)', durationMs)
    .option('--per-request <duration>', 'processing: time per request (default 20ms)', durationMs)
    .option('--spread <fraction>', 'processing: random spread of a batch duration, 0–1 (default 0.25)', rate)
    .option('--cancel-latency <duration>', 'processing: time from cancel to ended (default 5s)', durationMs)
    .option('--incremental-counts', 'move request_counts while a batch runs (the real API does not)')
    .option('--max-requests <n>', 'requests per batch (default 100000)', nonNegativeInt)
    .option('--max-bytes <n>', 'bytes per create body (default 256000000)', nonNegativeInt)
    .option(
      '--error-rate <type=rate>',
      'share of requests that end errored, e.g. overloaded_error=0.05 (repeatable)',
      collect(errorRate),
      [],
    )
    .option('--expire-rate <rate>', 'share of requests that never finish and expire', rate)
    .option('--queue-limit <n>', 'org-wide limit of requests waiting to be processed (429 above)', nonNegativeInt)
    .option('--rpm <n>', 'requests per minute per API key (429 above)', nonNegativeInt)
    .option('--lose-create-responses <n>', 'the next N creates succeed but their response is lost', nonNegativeInt)
    .option('--results-cutoff <lines>', 'cut the next results stream after this many lines', nonNegativeInt)
    .option('--list-lag <duration>', 'a batch is missing from list for this long after its create', durationMs)
    .option('--shuffle-results', 'every results download returns the lines in a different order')
    .option(
      '--foreign-client [every]',
      'another tool on the workspace creates a batch of the same size after every N of our creates (default 1)',
      positiveInt,
    )
    .option(
      '--workspace <key=workspace>',
      'put this API key (or its key_… id) in a workspace; batches are visible only within theirs (repeatable)',
      collect(workspaceOfKey),
      [],
    )
    .option('--log', 'log every request')
    .action(async (flags: EmulatorFlags) => {
      const emulator = await startEmulator(emulatorOptionsFrom(flags));
      const { options } = emulator.context;
      console.log(`Anthropic Message Batches API emulator listening on ${emulator.url}`);
      console.log(`  data dir: ${options.dataDir}   time scale: ${options.timeScale}x`);
      console.log(`  use it with: ANTHROPIC_BASE_URL=${emulator.url}`);
      const stop = () => {
        void emulator.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
