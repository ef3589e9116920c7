import { DefaultLogger, type LogEntry } from '@temporalio/worker';

const KEEP = ['workflowId', 'activityType', 'attempt', 'chunk', 'batchId', 'error'] as const;

/**
 * Worker logs for a person at a terminal (`dev`, the demo): warnings and errors on one line with the fields that
 * say what happened — not the full metadata (task tokens, run ids) that a log pipeline wants.
 */
export function consoleLogger(level: 'WARN' | 'INFO' = 'WARN'): DefaultLogger {
  return new DefaultLogger(level, (entry: LogEntry) => {
    const meta = entry.meta ?? {};
    const fields = KEEP.filter((k) => meta[k] !== undefined).map((k) => `${k}=${String(meta[k])}`);
    console.error(
      `worker ${entry.level.toLowerCase()}: ${entry.message}${fields.length ? ` (${fields.join(', ')})` : ''}`,
    );
  });
}
