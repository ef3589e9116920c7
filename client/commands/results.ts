import { createReadStream, existsSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { UserError } from '../cli-errors.js';
import { connectClient } from '../connection.js';
import { jobSnapshot } from '../jobs.js';
import { outcomesLine } from '../progress/render.js';

const pathOf = (uri: string) => (uri.startsWith('file://') ? new URL(uri).pathname : uri);

export function resultsCommand(): Command {
  return new Command('results')
    .description("Copy a finished job's results (one JSONL line per request) to a file, or to stdout with --out -")
    .argument('<job>', 'job id (workflow id)')
    .requiredOption('-o, --out <file>', 'where to write the results ("-" for stdout)')
    .action(async (id: string, o: { out: string }) => {
      const client = await connectClient();
      const s = await jobSnapshot(client, id);
      await client.connection.close();
      if (!s.report) {
        if (s.execution === 'RUNNING')
          throw new UserError(
            `job ${id} is still ${s.view?.phase?.replaceAll('_', ' ') ?? s.memo.phase ?? 'running'}; its results are written when it ends`,
            `follow it with \`claude-batch watch ${id}\``,
          );
        throw new UserError(
          `job ${id} ended without results (${s.failure ?? s.execution.toLowerCase()})`,
          `\`claude-batch status ${id}\` shows how far it got`,
        );
      }
      const source = pathOf(s.report.outputUri);
      if (!existsSync(source))
        throw new UserError(
          `the results file ${source} is not on this machine`,
          "the worker wrote it into its own storage; run this where the worker's files are",
        );
      if (o.out === '-') {
        await pipeline(createReadStream(source), process.stdout);
        return;
      }
      await pipeline(createReadStream(source), createWriteStream(o.out));
      console.log(
        `wrote ${s.report.lines.toLocaleString('en-US')} result lines to ${o.out} (${outcomesLine(s.report.outcomes)})`,
      );
      console.log(`report: ${s.report.reportMarkdownUri}`);
    });
}
