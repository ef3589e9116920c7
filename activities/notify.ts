import { activityInfo, log } from '@temporalio/activity';
import type { ActivityDeps } from './deps.js';
import { expiryWarnings } from './metrics.js';

export interface ExpiryNotice {
  webhook: string | null;
  jobId: string;
  chunkId: string;
  batchId: string;
  expiresAt: string;
  counts: Record<string, number>;
}

/**
 * The expiry warning, outside the workflow: a log line always, and a POST to the job's webhook when the worker's
 * allow-list (CLAUDE_BATCH_WEBHOOK_ALLOWLIST, URL prefixes) admits it. A refused or failing webhook never fails
 * the job.
 */
export function notifyActivities(deps: ActivityDeps) {
  return {
    async notifyExpiring(notice: ExpiryNotice): Promise<{ delivered: boolean; detail: string }> {
      // Retries are for the webhook; the warning is one.
      if (activityInfo().attempt === 1) expiryWarnings.inc();
      log.warn(
        `batch ${notice.batchId} of ${notice.jobId} (${notice.chunkId}) has not ended and expires at ${notice.expiresAt}`,
      );
      if (!notice.webhook) return { delivered: false, detail: 'no webhook configured' };
      if (!deps.webhookAllowlist.some((prefix) => notice.webhook!.startsWith(prefix))) {
        log.warn(`webhook ${notice.webhook} is not in CLAUDE_BATCH_WEBHOOK_ALLOWLIST; not called`);
        return { delivered: false, detail: 'webhook not allow-listed by the worker' };
      }
      const res = await fetch(notice.webhook, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event: 'batch.expiring', ...notice, webhook: undefined }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`webhook answered ${res.status}`);
      return { delivered: true, detail: `webhook answered ${res.status}` };
    },
  };
}
