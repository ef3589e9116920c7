import { Command, Option } from 'commander';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleHandle,
} from '@temporalio/client';
import { UserError } from '../cli-errors.js';
import { connectClient } from '../connection.js';
import { addJobOptions, jobInputFromFlags, localUri, type JobFlags } from '../job-options.js';
import type { JobInputRaw } from '../../shared/job-input.js';
import type { checkJobFiles } from '../../workflows/check-job-files.js';
import { failureMessage, failureType, hasWorkers } from '../jobs.js';
import { failureHint } from '../failure-hints.js';
import { commandName } from '../command-name.js';

/**
 * Thin, typed wrappers over Temporal Schedules: each run starts a `batchJob` with the same input, and `{date}` in
 * its URIs makes every night's output a new file. Overlap policy: skip (a slow night never stacks a second job).
 */

const OVERLAP: Record<string, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

interface ScheduleMemo {
  cron?: string;
  input?: string;
  output?: string;
}

async function withSchedule<T>(name: string, fn: (client: Client, handle: ScheduleHandle) => Promise<T>): Promise<T> {
  const client = await connectClient();
  try {
    return await fn(client, client.schedule.getHandle(name));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw new UserError(`no schedule '${name}'`, `\`${commandName()} schedule list\` shows the schedules`);
    throw err;
  } finally {
    await client.connection.close();
  }
}

const when = (d: Date | undefined) => (d ? d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : '—');

/**
 * The files of a scheduled job are checked on a worker when the schedule is made (its allowed roots and its disk
 * decide), not first on the night it runs. An input that uses {date} may appear later: then its folder is checked.
 */
async function checkFiles(client: Client, name: string, jobInput: JobInputRaw, taskQueue: string): Promise<string[]> {
  const cmd = commandName();
  if (!(await hasWorkers(client, taskQueue)))
    throw new UserError(
      `no worker polls task queue '${taskQueue}' to check the schedule's files`,
      `start one (\`${cmd} worker\` or \`${cmd} dev\`), or pass --no-check to create it unchecked`,
    );
  try {
    const checked = await client.workflow.execute<typeof checkJobFiles>('checkJobFiles', {
      workflowId: `check-schedule-${name}-${Date.now()}`,
      taskQueue,
      args: [jobInput],
      workflowExecutionTimeout: '2m',
    });
    return checked.warnings;
  } catch (err) {
    throw new UserError(
      `schedule ${name} not created: ${failureMessage(err)}`,
      failureHint(failureType(err))?.replaceAll('--out', '--output') ?? 'check --input and --output',
    );
  }
}

function createCommand(): Command {
  return addJobOptions(
    new Command('create')
      .description('Create a Schedule that starts a batch job on a cron spec')
      .argument('<name>', 'schedule id; its jobs are named <name>-<scheduled time>')
      .requiredOption('--cron <expr>', 'cron spec, e.g. "0 2 * * *" for 02:00 every night')
      .requiredOption('--input <uri>', 'input file (path, file:// or s3:// URI; may use {date})')
      .requiredOption('--output <uri>', 'output file template, e.g. results/{date}.jsonl ({date}, {time}, {jobId})')
      .option('--timezone <tz>', 'time zone of the cron spec (IANA name)', 'UTC')
      .addOption(
        new Option('--overlap <policy>', 'what to do when the previous job still runs')
          .choices(Object.keys(OVERLAP))
          .default('skip'),
      )
      .option('--paused', 'create it paused', false)
      .option('--no-check', "create it without checking its files on a worker (the worker's allowed roots)")
      .option('--note <text>', 'a note shown with the schedule'),
  ).action(
    async (
      name: string,
      f: JobFlags & {
        cron: string;
        input: string;
        output: string;
        timezone: string;
        overlap: string;
        paused: boolean;
        note?: string;
        check: boolean;
      },
    ) => {
      const input = localUri(f.input);
      const output = localUri(f.output);
      const jobInput = jobInputFromFlags({ input, output }, f);
      const client = await connectClient();
      try {
        const warnings = f.check ? await checkFiles(client, name, jobInput, f.taskQueue) : [];
        for (const w of warnings) console.log(`warning: ${w}`);
        await client.schedule.create({
          scheduleId: name,
          spec: { cronExpressions: [f.cron], timezone: f.timezone },
          action: {
            type: 'startWorkflow',
            workflowType: 'batchJob',
            workflowId: name,
            taskQueue: f.taskQueue,
            args: [jobInput],
          },
          policies: { overlap: OVERLAP[f.overlap]!, catchupWindow: '1h' },
          state: { paused: f.paused, ...(f.note ? { note: f.note } : {}) },
          memo: { cron: f.cron, input, output } satisfies ScheduleMemo,
        });
      } catch (err) {
        if (err instanceof ScheduleAlreadyRunning)
          throw new UserError(`a schedule named '${name}' already exists`, 'delete it first, or choose another name');
        // The SDK turns the server's "Invalid schedule spec" (INVALID_ARGUMENT) into a TypeError.
        if (err instanceof TypeError || (err as { code?: number }).code === 3)
          throw new UserError(
            `the server refused the schedule: ${(err as Error).message}`,
            'check --cron (five fields: minute hour day month weekday)',
          );
        throw err;
      } finally {
        await client.connection.close();
      }
      console.log(
        `schedule ${name} created: "${f.cron}" (${f.timezone}), overlap ${f.overlap}${f.paused ? ', paused' : ''}`,
      );
      console.log(`  each run: ${input} → ${output}`);
      console.log(`  run it now: ${commandName()} schedule trigger ${name}`);
    },
  );
}

