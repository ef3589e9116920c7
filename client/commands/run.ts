import path from 'node:path';
import { Command } from 'commander';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { batchJob } from '../../workflows/batch-job.js';
import { UserError } from '../cli-errors.js';
import { connectClient } from '../connection.js';
import {
  addJobOptions,
  approverName,
  jobInputFromFlags,
  localUri,
  requireLocalFile,
  type JobFlags,
} from '../job-options.js';
import { hasWorkers } from '../jobs.js';
import { commandName } from '../command-name.js';
import { isRefusal } from '../failure-hints.js';
import { summaryLines, terminalWatchOptions, watchJob, type WatchEnd } from '../progress/watch-job.js';

export interface RunFlags extends JobFlags {
  out: string;
  jobId?: string;
  yes: boolean;
  detach: boolean;
}

/** A job id people can read and type: the input's name and the start time, plus a few random letters. */
export function newJobId(input: string, now = new Date()): string {
  const base =
    path
      .basename(input)
      .replace(/\.[^.]*$/, '')
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .slice(0, 40) || 'job';
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  return `${base}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Starts a job and, unless detached, follows it to the end. Returns the exit code. */
export async function runJob(client: Client, inputFile: string, f: RunFlags): Promise<number> {
  const input = requireLocalFile(inputFile, 'input file');
  const output = localUri(f.out);
  const jobInput = jobInputFromFlags({ input, output }, f);
  const workflowId = f.jobId ?? newJobId(inputFile);
  if (!(await hasWorkers(client, f.taskQueue)))
    console.log(
      `warning: no worker polls task queue '${f.taskQueue}'; the job waits until one starts (\`${commandName()} worker\`, or \`${commandName()} dev\` for everything)`,
    );
  let handle;
  try {
    handle = await client.workflow.start<typeof batchJob>('batchJob', {
      workflowId,
      taskQueue: f.taskQueue,
      args: [jobInput],
      staticSummary: `claude-batch: ${path.basename(inputFile)} → ${path.basename(f.out)}`,
      staticDetails: `Started by \`claude-batch run\`.\n\n- input: \`${input}\`\n- output: \`${output}\``,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new UserError(`a job with id '${workflowId}' already exists`, 'choose another --job-id');
    throw err;
  }
  console.log(`started job ${workflowId} (task queue ${f.taskQueue})`);
  if (f.detach) {
    console.log(`  watch:  ${commandName()} watch ${workflowId}`);
    console.log(`  status: ${commandName()} status ${workflowId}`);
    if (f.yes) console.log('  approved up front (--yes): it will not wait for approval');
    return 0;
  }
  const end = await watchJob(client, handle, terminalWatchOptions(f.yes ?? false, approverName()));
  for (const line of summaryLines(end, workflowId)) console.log(line);
  return exitCodeOf(end);
}

export function exitCodeOf(end: WatchEnd): number {
  if (end.kind === 'completed') return 0;
  if (end.kind === 'detached') return 130;
  // Refused for what it was given (nothing submitted): a user mistake, like a bad flag.
  return isRefusal(end.type) ? 2 : 1;
}

export function runCommand(): Command {
  return addJobOptions(
    new Command('run')
      .description(
        'Validate, estimate and run a job: shows the cost estimate, asks for approval above the threshold, then shows live progress until every request has an answer. Ctrl-C detaches; the job keeps running.',
      )
      .argument(
        '<input>',
        'requests: Anthropic batch JSONL ({custom_id, params} per line), one item per line (.txt), or CSV',
      )
      .requiredOption('-o, --out <file>', 'results JSONL: one line per request')
      .option('--job-id <id>', 'workflow id of the job (default: <input name>-<time>-<random>)')
      .option('--detach', 'print the job id and return at once', false),
  ).action(async (inputFile: string, f: RunFlags) => {
    const client = await connectClient();
    process.exitCode = await runJob(client, inputFile, f);
    await client.connection.close();
  });
}
