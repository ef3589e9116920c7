import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseJobInput, uriScheme, type JobInputRaw } from '../shared/job-input.js';
import { toMs } from '../shared/duration.js';
import type { UserPrice } from '../shared/pricing.js';
import { DEFAULT_TASK_QUEUE } from '../shared/task-queue.js';
import { placeholders, resolveFormat } from '../shared/request-template.js';
import { UserError } from './cli-errors.js';
import { nonNegative, nonNegativeInt, positiveInt, positiveNumber, rate } from './parse-options.js';

const DEFAULT_POLL_INITIAL = '30s';

/** The flags that shape a job, shared by `run`, `estimate` and `schedule create`. */
export interface JobFlags {
  format?: 'auto' | 'batch' | 'lines' | 'csv';
  prompt?: string;
  model?: string;
  maxTokens?: number;
  system?: string;
  systemFile?: string;
  cacheSystem: boolean;
  column?: string;
  idColumn?: string;
  chunkSize?: number;
  approveAbove?: number;
  approvalTimeout?: string;
  onInvalid?: 'reject' | 'skip';
  maxRounds?: number;
  maxQueued?: number;
  pollInitial?: string;
  pollMax?: string;
  expiryWarning?: string;
  outputRatio?: number;
  webhook?: string;
  taskQueue: string;
  constantPrompt?: boolean;
  /** `--price model=input,output[,5m write,1h write,cache read]`, repeatable. */
  price?: Record<string, UserPrice>;
  /** `--beta <name>`, repeatable: anthropic-beta values of every batch create. */
  beta?: string[];
  /** `--budget <usd>`: the job's hard cap. */
  budget?: number;
  /** `--no-pilot` makes this false. */
  pilot?: boolean;
  /** `--no-early-create` makes this false. */
  earlyCreate?: boolean;
  pilotSize?: number;
  deadline?: string;
  deadlineMargin?: string;
  syncConcurrency?: number;
  /** Run-only flags (absent for `estimate`). */
  yes?: boolean;
  overwrite?: boolean;
  allowEmpty?: boolean;
}

/** Flags that say what the requests are: every command that reads an input (`run`, `estimate`, `schedule create`). */
export function addRequestOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--format <format>', 'input format: Anthropic batch JSONL, one item per line, or CSV')
        .choices(['auto', 'batch', 'lines', 'csv'])
        .default('auto', 'by extension: .csv, .txt → lines, else batch JSONL'),
    )
    .option('--prompt <template>', 'lines/CSV: the user message, with {item} and {<csv column>} placeholders')
    .option('--constant-prompt', 'lines/CSV: allow a --prompt without placeholders (every request the same)')
    .option(
      '--model <model>',
      'model for generated requests, and for batch lines without one (default claude-haiku-4-5)',
    )
    .option(
      '--max-tokens <n>',
      'max_tokens for generated requests and batch lines without one (default 1024)',
      positiveInt,
    )
    .option('--system <text>', 'system prompt for generated requests and batch lines without one')
    .option('--system-file <file>', 'read the system prompt from a file')
    .option('--no-cache-system', 'do not mark the system prompt cacheable')
    .option('--column <name>', 'CSV: the column {item} stands for (default: the first)')
    .option('--id-column <name>', 'CSV: a column of custom_ids (default: generated, item-0000001…)')
    .option('--chunk-size <n>', 'requests per batch (max 100000)', positiveInt)
    .option('--approve-above <usd>', 'estimates above this many dollars wait for approval (default 10)', nonNegative)
    .option('--output-ratio <r>', 'expected output as a share of max_tokens, for the estimate (default 1)', rate)
    .option(
      '--price <model=rates>',
      'USD per million tokens for a model the price table lacks (or instead of its row): input,output[,5m write,1h write,cache read]; repeatable',
      collectPrice,
    )
    .option(
      '--beta <name>',
      'an anthropic-beta value sent with every batch create, e.g. output-300k-2026-03-24 (max_tokens up to 300,000 where the model offers it); repeatable',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--task-queue <queue>',
      'task queue of the claude-batch workers',
      process.env.CLAUDE_BATCH_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    );
}

