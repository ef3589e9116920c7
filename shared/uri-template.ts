/**
 * `{date}` and friends in input/output URIs, so one Schedule writes a new file every night. Expanded once, from
 * the workflow's start time (deterministic: the same on every replay), and carried across continue-as-new.
 */
export function expandUriTemplate(uri: string, at: Date, workflowId: string): string {
  const iso = at.toISOString();
  const date = iso.slice(0, 10);
  const time = iso.slice(11, 19).replaceAll(':', '');
  return uri
    .replaceAll('{date}', date)
    .replaceAll('{time}', time)
    .replaceAll('{datetime}', `${date}T${time}Z`)
    .replaceAll('{jobId}', workflowId.replace(/[^A-Za-z0-9_.-]+/g, '_'));
}

export const URI_TEMPLATE_FIELDS = ['{date}', '{time}', '{datetime}', '{jobId}'] as const;
