import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The key a request authenticates with: `x-api-key`, or `Authorization: Bearer` (what the TS SDK 1.x sends). */
export function apiKeyOf(headers: IncomingHttpHeaders): string | null {
  const direct = headers['x-api-key'];
  if (typeof direct === 'string' && direct.length > 0) return direct;
  const auth = headers.authorization;
  const bearer = typeof auth === 'string' ? /^Bearer\s+(.+)$/i.exec(auth)?.[1] : undefined;
  return bearer && bearer.length > 0 ? bearer : null;
}

/** A stable, non-secret name for an API key in stats and on disk: the key itself is never stored. */
export function apiKeyIdOf(key: string): string {
  return `key_${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}