export function scheduleCommand(): Command {
  const schedule = new Command('schedule').description('Run batch jobs on a schedule (Temporal Schedules)');
  schedule.addCommand(createCommand());

  schedule.addCommand(
    new Command('list')
      .description('Schedules with their spec, next run and state')
      .option('--json', 'print JSON', false)
      .action(async (o: { json: boolean }) => {
        const client = await connectClient();
        const rows = [];
        for await (const s of client.schedule.list()) {
          const memo = ((await s.memo) ?? {}) as ScheduleMemo;
          rows.push({
            name: s.scheduleId,
            cron: memo.cron ?? '',
            paused: s.state.paused,
            // The server still computes next times for a paused schedule, but nothing runs at them.
            nextRun: s.state.paused ? null : (s.info.nextActionTimes[0] ?? null),
            lastJob: s.info.recentActions.at(-1)?.action.workflow.workflowId ?? null,
          });
        }
        await client.connection.close();
        if (o.json) return console.log(JSON.stringify(rows, null, 2));
        if (rows.length === 0) return console.log(`no schedules; create one with \`${commandName()} schedule create\``);
        for (const r of rows)
          console.log(
            `${r.name}  "${r.cron}"  ${r.paused ? 'paused  no next run' : `active  next ${when(r.nextRun ?? undefined)}`}  last job ${r.lastJob ?? '—'}`,
          );
      }),
  );

  schedule.addCommand(
    new Command('describe')
      .description("A schedule's spec, job input, state, recent and next runs")
      .argument('<name>')
      .option('--json', 'print JSON', false)
      .action((name: string, o: { json: boolean }) =>
        withSchedule(name, async (_client, handle) => {
          const d = await handle.describe();
          const memo = ((await d.memo) ?? {}) as ScheduleMemo;
          const action = d.action.type === 'startWorkflow' ? d.action : null;
          const view = {
            name,
            cron: memo.cron ?? null,
            timezone: d.spec.timezone ?? 'UTC',
            paused: d.state.paused,
            note: d.state.note || null, // the server answers "" for none
            overlap:
              d.policies.overlap === undefined
                ? 'SKIP'
                : (ScheduleOverlapPolicy[d.policies.overlap] ?? String(d.policies.overlap)),
            taskQueue: action?.taskQueue ?? null,
            jobInput: action?.args?.[0] ?? null,
            actionsTaken: d.info.numActionsTaken,
            recentJobs: d.info.recentActions.map((a) => ({
              scheduledAt: a.scheduledAt,
              jobId: a.action.workflow.workflowId,
            })),
            // As in `list`: a paused schedule has next times on the server, but runs at none of them.
            nextRuns: d.state.paused ? [] : d.info.nextActionTimes.slice(0, 5),
          };
          if (o.json) return console.log(JSON.stringify(view, null, 2));
          console.log(
            `schedule ${name}: "${view.cron}" (${view.timezone}), ${view.paused ? 'paused' : 'active'}, overlap ${view.overlap.toLowerCase()}`,
          );
          if (view.note) console.log(`  note: ${view.note}`);
          console.log(`  job input: ${JSON.stringify(view.jobInput)}`);
          console.log(`  task queue: ${view.taskQueue}; runs so far: ${view.actionsTaken}`);
          for (const j of view.recentJobs) console.log(`  ran ${when(j.scheduledAt)}: ${j.jobId}`);
          if (view.paused) console.log(`  next: paused; \`${commandName()} schedule unpause ${name}\` resumes it`);
          else console.log(`  next: ${view.nextRuns.map((t) => when(t)).join(', ') || '—'}`);
        }),
      ),
  );

  const simple = (
    verb: string,
    description: string,
    act: (h: ScheduleHandle, note?: string) => Promise<void>,
    done: string,
    takesNote = false,
  ) => {
    const cmd = new Command(verb).description(description).argument('<name>');
    if (takesNote) cmd.option('--note <text>', 'a note recorded with the change');
    return cmd.action((name: string, o: { note?: string }) =>
      withSchedule(name, async (_client, handle) => {
        await handle.describe(); // a missing schedule fails here with a clear message
        await act(handle, o.note);
        console.log(`schedule ${name} ${done}`);
      }),
    );
  };
  schedule.addCommand(
    simple(
      'trigger',
      'Start a job from the schedule now, even if an earlier one still runs',
      (h) => h.trigger(),
      'triggered: a job is starting',
    ),
  );
  // Our own default notes: the SDK's ("Paused via TypeScript SDK\"") carry a stray quote into `describe`.
  schedule.addCommand(
    simple('pause', 'Pause a schedule', (h, note) => h.pause(note ?? 'paused with claude-batch'), 'paused', true),
  );
  schedule.addCommand(
    simple(
      'unpause',
      'Resume a paused schedule',
      (h, note) => h.unpause(note ?? 'unpaused with claude-batch'),
      'unpaused',
      true,
    ),
  );
  schedule.addCommand(
    simple('delete', 'Delete a schedule (jobs it started keep running)', (h) => h.delete(), 'deleted'),
  );
  return schedule;
}
