#!/usr/bin/env node
// First: V8 settings for a worker's process, before other modules allocate (client/worker-flags.ts).
import './worker-flags.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { packageRoot } from '../config/load.js';
import { isClosedPipe, reportError } from './cli-errors.js';

// `claude-batch … | head` closes the pipe early; like `git log | head`, that ends the command quietly. Without a
// listener the failed write would be an uncaught exception with a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (err) => {
    if (isClosedPipe(err)) process.exit(0);
    throw err;
  });

/**
 * Each command's module is loaded only when it runs (Temporal's client and worker, the emulator and the SDKs take
 * a second or more to load): `claude-batch status` loads the status command only. The overview (`--help`, no or an
 * unknown command) loads them all, in this order.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.js')).runCommand(),
  estimate: async () => (await import('./commands/estimate.js')).estimateCommand(),
  status: async () => (await import('./commands/status.js')).statusCommand(),
  watch: async () => (await import('./commands/status.js')).watchCommand(),
  approve: async () => (await import('./commands/approval.js')).approveCommand(),
  reject: async () => (await import('./commands/approval.js')).rejectCommand(),
  cancel: async () => (await import('./commands/cancel.js')).cancelCommand(),
  results: async () => (await import('./commands/results.js')).resultsCommand(),
  list: async () => (await import('./commands/list.js')).listCommand(),
  schedule: async () => (await import('./commands/schedule.js')).scheduleCommand(),
  dev: async () => (await import('./commands/dev.js')).devCommand(),
  worker: async () => (await import('./commands/worker.js')).workerCommand(),
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand(),
  prices: async () => (await import('./commands/prices.js')).pricesCommand(),
  emulator: async () => (await import('./commands/emulator.js')).emulatorCommand(),
  'codec-server': async () => (await import('./commands/codec-server.js')).codecServerCommand(),
};

/** Read at run time, so the installed package answers with its own version. */
const { version } = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };

const program = new Command('claude-batch')
  .description('Run large Claude jobs through the Message Batches API as durable Temporal workflows')
  .version(version, '-V, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)');

const invoked = process.argv[2];
const VERSION_FLAGS = ['-V', '--version'];
const names =
  invoked && Object.hasOwn(COMMANDS, invoked)
    ? [invoked]
    : invoked && VERSION_FLAGS.includes(invoked)
      ? [] // the version needs no command loaded
      : Object.keys(COMMANDS);
for (const command of await Promise.all(names.map((name) => COMMANDS[name]!()))) program.addCommand(command);

// Usage mistakes exit 2, like every other user mistake (commander's own default is 1); help exits 0.
for (const cmd of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)])
  cmd.showHelpAfterError('(run with --help for usage)').exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program.parseAsync(process.argv).catch((err: unknown) => {
  process.exitCode = reportError(err, invoked);
  // Open gRPC connections would keep a failed command alive.
  setTimeout(() => process.exit(), 100).unref();
});
