import type { ActivityDeps } from './deps.js';

/** What every batch create of a job sends besides its requests: the `anthropic-beta` values. */
export interface CreateOptions {
  betas: string[];
}

/**
 * Written by validation (which checked max_tokens against the caps these betas allow) and read by each create,
 * retry rounds included, so the two always agree; jobs of older builds have none and send no beta.
 */
const uriOf = (deps: ActivityDeps, jobDir: string) => deps.store.join(jobDir, 'create-options.json');

export async function saveCreateOptions(deps: ActivityDeps, jobDir: string, options: CreateOptions): Promise<void> {
  await deps.store.writeJson(uriOf(deps, jobDir), options);
}

export async function createOptionsOf(deps: ActivityDeps, jobDir: string): Promise<CreateOptions> {
  const uri = uriOf(deps, jobDir);
  return (await deps.store.exists(uri)) ? deps.store.readJson<CreateOptions>(uri) : { betas: [] };
}

/** The create's extra headers. */
export const createHeaders = (o: CreateOptions): Record<string, string> =>
  o.betas.length ? { 'anthropic-beta': o.betas.join(',') } : {};
