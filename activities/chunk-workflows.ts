import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';

/**
 * Which of a job's chunk workflows have closed. A chunk reports its end to the job by signal before it closes, so
 * one that is closed while the job still counts it as open died without a word (terminated, or its last report
 * lost): the job must stop waiting for it. Asked of Temporal itself, with the worker's own client.
 */
export function chunkWorkflowActivities() {
  return {
    async closedWorkflows(args: { workflowIds: string[] }): Promise<{ workflowId: string; status: string }[]> {
      const { client } = Context.current();
      const closed: { workflowId: string; status: string }[] = [];
      for (const workflowId of args.workflowIds) {
        try {
          const { status } = await client.workflow.getHandle(workflowId).describe();
          if (status.name !== 'RUNNING') closed.push({ workflowId, status: status.name });
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          closed.push({ workflowId, status: 'NOT_FOUND' });
        }
      }
      return closed;
    },
  };
}
