import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { BatchActivities } from '../activities/index.js';
import type { PreflightResult } from '../activities/preflight.js';
import { jobInputOrFail, type JobInputRaw } from '../shared/job-input.js';
import { expandUriTemplate, URI_TEMPLATE_FIELDS } from '../shared/uri-template.js';

/**
 * The pre-flight of a job that will start later (a Schedule), on a worker: only a worker knows its allowed roots
 * and sees its disk. URI templates are expanded as of now; an input that uses one may not exist yet, so only its
 * folder is checked then.
 */
export async function checkJobFiles(raw: JobInputRaw): Promise<PreflightResult> {
  const job = jobInputOrFail(raw);
  const { workflowId, startTime } = workflowInfo();
  const expand = (uri: string) => expandUriTemplate(uri, startTime, workflowId);
  const acts = proxyActivities<BatchActivities>({
    startToCloseTimeout: '1m',
    retry: { initialInterval: '1s', maximumAttempts: 3 },
  });
  return acts.preflightJob({
    input: expand(job.input),
    output: expand(job.output),
    report: job.report ? expand(job.report) : undefined,
    overwrite: job.overwrite,
    scheduled: true,
    inputMayAppear: URI_TEMPLATE_FIELDS.some((f) => job.input.includes(f)),
  });
}
