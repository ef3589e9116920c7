import { createReadStream, existsSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { isS3Uri } from '../../storage/s3-uri.js';
import { UserError } from '../cli-errors.js';
import { commandName } from '../command-name.js';
import { connectClient } from '../connection.js';
import { jobSnapshot, type JobSnapshot } from '../jobs.js';
import { outcomesLine } from '../progress/render.js';

const pathOf = (uri: string) => (uri.startsWith('file://') ? fileURLToPath(uri) : uri);

/** Something the worker wrote, opened for reading here: `local` is its path when it is a file on this machine. */
interface Source {
  local: string | null;
  open(): Readable;
}

/**
 * A file the worker wrote. One in S3 is read from the bucket (this machine needs only the bucket's settings and
 * credentials, as the worker's: S3_ENDPOINT, AWS_REGION, …); one on disk only when this machine sees it.
 */
async function workerFile(uri: string, what: string): Promise<Source> {
  if (isS3Uri(uri)) return objectInBucket(uri, what);
  const source = pathOf(uri);
  if (!existsSync(source))
    throw new UserError(
      `the ${what} ${source} is not on this machine`,
      "the worker wrote it into its own storage; run this where the worker's files are, or give the workers S3 storage (CLAUDE_BATCH_STORAGE)",
    );
  return { local: source, open: () => createReadStream(source) };
}

async function objectInBucket(uri: string, what: string): Promise<Source> {
  // Loaded only here: the AWS SDK is not worth its start-up time for every other command.
  const [{ S3Store }, { s3Client, s3SettingsFromEnv }] = await Promise.all([
    import('../../storage/s3-store.js'),
    import('../../storage/s3-client.js'),
  ]);
  // The CLI reads only what the job reported: that object is its one allowed root.
  const store = new S3Store(s3Client(s3SettingsFromEnv()), [uri]);
  let entry;
  try {
    entry = await store.inspect(uri);
  } catch (err) {
    throw new UserError(
      `could not read the ${what} ${uri}: ${err instanceof Error ? err.message : String(err)}`,
      'set the S3 settings the workers use (AWS_REGION and credentials, S3_ENDPOINT for a non-AWS server)',
    );
  }
  if (entry?.kind !== 'file')
    throw new UserError(`the ${what} ${uri} is not in its bucket`, 'it may have been removed since the job ended');
  return { local: null, open: () => store.read(uri) };
}

/** Copies to `out` ("-": stdout). Never onto a file of the job itself, and never over an existing file silently. */
async function copy(source: Source, out: string, overwrite: boolean): Promise<void> {
  if (out === '-') return pipeline(source.open(), process.stdout);
  const target = path.resolve(out);
  if (source.local !== null && target === path.resolve(source.local))
    throw new UserError(`--out ${out} is the file being copied`);
  if (existsSync(target) && !overwrite)
    throw new UserError(`${out} already exists`, 'choose another --out, or pass --overwrite to replace it');
  await pipeline(source.open(), createWriteStream(target));
}

function resultsOf(s: JobSnapshot, id: string) {
  if (s.report) return s.report;
  const cmd = commandName();
  if (s.execution === 'RUNNING')
    throw new UserError(
      `job ${id} is still ${s.view?.phase?.replaceAll('_', ' ') ?? s.memo.phase ?? 'running'}; its results are written when it ends`,
      `follow it with \`${cmd} watch ${id}\``,
    );
  throw new UserError(
    `job ${id} ended without results (${s.failure?.split('\n')[0] ?? s.execution.toLowerCase()})`,
    s.invalidReport
      ? `its invalid lines: \`${cmd} results ${id} --invalid --out -\``
      : `\`${cmd} status ${id}\` shows how far it got`,
  );
}

export function resultsCommand(): Command {
  return new Command('results')
    .description(
      "Copy a finished job's results (one JSONL line per request) to a file or stdout; --invalid: the input lines it skipped or refused, with line, field and rule",
    )
    .argument('<job>', 'job id (workflow id)')
    .requiredOption('-o, --out <file>', 'where to write them ("-" for stdout)')
    .option('--invalid', 'the invalid input lines instead (JSONL: line, customId, field, rule)', false)
    .option('--overwrite', 'replace --out if it exists', false)
    .action(async (id: string, o: { out: string; invalid: boolean; overwrite: boolean }) => {
      const client = await connectClient();
      const s = await jobSnapshot(client, id);
      await client.connection.close();
      if (o.invalid) {
        if (!s.invalidReport) {
          if (s.execution === 'RUNNING' && !s.view?.prepared)
            throw new UserError(`job ${id} is still validating its input`, `try again in a moment`);
          throw new UserError(`job ${id} had no invalid input lines`, 'every line of its input was a valid request');
        }
        await copy(await workerFile(s.invalidReport, 'list of invalid lines'), o.out, o.overwrite);
        if (o.out !== '-') console.log(`wrote the invalid lines of job ${id} to ${o.out}`);
        return;
      }
      const report = resultsOf(s, id);
      await copy(await workerFile(report.outputUri, 'results file'), o.out, o.overwrite);
      if (o.out === '-') return;
      console.log(
        `wrote ${report.lines.toLocaleString('en-US')} result lines to ${o.out} (${outcomesLine(report.outcomes)})`,
      );
      console.log(`report: ${report.reportMarkdownUri}`);
    });
}