/** Flags of a job that runs (`run`, `schedule create`): approval, retries, polling, what it may replace. */
export function addJobOptions(cmd: Command): Command {
  return addRequestOptions(cmd)
    .option('-y, --yes', 'approve the estimate up front, whatever it is (recorded in the job)', false)
    .option('--approval-timeout <duration>', 'how long to wait for approval (default 24h)')
    .addOption(new Option('--on-invalid <mode>', 'reject the job, or skip invalid lines').choices(['reject', 'skip']))
    .option(
      '--budget <usd>',
      "a hard cap on the job's cost at batch prices: a batch whose worst case would pass it is not submitted",
      positiveNumber,
    )
    .option(
      '--no-pilot',
      'skip the pilot: jobs of 1,000 requests or more first answer a random 20 synchronously, to measure output for the estimate',
    )
    .option('--pilot-size <n>', 'requests in the pilot (default 20)', positiveInt)
    .option(
      '--no-early-create',
      'do not upload the first batch while the input is still being validated (it is only ever created once the job is valid and approved)',
    )
    .option(
      '--deadline <time>',
      'finish by then (ISO time such as 2026-12-03T06:00:00Z, or a duration from now such as 6h): batches first, then what is left synchronously at standard prices',
    )
    .option('--deadline-margin <duration>', 'time kept free before the deadline (default a tenth of the time, 1m–30m)')
    .option(
      '--sync-concurrency <n>',
      'synchronous requests in flight at once after the cutoff (default 8)',
      positiveInt,
    )
    .option('--overwrite', 'replace an output (and report) file that already exists', false)
    .option('--allow-empty', 'an input without any valid request completes with an empty output', false)
    .option('--max-rounds <n>', 'retry rounds for expired and retryable requests (default 3)', nonNegativeInt)
    .option(
      '--max-queued <n>',
      "requests the job lets wait in Anthropic's processing queue at once: your organization's batch queue limit (default 100000)",
      positiveInt,
    )
    .option('--poll-initial <duration>', 'first poll interval (default 30s)')
    .option('--poll-max <duration>', 'longest poll interval (default 10m)')
    .option('--expiry-warning <duration>', 'warn this long before a batch expires (default 4h)')
    .option('--webhook <url>', 'POST a warning here before a batch expires (must be allow-listed on the worker)');
}

/**
 * A path typed in a terminal means a file here: made absolute, so the worker (same machine or shared disk) finds it.
 * An s3:// URI names the same object everywhere: it goes to the worker as it is.
 */
export function localUri(p: string): string {
  if (p.startsWith('file://')) return p;
  const scheme = uriScheme(p);
  if (scheme === 's3') return p;
  if (scheme)
    throw new UserError(
      `${p}: the ${scheme}:// scheme is not supported; claude-batch reads and writes local paths, file:// and s3:// URIs`,
      scheme.startsWith('http') ? 'download the file first, then pass its path' : 'pass a path on the worker’s disk',
    );
  return path.resolve(p);
}

/** A local input must exist here; an s3:// one is checked by the worker (preflight), which has the bucket's access. */
export function requireLocalFile(p: string, what: string): string {
  const uri = localUri(p);
  if (uriScheme(uri) === 's3') return uri;
  const file = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
  if (!existsSync(file)) throw new UserError(`${what} ${p} does not exist`, `check the path (resolved to ${file})`);
  if (statSync(file).isDirectory())
    throw new UserError(`${what} ${p} is a folder`, 'give the file of requests inside it');
  return uri;
}

