import { PriceTableSchema, withPrices, type ModelPrice, type PriceTable } from '../shared/pricing.js';
import type { ActivityDeps } from './deps.js';

/**
 * The one price table a job is costed with, fixed when it is estimated: the worker's table plus the prices the
 * user gave for the job. Kept in the job's folder, so the estimate, every chunk's cost and the report agree even
 * when the worker's table is replaced while the job runs; jobs of older builds have none and use the worker's.
 */
const uriOf = (deps: ActivityDeps, jobDir: string) => deps.store.join(jobDir, 'prices.json');

export async function saveJobPrices(
  deps: ActivityDeps,
  jobDir: string,
  own: Record<string, ModelPrice> | undefined,
): Promise<PriceTable> {
  const table = withPrices(deps.prices, own);
  await deps.store.writeJson(uriOf(deps, jobDir), table);
  return table;
}

export async function jobPrices(deps: ActivityDeps, jobDir: string): Promise<PriceTable> {
  const uri = uriOf(deps, jobDir);
  if (!(await deps.store.exists(uri))) return deps.prices;
  return PriceTableSchema.parse(await deps.store.readJson(uri));
}
