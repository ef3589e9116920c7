import type { S3Client } from '@aws-sdk/client-s3';
import { Counter } from 'prom-client';

/**
 * What the worker's S3 clients send to and get from S3: requests by operation, and bytes. S3 bills per request
 * (PUT/COPY/POST/LIST at about 12× GET/HEAD) and, outside its region, per byte; these are what docs/scaling.md
 * measures a job by. Counted here rather than in activities/metrics.ts because storage/ must not import
 * activities/ (activities import storage/); they are registered with no registry here and added to the worker's
 * by activities/metrics.ts. Every process counts into them, read or not (the CLI's `results` has no endpoint).
 */
export const storageRequests = new Counter({
  name: 'claude_batch_storage_requests_total',
  help: 'HTTP requests sent to S3, by operation (each attempt of a request the SDK retries counts, as S3 bills it)',
  labelNames: ['operation'] as const,
  registers: [],
});

export const storageBytes = new Counter({
  name: 'claude_batch_storage_bytes_total',
  help: 'Bytes of request and response bodies to and from S3 (sent: content length of bodies; received: the Content-Length of responses, even of a read stopped early)',
  labelNames: ['direction'] as const,
  registers: [],
});
// Both series exist from the start, so a rate over them is 0 rather than absent on a worker that has not used S3.
storageBytes.inc({ direction: 'sent' }, 0);
storageBytes.inc({ direction: 'received' }, 0);

interface Wire {
  method?: string;
  headers?: Record<string, string | undefined>;
  body?: unknown;
}

/** A header's number, whatever its case (the SDK writes them lower-case, but a caller's own may not be). */
function headerNumber(headers: Wire['headers'], name: string): number | undefined {
  for (const [k, v] of Object.entries(headers ?? {}))
    if (k.toLowerCase() === name && v !== undefined && /^\d+$/.test(v.trim())) return Number(v);
  return undefined;
}

/** The request body's size: its payload length when the SDK frames it (aws-chunked), else its length, if known. */
function sentBytes(request: Wire): number {
  const decoded = headerNumber(request.headers, 'x-amz-decoded-content-length');
  if (decoded !== undefined) return decoded;
  const length = headerNumber(request.headers, 'content-length');
  if (length !== undefined) return length;
  if (typeof request.body === 'string') return Buffer.byteLength(request.body);
  if (request.body instanceof Uint8Array) return request.body.byteLength;
  return 0; // a stream of unknown length: not counted (the SDK sets a Content-Length on everything we send)
}

/** A response body's size. A HEAD response's Content-Length is the object's, with no body sent: 0. */
function receivedBytes(request: Wire, response: Wire | undefined): number {
  if (!response || request.method === 'HEAD') return 0;
  return headerNumber(response.headers, 'content-length') ?? 0;
}

/**
 * Counts every request `client` sends. One middleware at the end of the deserialize step, the innermost place of
 * the stack: it sees the signed request as it goes out and the raw response before it is parsed, once per HTTP
 * attempt (the retry middleware is outside it, in finalizeRequest), errors included — S3 bills a 404 or 503 too.
 */
export function countS3Traffic(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as Wire;
      const operation = (context.commandName ?? 'unknown').replace(/Command$/, '');
      storageRequests.inc({ operation });
      storageBytes.inc({ direction: 'sent' }, sentBytes(request));
      const result = await next(args);
      storageBytes.inc({ direction: 'received' }, receivedBytes(request, result.response as Wire | undefined));
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'claudeBatchS3Traffic', override: true },
  );
}
