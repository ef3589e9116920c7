import { createHash } from 'node:crypto';

/**
 * Names an Anthropic workspace without revealing its key: a truncated SHA-256 of the API's base URL and either the
 * operator's name for the workspace (`CLAUDE_BATCH_WORKSPACE`, so that several keys of one workspace share one
 * submitter) or the key. An API key is a long random secret, so its hash gives nothing away; the fingerprint ends
 * up in a workflow id, visible to everyone with access to the namespace.
 */
export function workspaceFingerprint(baseUrl: string, apiKey: string, workspace?: string): string {
  const who = workspace ? `workspace:${workspace}` : `key:${apiKey}`;
  return createHash('sha256')
    .update(`claude-batch submitter\n${baseUrl.replace(/\/+$/, '')}\n${who}`)
    .digest('hex')
    .slice(0, 20);
}
