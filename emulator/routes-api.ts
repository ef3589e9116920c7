import { createReadStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { archivedAt, isoMicros, toApiBatch } from './batch-record.js';
import { ApiError, invalidRequest, notFound } from './errors.js';
import { tooLarge } from './ingest.js';
import { checkParams } from './model-checks.js';
import { ProcessingSchema, type ProcessingInput } from './options.js';
import type { ProcessingModel } from './processing.js';
import { pageOf, pageQuery } from './page-query.js';
import { respond } from './respond.js';
import type { EmulatorContext } from './server.js';
import { shuffledResults } from './shuffled-results.js';
import { countInputTokens } from './tokenizer.js';

type IdParams = { Params: { id: string } };
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The public API: /v1/messages/batches*, /v1/messages/count_tokens and /v1/messages. */
export function registerApiRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const { store, clock, options } = ctx;
  /** Results downloads per batch, so that each one of a batch is shuffled differently (`shuffleResults`). */
  const downloads = new Map<string, number>();
  const resultsBase = (req: FastifyRequest) => {
    if (options.publicUrl) return options.publicUrl.replace(/\/$/, '');
    const proto = (req.headers['x-forwarded-proto'] as string | undefined)?.split(',')[0] ?? 'http';
    return `${proto}://${req.headers.host ?? `${options.host}:${options.port}`}`;
  };
  const view = (req: FastifyRequest, record: Awaited<ReturnType<typeof store.get>>) =>
    toApiBatch(record, clock.now(), resultsBase(req), store.countsOf(record));

  // Create reads its body as a stream: up to 256 MB is parsed and written to disk as it arrives.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    scope.post('/v1/messages/batches', { config: { endpoint: 'create' } }, async (req, reply) => {
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (declared > options.maxBatchBytes) {
        req.raw.resume(); // let the client finish sending, so it can read the answer
        void reply.header('connection', 'close');
        throw tooLarge(options.maxBatchBytes);
      }
      if (!req.body) throw invalidRequest('requests: Field required');
      const processing = processingFor(req.headers['x-emulator-processing'], ctx.processing);
      const record = await store.create(
        req.body as Readable,
        { apiKeyId: req.apiKeyId, workspaceId: req.workspaceId, foreign: false },
        processing,
        betasOf(req.headers['anthropic-beta']),
      );
      await ctx.foreign.afterCreate(record, processing);
      if (ctx.faults.takeCreateResponseLost()) {
        reply.hijack();
        req.raw.socket.destroy();
        return reply;
      }
      return view(req, record);
    });
  });

  app.get<{ Querystring: Record<string, string> }>(
    '/v1/messages/batches',
    { config: { endpoint: 'list' } },
    async (req) => {
      const query = pageQuery(req.query);
      await store.settleAll();
      const all = store.listed(req.workspaceId);
      const { page, hasMore } = pageOf(all, query, (id) => all.findIndex((r) => r.id === id), 'message batch');
      return {
        data: page.map((r) => view(req, r)),
        has_more: hasMore,
        first_id: page[0]?.id ?? null,
        last_id: page.at(-1)?.id ?? null,
      };
    },
  );

  app.get<IdParams>('/v1/messages/batches/:id', { config: { endpoint: 'retrieve' } }, async (req) =>
    view(req, await store.get(req.params.id, req.workspaceId)),
  );

  app.post<IdParams>('/v1/messages/batches/:id/cancel', { config: { endpoint: 'cancel' } }, async (req) =>
    view(req, await store.cancel(req.params.id, req.workspaceId)),
  );

  app.delete<IdParams>('/v1/messages/batches/:id', { config: { endpoint: 'delete' } }, async (req) => {
    await store.delete(req.params.id, req.workspaceId);
    return { id: req.params.id, type: 'message_batch_deleted' };
  });

  app.get<IdParams>('/v1/messages/batches/:id/results', { config: { endpoint: 'results' } }, async (req, reply) => {
    const record = await store.get(req.params.id, req.workspaceId);
    if (record.status !== 'ended')
      throw invalidRequest(`Batch '${record.id}' has not finished processing; results are available once it has ended`);
    if (clock.now() >= archivedAt(record))
      throw notFound(
        `Results of batch '${record.id}' are no longer available (archived at ${isoMicros(archivedAt(record))})`,
      );
    const file = path.join(store.dirOf(record.id), 'results.jsonl');
    const download = downloads.get(record.id) ?? 0;
    downloads.set(record.id, download + 1);
    let body: Readable = ctx.faults.shuffleResults
      ? shuffledResults(file, [ctx.faults.seed, record.id, download])
      : createReadStream(file);
    const cutAfter = ctx.faults.takeResultsCutoff();
    if (cutAfter !== null) {
      // The connection dies with this answer: no client may reuse it for its next request.
      void reply.header('connection', 'close');
      body = body.pipe(cutOff(cutAfter, () => req.raw.socket.destroy()));
    }
    const linesPerSecond = ctx.faults.resultsLinesPerSecond;
    if (linesPerSecond !== null) body = body.pipe(throttle(linesPerSecond));
    return reply.header('content-type', 'application/x-jsonl').send(body);
  });

  app.post('/v1/messages/count_tokens', { config: { endpoint: 'count_tokens' } }, async (req) => {
    const params = messageBody(req.body);
    const checked = checkParams(params, ctx.catalog, { forCounting: true });
    if ('problem' in checked) throw new ApiError(checked.problem.status, checked.problem.message);
    const beta = 'beta' in (req.query as object) || req.headers['anthropic-beta'] !== undefined;
    const inputTokens = Math.max(1, Math.round(countInputTokens(params) * ctx.faults.countTokensScale));
    return beta ? { input_tokens: inputTokens, context_management: null } : { input_tokens: inputTokens };
  });

  app.post('/v1/messages', { config: { endpoint: 'messages' } }, async (req) => {
    const params = messageBody(req.body);
    if (params.stream === true)
      throw invalidRequest('stream: the emulator answers synchronous requests without streaming; send stream: false');
    // No batch betas here: the extended output betas are for Message Batches only.
    const checked = checkParams(params, ctx.catalog);
    if ('problem' in checked) throw new ApiError(checked.problem.status, checked.problem.message);
    const retryAfter = ctx.faults.messagesRetryAfter(req.apiKeyId, Date.now());
    if (retryAfter !== null)
      throw new ApiError(
        429,
        `This request would exceed the rate limit for your organization of ${ctx.faults.messagesRateLimit!.requests} requests per ${ctx.faults.messagesRateLimit!.perMs / 1000} seconds`,
        { 'retry-after': String(retryAfter) },
      );
    if (ctx.faults.messagesLatencyMs > 0) await new Promise((r) => setTimeout(r, ctx.faults.messagesLatencyMs));
    const now = clock.now();
    const { message, tokens } = respond(params, checked.model, ctx.cache, now, 'standard');
    ctx.ledger.recordSync(req.apiKeyId, now, checked.model.id, tokens);
    return message;
  });
}

