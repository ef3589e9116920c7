import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Payload, PayloadCodec } from '@temporalio/common';

/**
 * Temporal's remote codec protocol, as the web UI and `temporal --codec-endpoint` speak it: `POST …/encode` and
 * `POST …/decode`, each with `{"payloads":[…]}` in protobuf JSON (every bytes field base64), answering the same
 * shape. Only the last path segment counts, so `/{namespace}/decode` works as well as `/decode`.
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /** The bearer token every encode/decode must carry; null only where the caller allowed that (loopback). */
  authToken: string | null;
  /** Origins of web UIs allowed to call from the browser (`*`: any). */
  corsOrigins: string[];
  host: string;
  port: number;
}

export interface RunningCodecServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

const ALLOWED_HEADERS = 'Authorization, Content-Type, X-Namespace';

function fromJson(p: JsonPayload): Payload {
  if (typeof p !== 'object' || p === null) throw new Error('a payload is not an object');
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

/** Hashing first makes the comparison constant-time whatever the lengths. */
const sameSecret = (given: string, expected: string) =>
  timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());

export async function startCodecServer(o: CodecServerOptions): Promise<RunningCodecServer> {
  // Histories hold payloads of up to Temporal's 2 MB blob limit; the UI may send several at once.
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });

  const allowOrigin = (req: FastifyRequest, reply: FastifyReply) => {
    const origin = req.headers.origin;
    if (!origin || !(o.corsOrigins.includes('*') || o.corsOrigins.includes(origin))) return;
    reply.header('Access-Control-Allow-Origin', origin);
    reply.header('Access-Control-Allow-Credentials', 'true');
    reply.header('Vary', 'Origin');
  };

  app.addHook('onRequest', async (req, reply) => {
    allowOrigin(req, reply);
    // A browser's preflight carries no credentials: it only asks what the real request may send.
    if (req.method === 'OPTIONS' || o.authToken === null) return;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (!bearer || !sameSecret(bearer, o.authToken))
      return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ message: 'unauthorized' });
  });

  app.options('/*', async (_req, reply) =>
    reply
      .code(204)
      .header('Access-Control-Allow-Methods', 'POST, OPTIONS')
      .header('Access-Control-Allow-Headers', ALLOWED_HEADERS)
      .header('Access-Control-Max-Age', '600')
      .send(),
  );

  app.post('/*', async (req, reply) => {
    const action = req.url.split('?')[0]!.split('/').filter(Boolean).at(-1);
    if (action !== 'encode' && action !== 'decode') return reply.code(404).send({ message: 'not found' });
    const payloads = (req.body as { payloads?: unknown } | null)?.payloads;
    if (!Array.isArray(payloads)) return reply.code(400).send({ message: 'expected {"payloads": [...]}' });
    try {
      const input = (payloads as JsonPayload[]).map(fromJson);
      const output = action === 'encode' ? await o.codec.encode(input) : await o.codec.decode(input);
      return { payloads: output.map(toJson) };
    } catch (err) {
      // The codec's messages name key ids, never keys or payload contents.
      return reply.code(400).send({ message: err instanceof Error ? err.message : String(err) });
    }
  });

  await app.listen({ host: o.host, port: o.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return { url: `http://${host}:${port}`, port, close: () => app.close() };
}
