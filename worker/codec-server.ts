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
const LOGIN_PATH = '/login';
const SESSION_COOKIE = 'claude_batch_codec';
const LOGIN_FORM =
  '<!doctype html><title>claude-batch codec server</title><form method="post" action="/login">' +
  '<label>Codec token <input name="token" type="password" autocomplete="off"></label> <button>Sign in</button></form>';

/** One cookie's value from a Cookie header. */
function cookieOf(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

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
  // The sign-in form posts url-encoded; fastify reads only JSON by itself.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

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
    if (req.method === 'OPTIONS' || o.authToken === null || req.url.split('?')[0] === LOGIN_PATH) return;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    const cookie = cookieOf(req.headers.cookie, SESSION_COOKIE);
    const token = bearer ?? cookie;
    if (!token || !sameSecret(token, o.authToken))
      return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ message: 'unauthorized' });
  });

  /**
   * Sign-in for the web UI, which cannot send a bearer token of ours: whoever holds the token posts it here once,
   * and gets it back as an HttpOnly cookie that the browser sends with the UI's codec calls (the UI's "include
   * credentials" setting). The UI and this server are the same site (ports do not count), so SameSite=Strict holds.
   */
  app.get(LOGIN_PATH, async (_req, reply) => reply.type('text/html').send(LOGIN_FORM));
  app.post(LOGIN_PATH, async (req, reply) => {
    const token = (req.body as { token?: unknown } | null)?.token;
    if (o.authToken === null) return reply.type('text/html').send('<p>No token is needed here.</p>');
    if (typeof token !== 'string' || !sameSecret(token, o.authToken))
      return reply.code(401).type('text/html').send('<p>Wrong token.</p>');
    return reply
      .header('Set-Cookie', `${SESSION_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`)
      .type('text/html')
      .send('<p>Signed in: the Temporal UI can decrypt payloads in this browser now.</p>');
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
