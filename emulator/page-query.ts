import { invalidRequest } from './errors.js';

type QueryValue = string | string[] | undefined;

/** `limit`, `before_id` and `after_id` of a list endpoint, checked as the API checks them (same messages). */
export function pageQuery(query: Record<string, QueryValue>): { limit: number; beforeId?: string; afterId?: string } {
  const one = (v: QueryValue) => (Array.isArray(v) ? v.at(-1) : v);
  const rawLimit = one(query.limit);
  const beforeId = one(query.before_id);
  const afterId = one(query.after_id);
  let limit = 20;
  if (rawLimit !== undefined) {
    if (!/^-?\d+$/.test(rawLimit))
      throw invalidRequest('limit: Input should be a valid integer, unable to parse string as an integer');
    limit = Number(rawLimit);
    if (limit < 1) throw invalidRequest('limit: Input should be greater than or equal to 1');
    if (limit > 1000) throw invalidRequest('limit: Input should be less than or equal to 1000');
  }
  if (beforeId !== undefined && afterId !== undefined)
    throw invalidRequest('before_id and after_id cannot both be set');
  return { limit, ...(beforeId !== undefined ? { beforeId } : {}), ...(afterId !== undefined ? { afterId } : {}) };
}
