import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateStage } from '@temporalio/client';
import { EARLY_GATE_QUERY, type EarlyGate } from '../shared/early-create.js';
import { CREATE_SLOT_UPDATE } from '../shared/submission.js';

/** A held create gives up: nothing was created, and the chunk is submitted the usual way once the job starts it. */
export class CreateWithdrawn extends Error {}

/**
 * Asks the job, by query, whether the held create of its first chunk may finish, until it answers 'go' or
 * 'withdraw' — or until `idleSince` is more than `holdMs` ago, since a server closes an upload that stalls for long.
 */
export async function awaitEarlyGate(
  jobId: string,
  chunkId: string,
  idleSince: number,
  holdMs: number,
): Promise<{ digest: string }> {
  const { client } = Context.current();
  const job = client.workflow.getHandle(jobId);
  for (let wait = 50; ; wait = Math.min(wait * 2, 200)) {
    let gate: EarlyGate;
    try {
      gate = await job.query<EarlyGate, [string]>(EARLY_GATE_QUERY, chunkId);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new CreateWithdrawn(`job ${jobId} is not there`);
      gate = { gate: 'wait' }; // the job's worker is busy or restarting: ask again
    }
    if (gate.gate === 'go') return gate;
    if (gate.gate === 'withdraw') throw new CreateWithdrawn(gate.reason);
    idleWithin(idleSince, holdMs);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * Waits until this held create holds its workspace's create slot (shared/create-slot.ts), asked of the submitter
 * running it — or gives up, like the gate, once the connection has been idle longer than `holdMs`. The slot is the
 * create's until its activity settles, retries included.
 */
export async function takeCreateSlot(key: string, idleSince: number, holdMs: number): Promise<void> {
  const { client, info } = Context.current();
  const submitterId = info.workflowExecution?.workflowId;
  if (!submitterId) throw new CreateWithdrawn('no submitter runs this create');
  const submitter = client.workflow.getHandle(submitterId);
  let granted: Promise<boolean>;
  try {
    const update = await submitter.startUpdate<void, [string]>(CREATE_SLOT_UPDATE, {
      args: [key],
      updateId: `${key}/slot`,
      waitForStage: WorkflowUpdateStage.ACCEPTED,
    });
    granted = update.result().then(
      () => true,
      (err: unknown) => {
        throw new CreateWithdrawn(`the submitter refused the create slot: ${String(err)}`);
      },
    );
  } catch (err) {
    throw new CreateWithdrawn(`the submitter refused the create slot: ${(err as Error).message}`);
  }
  const { cancellationSignal } = Context.current();
  const tick = () => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20));
  while (!(await Promise.race([granted, tick()]))) {
    // Canceled while in line (its job dropped it): out of the line at once, not once the slot comes.
    if (cancellationSignal.aborted) throw new CreateWithdrawn('canceled while waiting for the create slot');
    idleWithin(idleSince, holdMs);
  }
}

/** Throws once the connection of a held create has been idle longer than `holdMs`. */
export function idleWithin(idleSince: number, holdMs: number): void {
  if (Date.now() - idleSince > holdMs)
    throw new CreateWithdrawn(`the create waited ${(holdMs / 1000).toFixed(1)} s with its connection idle`);
}
