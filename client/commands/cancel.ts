import { Command } from 'commander';
import { UserError } from '../cli-errors.js';
import { connectClient } from '../connection.js';
import { closedOutcome, findJob } from '../jobs.js';
import { commandName } from '../command-name.js';

export function cancelCommand(): Command {
  return new Command('cancel')
    .description(
      'Cancel a job: its open batches are canceled, whatever finished is collected, and the output and report are written',
    )
    .argument('<job>', 'job id (workflow id)')
    .option('--wait', 'wait until the job has finalized', false)
    .action(async (id: string, o: { wait: boolean }) => {
      const client = await connectClient();
      const { handle, description } = await findJob(client, id);
      if (description.status.name !== 'RUNNING')
        throw new UserError(
          `job ${id} has already ended (${description.status.name.toLowerCase()})`,
          `\`${commandName()} status ${id}\` shows how it ended`,
        );
      await handle.cancel();
      console.log(`cancel requested for job ${id}: open batches are being canceled, finished results kept.`);
      if (o.wait) {
        await closedOutcome(handle);
        console.log(`job ${id} is canceled; \`${commandName()} status ${id}\` shows what was collected.`);
      } else console.log(`  follow it: ${commandName()} watch ${id}`);
      await client.connection.close();
    });
}
