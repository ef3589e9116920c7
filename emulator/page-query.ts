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

/**
 * One page of a newest-first list, as the API pages: `limit` items after `afterId` or before `beforeId`.
 * `indexOf` finds a cursor (−1 when there is none); an unknown cursor is refused as the API refuses it.
 */
export function pageOf<T>(
  all: T[],
  q: { limit: number; beforeId?: string; afterId?: string },
  indexOf: (id: string) => number,
  what: string,
): { page: T[]; hasMore: boolean } {
  const at = (id: string, field: string) => {
    const i = indexOf(id);
    if (i < 0) throw invalidRequest(`${field}: no ${what} with id '${id}'`);
    return i;
  };
  if (q.afterId !== undefined) {
    const i = at(q.afterId, 'after_id');
    return { page: all.slice(i + 1, i + 1 + q.limit), hasMore: i + 1 + q.limit < all.length };
  }
  if (q.beforeId !== undefined) {
    const i = at(q.beforeId, 'before_id');
    return { page: all.slice(Math.max(0, i - q.limit), i), hasMore: i - q.limit > 0 };
  }
  return { page: all.slice(0, q.limit), hasMore: all.length > q.limit };
}
