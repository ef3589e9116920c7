import { Command } from 'commander';
import { connectClient } from '../connection.js';
import { findJob, jobSnapshot, type JobSnapshot } from '../jobs.js';
import { duration, renderFrame, usd } from '../progress/render.js';
import { summaryLines, terminalWatchOptions, watchJob } from '../progress/watch-job.js';
import { approverName } from '../job-options.js';
import { exitCodeOf } from './run.js';

export function statusLines(s: JobSnapshot, now = Date.now()): string[] {
  const lines: string[] = [];
  if (s.view) lines.push(renderFrame(s.view, s.closeTime?.getTime() ?? now));
  else {
    const m = s.memo;
    lines.push(
      `job ${s.id}  ·  ${m.phase?.replaceAll('_', ' ') ?? 'starting'}  ·  ${duration((s.closeTime?.getTime() ?? now) - s.startTime.getTime())}`,
      `  ${m.input ?? '?'} → ${m.output ?? '?'}`,
      ...(m.requests != null ? [`  ${m.requests} requests`] : []),
      ...(m.estimateUsd != null ? [`  estimate ${usd(m.estimateUsd)}`] : []),
      '  (no worker answered, so this is the last summary the job recorded)',
    );
  }
  lines.push(`  temporal: ${s.execution.toLowerCase()}`);
  if (s.report)
    lines.push(
      `  cost ${usd(s.report.costUsd)} (synchronous ${usd(s.report.standardUsd)}); results ${s.report.outputUri}; report ${s.report.reportMarkdownUri}`,
    );
  if (s.failure) lines.push(`  error: ${s.failure}`);
  return lines;
}

export function statusCommand(): Command {
  return new Command('status')
    .description("Show a job's phase, estimate, batches, counts, cost and deadlines")
    .argument('<job>', 'job id (workflow id)')
    .option('--json', 'print the full status as JSON', false)
    .action(async (id: string, o: { json: boolean }) => {
      const client = await connectClient();
      const snapshot = await jobSnapshot(client, id);
      if (o.json) console.log(JSON.stringify(snapshot, null, 2));
      else for (const line of statusLines(snapshot)) console.log(line);
      await client.connection.close();
    });
}

export function watchCommand(): Command {
  return new Command('watch')
    .description('Follow a job live until it ends (asks for approval if it waits for one). Ctrl-C detaches.')
    .argument('<job>', 'job id (workflow id)')
    .option('-y, --yes', 'approve the estimate without asking', false)
    .action(async (id: string, o: { yes: boolean }) => {
      const client = await connectClient();
      const { handle } = await findJob(client, id);
      const end = await watchJob(client, handle, terminalWatchOptions(o.yes, approverName()));
      for (const line of summaryLines(end, id)) console.log(line);
      process.exitCode = exitCodeOf(end);
      await client.connection.close();
    });
}
