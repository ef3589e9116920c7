#!/usr/bin/env node
import { Command } from 'commander';
import { devCommand } from './commands/dev.js';
import { doctorCommand } from './commands/doctor.js';
import { emulatorCommand } from './commands/emulator.js';
import { workerCommand } from './commands/worker.js';
import { reportError } from './cli-errors.js';

const program = new Command('claude-batch')
  .description('Run large Claude jobs through the Message Batches API as durable Temporal workflows')
  .showHelpAfterError('(run with --help for usage)')
  .addCommand(devCommand())
  .addCommand(workerCommand())
  .addCommand(doctorCommand())
  .addCommand(emulatorCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.exitCode = reportError(err);
});
