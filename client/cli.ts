#!/usr/bin/env node
import { Command } from 'commander';
import { approveCommand, rejectCommand } from './commands/approval.js';
import { cancelCommand } from './commands/cancel.js';
import { devCommand } from './commands/dev.js';
import { doctorCommand } from './commands/doctor.js';
import { emulatorCommand } from './commands/emulator.js';
import { estimateCommand } from './commands/estimate.js';
import { listCommand } from './commands/list.js';
import { resultsCommand } from './commands/results.js';
import { runCommand } from './commands/run.js';
import { scheduleCommand } from './commands/schedule.js';
import { statusCommand, watchCommand } from './commands/status.js';
import { workerCommand } from './commands/worker.js';
import { reportError } from './cli-errors.js';

const program = new Command('claude-batch')
  .description('Run large Claude jobs through the Message Batches API as durable Temporal workflows')
  .showHelpAfterError('(run with --help for usage)')
  .addCommand(runCommand())
  .addCommand(estimateCommand())
  .addCommand(statusCommand())
  .addCommand(watchCommand())
  .addCommand(approveCommand())
  .addCommand(rejectCommand())
  .addCommand(cancelCommand())
  .addCommand(resultsCommand())
  .addCommand(listCommand())
  .addCommand(scheduleCommand())
  .addCommand(devCommand())
  .addCommand(workerCommand())
  .addCommand(doctorCommand())
  .addCommand(emulatorCommand());

for (const cmd of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)])
  cmd.showHelpAfterError('(run with --help for usage)');

program.parseAsync(process.argv).catch((err: unknown) => {
  process.exitCode = reportError(err);
  // Open gRPC connections would keep a failed command alive.
  setTimeout(() => process.exit(), 100).unref();
});
