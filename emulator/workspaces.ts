import { apiKeyIdOf } from './api-keys.js';

/** Where every key lives unless the `workspaces` fault maps it elsewhere (one workspace, as before workspaces). */
export const DEFAULT_WORKSPACE = 'default';

/**
 * The workspace of an API key. The real API scopes batches to the key's workspace: any key of it sees all of its
 * batches, a key of another workspace none. The mapping may name the key itself or its `key_…` id, so a test can
 * configure keys it only knows from /_emulator/stats.
 */
export function workspaceOf(key: string, mapping: Readonly<Record<string, string>>): string {
  return mapping[key] ?? mapping[apiKeyIdOf(key)] ?? DEFAULT_WORKSPACE;
}
