import { batchStatusActivities } from './batch-status.js';
import { chunkWorkflowActivities } from './chunk-workflows.js';
import type { ActivityDeps } from './deps.js';
import { estimateActivities } from './estimate.js';
import { fetchActivities } from './fetch.js';
import { finalizeActivities } from './finalize.js';
import { notifyActivities } from './notify.js';
import { preflightActivities } from './preflight.js';
import { prepareActivities } from './prepare.js';
import { retryRoundActivities } from './retry-round.js';
import { submitActivities } from './submit.js';
import { submitInOrderActivities } from './submit-in-order.js';
import { syncAnswerActivities } from './sync-answers.js';

/** Every activity of a batch job, bound to the worker's storage, Anthropic client and config. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...preflightActivities(deps),
    ...prepareActivities(deps),
    ...estimateActivities(deps),
    ...submitActivities(deps),
    ...submitInOrderActivities(deps),
    ...batchStatusActivities(deps),
    ...fetchActivities(deps),
    ...notifyActivities(deps),
    ...retryRoundActivities(deps),
    ...syncAnswerActivities(deps),
    ...finalizeActivities(deps),
    ...chunkWorkflowActivities(),
  };
}

export type BatchActivities = ReturnType<typeof createActivities>;
export type { ActivityDeps };
