import { createReadStream, existsSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { UserError } from '../cli-errors.js';
import { commandName } from '../command-name.js';
import { connectClient } from '../connection.js';
import { jobSnapshot, type JobSnapshot } from '../jobs.js';
import { outcomesLine } from '../progress/render.js';

const pathOf = (uri: string) => (uri.startsWith('file://') ? fileURLToPath(uri) : uri);

/** A file the worker wrote, readable here only when this machine sees the worker's files. */
function workerFile(uri: string, what: string): string {
  const source = pathOf(uri);
  if (!existsSync(source))
    throw new UserError(
      `the ${what} ${source} is not on this machine`,
      "the worker wrote it into its own storage; run this where the worker's files are",
    );
  return source;
}

/** Copies to `out` ("-": stdout). Never onto a file of the job itself, and never over an existing file silently. */
async function copy(source: string, out: string, overwrite: boolean): Promise<void> {
  if (out === '-') return pipeline(createReadStream(source), process.stdout);
  const target = path.resolve(out);
  if (target === path.resolve(source)) throw new UserError(`--out ${out} is the file being copied`);
  if (existsSync(target) && !overwrite)
    throw new UserError(`${out} already exists`, 'choose another --out, or pass --overwrite to replace it');
  await pipeline(createReadStream(source), createWriteStream(target));
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
        await copy(workerFile(s.invalidReport, 'list of invalid lines'), o.out, o.overwrite);
        if (o.out !== '-') console.log(`wrote the invalid lines of job ${id} to ${o.out}`);
        return;
      }
      const report = resultsOf(s, id);
      await copy(workerFile(report.outputUri, 'results file'), o.out, o.overwrite);
      if (o.out === '-') return;
      console.log(
        `wrote ${report.lines.toLocaleString('en-US')} result lines to ${o.out} (${outcomesLine(report.outcomes)})`,
      );
      console.log(`report: ${report.reportMarkdownUri}`);
    });
}
