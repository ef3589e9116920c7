/**
 * npm run demo — the product end to end on the embedded default: a Temporal dev server (SQLite, web UI), the
 * emulator of the Message Batches API and a worker, all started here; then 2,000 synthetic support tickets are
 * classified by a real `batchJob`, through the same code as `claude-batch run`: a pilot of 20 answered synchronously,
 * the estimate's range and worst case, approval, a budget, chunks submitted exactly once, live progress, failed
 * requests retried, one result line per ticket and a cost report.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Runtime } from '@temporalio/worker';
import { packageRoot } from '../config/load.js';
import { startDevStack } from '../client/dev-stack.js';
import { consoleLogger } from '../client/console-logger.js';
import { freePort } from '../client/ports.js';
import { runJob } from '../client/commands/run.js';
import { writeTicketJob } from '../examples/support-tickets.js';
import { DEFAULT_TASK_QUEUE } from '../shared/task-queue.js';

const { values: args } = parseArgs({
  options: {
    tickets: { type: 'string', default: '2000' },
    keep: { type: 'boolean', default: false },
  },
});

async function main(): Promise<number> {
  const started = Date.now();
  Runtime.install({ logger: consoleLogger(), shutdownSignals: [] });
  const dataDir = path.join(packageRoot, '.data', 'demo');
  const jobs = path.join(dataDir, 'jobs-in-out');
  // Each demo starts from nothing, so a previous run that was interrupted cannot resume alongside this one.
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(jobs, { recursive: true });

  console.log(
    'claude-batch demo: starting the local stack (Temporal dev server + web UI, Batches API emulator, worker)…',
  );
  const stack = await startDevStack({
    dataDir,
    temporalPort: await freePort(7233),
    uiPort: await freePort(8233),
    emulatorPort: await freePort(4010),
    // Virtual time runs 20x: a 500-request batch takes the emulator's modelled ~70 s, here ~3.5 s.
    emulatorTimeScale: 20,
    emulatorOptions: {
      incrementalCounts: true,
      // Real life, compressed: a few requests fail with retryable errors (they go into a retry round), and one
      // create's response is lost on the way back (the job finds the batch instead of paying for it twice).
      faults: { seed: 7, outcomes: { overloaded_error: 0.02, api_error: 0.005 }, createResponseLost: 1 },
    },
    taskQueue: DEFAULT_TASK_QUEUE,
    log: (line) => console.log(`  ${line}`),
  });
  let code: number;
  try {
    console.log(`  Temporal web UI   ${stack.uiUrl}`);
    console.log(`  Anthropic API     ${stack.anthropicUrl} (emulator)`);
    const tickets = Number(args.tickets);
    const input = path.join(jobs, 'tickets.jsonl');
    await writeTicketJob(input, tickets);
    console.log(`\nWrote ${tickets} support tickets to classify, sharing one cached system prompt: ${input}`);
    console.log(
      `$ claude-batch run ${path.relative(process.cwd(), input)} --out results.jsonl --chunk-size 500 --approve-above 0.5 --budget 20 --yes\n`,
    );
    code = await runJob(stack.client, input, {
      out: path.join(jobs, 'results.jsonl'),
      yes: true,
      detach: false,
      chunkSize: 500,
      approveAbove: 0.5,
      // A hard cap: each batch's worst case is held against it before its create (shown in the progress).
      budget: 20,
      pollInitial: '2s',
      pollMax: '5s',
      cacheSystem: true,
      taskQueue: DEFAULT_TASK_QUEUE,
    });
    if (code === 0) {
      console.log('\n' + readFileSync(path.join(jobs, 'results.report.md'), 'utf8'));
      console.log(`Demo finished in ${Math.round((Date.now() - started) / 1000)} s.`);
    }
    if (args.keep) {
      console.log(`\nThe stack stays up: browse the job in the Temporal web UI at ${stack.uiUrl} — Ctrl-C to stop.`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    } else {
      console.log(
        `Browse the job in the Temporal web UI: \`npm run demo -- --keep\` keeps the stack up (UI at ${stack.uiUrl}),\n` +
          `or \`npx claude-batch dev --data-dir .data/demo\` reopens this data later.`,
      );
    }
  } finally {
    await stack.stop();
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