/** `anthropic-beta` as the docs allow it: comma-separated, or the header repeated (which Node joins with commas). */
export function betasOf(header: string | string[] | undefined): string[] {
  return [header ?? []]
    .flat()
    .flatMap((value) => value.split(','))
    .map((beta) => beta.trim())
    .filter((beta) => beta !== '');
}

function messageBody(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw invalidRequest('Input should be a valid dictionary or object to extract fields from');
  return body;
}

/** Per-batch processing-time model from the `x-emulator-processing` header (JSON), over the defaults. */
function processingFor(header: string | string[] | undefined, defaults: ProcessingModel): ProcessingModel {
  if (typeof header !== 'string') return defaults;
  let parsed: ProcessingInput;
  try {
    parsed = JSON.parse(header) as ProcessingInput;
  } catch {
    throw invalidRequest('x-emulator-processing: header must be a JSON object');
  }
  const result = ProcessingSchema.safeParse({ ...defaults, ...parsed });
  if (!result.success) throw invalidRequest(`x-emulator-processing: ${result.error.issues[0]?.message ?? 'invalid'}`);
  return result.data;
}

/** Sends whole lines at most `perSecond` per second (a slow download). */
function throttle(perSecond: number): Transform {
  let carry = '';
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      const text = carry + chunk.toString('utf8');
      const cut = text.lastIndexOf('\n') + 1;
      carry = text.slice(cut);
      const lines = text.slice(0, cut).split('\n').slice(0, -1);
      const send = async () => {
        for (let i = 0; i < lines.length; i += Math.max(1, Math.floor(perSecond / 10))) {
          const batch = lines.slice(i, i + Math.max(1, Math.floor(perSecond / 10)));
          this.push(batch.join('\n') + '\n');
          await new Promise((resolve) => setTimeout(resolve, (1000 * batch.length) / perSecond));
        }
      };
      send().then(() => callback(), callback);
    },
    flush(callback) {
      callback(null, carry.length > 0 ? carry : undefined);
    },
  });
}

/** Passes `lines` complete lines and half of the next one, then drops the connection (a stream cut off midway). */
function cutOff(lines: number, drop: () => void): Transform {
  let seen = 0;
  let done = false;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      if (done) return callback();
      let at = 0;
      while (seen < lines) {
        const nl = chunk.indexOf(10, at);
        if (nl < 0) break;
        seen++;
        at = nl + 1;
      }
      if (seen < lines) return callback(null, chunk);
      const nextEnd = chunk.indexOf(10, at);
      const half = at + Math.floor(((nextEnd < 0 ? chunk.length : nextEnd) - at) / 2);
      done = true;
      this.push(chunk.subarray(0, Math.max(half, at)));
      setTimeout(drop, 50);
      callback();
    },
  });
}
