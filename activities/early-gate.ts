import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { EARLY_GATE_QUERY, type EarlyGate } from '../shared/early-create.js';

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
  for (let wait = 50; ; wait = Math.min(wait * 2, 500)) {
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

/** Throws once the connection of a held create has been idle longer than `holdMs`. */
export function idleWithin(idleSince: number, holdMs: number): void {
  if (Date.now() - idleSince > holdMs)
    throw new CreateWithdrawn(`the create waited ${(holdMs / 1000).toFixed(1)} s with its connection idle`);
}
