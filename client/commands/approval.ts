import { Command } from 'commander';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { approveUpdate, rejectUpdate } from '../../workflows/messages.js';
import { UserError } from '../cli-errors.js';
import { connectClient } from '../connection.js';
import { failureMessage, findJob } from '../jobs.js';
import { approverName } from '../job-options.js';
import { commandName } from '../command-name.js';

function approvalCommand(name: 'approve' | 'reject'): Command {
  return new Command(name)
    .description(
      name === 'approve'
        ? 'Approve a job that waits for cost approval: its batches are submitted'
        : 'Reject a job that waits for cost approval: nothing is submitted and the job ends',
    )
    .argument('<job>', 'job id (workflow id)')
    .option('--by <name>', 'who decides (recorded in the job)', approverName())
    .option('--reason <text>', 'why (recorded in the job)')
    .action(async (id: string, o: { by: string; reason?: string }) => {
      const client = await connectClient();
      const { handle, description } = await findJob(client, id);
      const seeStatus = `\`${commandName()} status ${id}\` shows its phase and approval`;
      if (description.status.name !== 'RUNNING')
        throw new UserError(`job ${id} has already ended (${description.status.name.toLowerCase()})`, seeStatus);
      try {
        const approval = await handle.executeUpdate(name === 'approve' ? approveUpdate : rejectUpdate, {
          args: [{ by: o.by, ...(o.reason ? { reason: o.reason } : {}) }],
        });
        console.log(`job ${id}: ${approval.state} by ${approval.by ?? o.by}`);
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError)
          throw new UserError(`cannot ${name} job ${id}: ${failureMessage(err)}`, seeStatus);
        throw err;
      }
      await client.connection.close();
    });
}

export const approveCommand = () => approvalCommand('approve');
export const rejectCommand = () => approvalCommand('reject');
