/** The task queue a `claude-batch` worker serves unless `CLAUDE_BATCH_TASK_QUEUE` says otherwise. */
export const DEFAULT_TASK_QUEUE = 'claude-batch';
