import path from 'node:path';
import { Command } from 'commander';
import { Runtime } from '@temporalio/worker';
import { startDevStack } from '../dev-stack.js';
import { consoleLogger } from '../console-logger.js';
import { DEFAULT_TASK_QUEUE } from '../../shared/task-queue.js';
import { port, positiveNumber } from '../parse-options.js';
import { UserError } from '../cli-errors.js';
import { installRuntimeWithMetrics } from '../../worker/metrics-server.js';

function envPort(name: string, value: string): number {
  try {
    return port(value);
  } catch {
    throw new UserError(`${name} is not a port number: ${value}`, `set ${name} to a port 0–65535, e.g. 9464`);
  }
}

export function devCommand(): Command {
  return new Command('dev')
    .description(
      'Start the whole local stack: Temporal dev server (SQLite under the data dir, web UI), the Batches API emulator (unless ANTHROPIC_API_KEY is set without ANTHROPIC_BASE_URL), and a worker. Ctrl-C stops it all.',
    )
    .option('-d, --data-dir <dir>', 'Temporal database, emulator state and job files', '.data/dev')
    .option('--temporal-port <port>', 'Temporal gRPC port', port, 7233)
    .option('--ui-port <port>', 'Temporal web UI port', port, 8233)
    .option('--emulator-port <port>', 'emulator port', port, 4010)
    .option(
      '--time-scale <n>',
      "emulator clock speed (60 = a minute per second); batches take the emulator's modelled time",
      positiveNumber,
      60,
    )
    .option(
      '--task-queue <name>',
      'task queue of the worker',
      process.env.CLAUDE_BATCH_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    )
    .action(
      async (o: {
        dataDir: string;
        temporalPort: number;
        uiPort: number;
        emulatorPort: number;
        timeScale: number;
        taskQueue: string;
      }) => {
        const runtime = { logger: consoleLogger(), shutdownSignals: [] };
        const metricsPort = process.env.CLAUDE_BATCH_METRICS_PORT;
        const metrics = metricsPort
          ? await installRuntimeWithMetrics(envPort('CLAUDE_BATCH_METRICS_PORT', metricsPort), runtime, '127.0.0.1')
          : null;
        if (!metrics) Runtime.install(runtime);
        const stack = await startDevStack({
          dataDir: path.resolve(o.dataDir),
          temporalPort: o.temporalPort,
          uiPort: o.uiPort,
          emulatorPort: o.emulatorPort,
          emulatorTimeScale: o.timeScale,
          taskQueue: o.taskQueue,
          log: (line) => console.log(line),
          portFlags: { temporal: '--temporal-port', ui: '--ui-port', emulator: '--emulator-port' },
        });
        console.log('claude-batch dev stack is up:');
        console.log(`  Temporal server   ${stack.temporalAddress}   (TEMPORAL_ADDRESS=${stack.temporalAddress})`);
        console.log(`  Temporal web UI   ${stack.uiUrl}`);
        console.log(
          `  Anthropic API     ${stack.anthropicUrl}${stack.emulator ? `   (emulator, ${o.timeScale}x clock)` : ''}`,
        );
        console.log(`  worker            task queue ${o.taskQueue}, data dir ${path.resolve(o.dataDir)}`);
        if (metrics) console.log(`  metrics           ${metrics.url}`);
        console.log('Press Ctrl-C to stop.');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        console.log('stopping…');
        await stack.stop();
        console.log('stopped.');
      },
    );
}