/** The job input the flags describe, checked here so a bad flag never starts a workflow. */
export function jobInputFromFlags(io: { input: string; output: string }, f: JobFlags): JobInputRaw {
  // Flags that only a lines/CSV input reads would be ignored silently otherwise.
  const format = resolveFormat(f.format ?? 'auto', io.input);
  if (format === 'batch' && f.prompt !== undefined)
    throw new UserError(
      `--prompt applies to lines and CSV input; ${io.input} is read as batch JSONL`,
      'pass --format lines or --format csv if the input is not Anthropic batch JSONL',
    );
  if (format !== 'csv' && (f.column !== undefined || f.idColumn !== undefined))
    throw new UserError(
      `--column and --id-column apply to CSV input; ${io.input} is read as ${format === 'lines' ? 'one item per line' : 'batch JSONL'}`,
      'pass --format csv if the input is CSV',
    );
  if (f.deadline === undefined && (f.deadlineMargin !== undefined || f.syncConcurrency !== undefined))
    throw new UserError(
      '--deadline-margin and --sync-concurrency apply to a job with a deadline',
      'add --deadline <time or duration>',
    );
  const system = f.systemFile ? readSystemFile(f.systemFile) : f.system;
  if (format !== 'batch' && f.prompt !== undefined && placeholders(f.prompt).length === 0 && !f.constantPrompt)
    throw new UserError(
      `--prompt ${JSON.stringify(f.prompt)} has no placeholder, so every request would be the same`,
      `put {item} where each ${format === 'csv' ? "row's item (or {<column>})" : 'line'} goes, or pass --constant-prompt if identical requests are meant`,
    );
  const templated =
    f.prompt !== undefined ||
    f.model !== undefined ||
    f.maxTokens !== undefined ||
    system !== undefined ||
    f.column !== undefined ||
    f.idColumn !== undefined ||
    f.constantPrompt === true;
  const raw: JobInputRaw = {
    input: io.input,
    output: io.output,
    ...(f.format && f.format !== 'auto' ? { format: f.format } : {}),
    ...(templated
      ? {
          template: {
            ...(f.prompt !== undefined ? { prompt: f.prompt } : {}),
            ...(f.model !== undefined ? { model: f.model } : {}),
            ...(f.maxTokens !== undefined ? { maxTokens: f.maxTokens } : {}),
            ...(system !== undefined ? { system } : {}),
            ...(f.cacheSystem === false ? { cacheSystem: false } : {}),
            ...(f.column !== undefined ? { column: f.column } : {}),
            ...(f.idColumn !== undefined ? { idColumn: f.idColumn } : {}),
            ...(f.constantPrompt ? { constantPrompt: true } : {}),
          },
        }
      : {}),
    ...(f.chunkSize !== undefined ? { chunk: { maxRequests: f.chunkSize } } : {}),
    ...(f.approveAbove !== undefined || f.approvalTimeout !== undefined || f.yes
      ? {
          approval: {
            ...(f.approveAbove !== undefined ? { thresholdUsd: f.approveAbove } : {}),
            ...(f.approvalTimeout !== undefined ? { timeout: f.approvalTimeout } : {}),
            ...(f.yes ? { preApproved: true, approvedBy: approverName() } : {}),
          },
        }
      : {}),
    ...(f.overwrite ? { overwrite: true } : {}),
    ...(f.budget !== undefined ? { budget: { maxUsd: f.budget } } : {}),
    ...(f.allowEmpty ? { allowEmpty: true } : {}),
    ...(f.onInvalid ? { onInvalid: f.onInvalid } : {}),
    ...(f.maxRounds !== undefined ? { retry: { maxRounds: f.maxRounds } } : {}),
    ...(f.maxQueued !== undefined ? { admission: { maxQueuedRequests: f.maxQueued } } : {}),
    ...(f.pollInitial !== undefined || f.pollMax !== undefined
      ? {
          poll: {
            // A --poll-max below the default first interval means "poll at most this often" from the start.
            ...(f.pollInitial !== undefined
              ? { initial: f.pollInitial }
              : f.pollMax !== undefined && toMs(f.pollMax) > 0 && toMs(f.pollMax) < toMs(DEFAULT_POLL_INITIAL)
                ? { initial: f.pollMax }
                : {}),
            ...(f.pollMax !== undefined ? { max: f.pollMax } : {}),
          },
        }
      : {}),
    ...(f.expiryWarning !== undefined ? { expiryWarning: f.expiryWarning } : {}),
    ...(f.outputRatio !== undefined ? { estimate: { outputRatio: f.outputRatio } } : {}),
    ...(f.webhook !== undefined ? { notify: { webhook: f.webhook } } : {}),
    ...(f.price ? { prices: f.price } : {}),
    ...(f.beta?.length ? { betas: f.beta } : {}),
    ...(f.earlyCreate === false ? { earlyCreate: false } : {}),
    ...(f.pilot === false
      ? { pilot: false as const }
      : f.pilotSize !== undefined
        ? { pilot: { size: f.pilotSize } }
        : {}),
    ...(f.deadline !== undefined
      ? {
          deadline: {
            // A duration typed in a terminal counts from now, not from whenever the worker starts the job.
            at: absoluteDeadline(f.deadline),
            ...(f.deadlineMargin !== undefined ? { margin: f.deadlineMargin } : {}),
            ...(f.syncConcurrency !== undefined ? { concurrency: f.syncConcurrency } : {}),
          },
        }
      : {}),
  };
  const parsed = parseJobInput(raw);
  if (!parsed.ok)
    throw new UserError(`invalid job options:\n  ${parsed.problems.join('\n  ')}`, 'see --help for the allowed values');
  // The workflow gets the input as given (it fills in its own defaults), so the UI shows what the user chose.
  return raw;
}

/** Parses one `--price model=in,out[,w5m,w1h,read]` into the job's `prices` (later flags win per model). */
export function collectPrice(value: string, previous: Record<string, UserPrice> = {}): Record<string, UserPrice> {
  const m = /^([A-Za-z0-9._:-]+)=(.+)$/.exec(value.trim());
  const rates = m ? m[2]!.split(',').map((x) => Number(x.trim())) : [];
  if (!m || rates.length < 2 || rates.length > 5 || rates.some((r) => !Number.isFinite(r) || r < 0))
    throw new InvalidArgumentError(
      `expected <model>=<input>,<output>[,<5m cache write>,<1h cache write>,<cache read>] in USD per million tokens, e.g. claude-opus-5-5=4,20,5,8,0.2; got ${JSON.stringify(value)}`,
    );
  const [input, output, cacheWrite5m, cacheWrite1h, cacheRead] = rates as [number, number, ...number[]];
  const price: UserPrice = {
    input,
    output,
    ...(cacheWrite5m !== undefined ? { cacheWrite5m } : {}),
    ...(cacheWrite1h !== undefined ? { cacheWrite1h } : {}),
    ...(cacheRead !== undefined ? { cacheRead } : {}),
  };
  return { ...previous, [m[1]!]: price };
}

/** A deadline flag as an ISO time: a duration counts from now; a time is kept as given. */
function absoluteDeadline(value: string): string {
  const relative = toMs(value);
  return Number.isFinite(relative) && relative > 0 ? new Date(Date.now() + relative).toISOString() : value;
}

/** Who approves from this terminal, recorded in the job. */
export const approverName = () => `${os.userInfo().username}@${os.hostname()} (claude-batch cli)`;

function readSystemFile(file: string): string {
  if (!existsSync(file)) throw new UserError(`system prompt file ${file} does not exist`);
  return readFileSync(file, 'utf8').trim();
}
