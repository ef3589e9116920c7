import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { PriceList } from './billing.js';
import { loadModelCatalog, type ModelCatalog } from './catalog.js';
import { VirtualClock, type ClockState } from './clock.js';
import { ApiError, errorEnvelope, ERROR_TYPE_BY_STATUS, invalidRequest } from './errors.js';
import { FaultEngine } from './faults.js';
import { newRequestId } from './ids.js';
import { Ledger } from './ledger.js';
import { EmulatorOptionsSchema, type EmulatorOptions, type EmulatorOptionsInput } from './options.js';
import { PromptCache } from './prompt-cache.js';
import { registerAdminRoutes } from './routes-admin.js';
import { registerApiRoutes } from './routes-api.js';
import { registerModelRoutes } from './routes-models.js';
import { BatchStore } from './store.js';
import { apiKeyIdOf, apiKeyOf } from './api-keys.js';
import type { Endpoint } from './faults.js';
import { ForeignClient } from './foreign-client.js';
import { workspaceOf } from './workspaces.js';

export interface EmulatorContext {
  options: EmulatorOptions;
  clock: VirtualClock;
  faults: FaultEngine;
  store: BatchStore;
  foreign: ForeignClient;
  ledger: Ledger;
  cache: PromptCache;
  catalog: ModelCatalog;
  prices: PriceList;
  processing: EmulatorOptions['processing'];
}

export interface RunningEmulator {
  /** Base URL to give an SDK, e.g. http://127.0.0.1:4010 */
  url: string;
  port: number;
  context: EmulatorContext;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiKeyId: string;
    workspaceId: string;
    delayAfterMs: number;
  }
  interface FastifyContextConfig {
    endpoint?: Endpoint;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const ORGANIZATION_ID = '00000000-0000-4000-8000-00000000e301';

/** Starts the Anthropic Message Batches API emulator. State lives in `dataDir`; a restart on it loses nothing. */
export async function startEmulator(input: EmulatorOptionsInput): Promise<RunningEmulator> {
  const options = EmulatorOptionsSchema.parse(input);
  mkdirSync(options.dataDir, { recursive: true });
  const context = await openContext(options);
  const app = buildApp(context);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    context,
    close: async () => {
      await app.close();
      await context.foreign.close();
      await context.store.close();
    },
  };
}

async function openContext(options: EmulatorOptions): Promise<EmulatorContext> {
  const file = (name: string) => path.join(options.dataDir, name);
  const clock = new VirtualClock(resumeClock(file('clock.json'), options.timeScale), (state) =>
    writeFileSync(file('clock.json'), JSON.stringify(state)),
  );
  clock.setTimeScale(options.timeScale); // re-anchors, and persists the anchor
  const catalog = loadModelCatalog();
  const prices = PriceList.load(catalog);
  const ledger = new Ledger(file('ledger.jsonl'), prices);
  const cache = new PromptCache(
    existsSync(file('prompt-cache.json')) ? JSON.parse(readFileSync(file('prompt-cache.json'), 'utf8')) : {},
  );
  const faults = new FaultEngine(options.faults);
  const store = await BatchStore.open({
    dataDir: options.dataDir,
    clock,
    catalog,
    ledger,
    cache,
    faults,
    limits: { maxRequests: options.maxRequestsPerBatch, maxBytes: options.maxBatchBytes },
    incrementalCounts: options.incrementalCounts,
    cancelEnded: options.cancelEnded,
    onError: (err) => console.error('emulator: failed to end a batch:', err),
  });
  const foreign = new ForeignClient(store, faults, (err) => console.error('emulator: the foreign client failed:', err));
  return {
    options,
    clock,
    faults,
    store,
    foreign,
    ledger,
    cache,
    catalog,
    prices,
    processing: { ...options.processing },
  };
}

function resumeClock(file: string, timeScale: number): ClockState {
  if (!existsSync(file)) return VirtualClock.startingNow(timeScale);
  return JSON.parse(readFileSync(file, 'utf8')) as ClockState;
}

function buildApp(ctx: EmulatorContext): FastifyInstance {
  const { options } = ctx;
  const app = Fastify({
    logger: options.logRequests,
    genReqId: () => newRequestId(),
    bodyLimit: options.maxMessageBytes,
    forceCloseConnections: true,
  });
  app.decorateRequest('apiKeyId', '');
  app.decorateRequest('workspaceId', '');
  app.decorateRequest('delayAfterMs', 0);

  // JSON bodies of the small endpoints; an empty body (cancel) is allowed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    if (body === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      done(invalidRequest(`There was an error parsing the body of your request: ${(err as Error).message}`));
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('request-id', req.id);
    reply.header('anthropic-organization-id', ORGANIZATION_ID);
    const endpoint = req.routeOptions.config?.endpoint;
    if (!endpoint) return;
    const key = apiKeyOf(req.headers);
    if (!key) throw new ApiError(401, 'x-api-key header is required');
    if (options.apiKeys.length > 0 && !options.apiKeys.includes(key)) throw new ApiError(401, 'invalid x-api-key');
    req.apiKeyId = apiKeyIdOf(key);
    req.workspaceId = workspaceOf(key, ctx.faults.workspaces);
    if (!req.headers['anthropic-version']) throw invalidRequest('anthropic-version: header is required');
    const retryAfter = ctx.faults.rpmRetryAfter(req.apiKeyId, Date.now());
    if (retryAfter !== null)
      throw new ApiError(
        429,
        `This request would exceed your organization's rate limit of ${ctx.faults.rpm} requests per minute`,
        {
          'retry-after': String(retryAfter),
        },
      );
    const { delayMs, delayAfterMs, action } = ctx.faults.httpFaultFor(endpoint);
    req.delayAfterMs = delayAfterMs;
    if (delayMs > 0) await sleep(delayMs);
    if (action?.kind === 'reset') {
      reply.hijack();
      req.raw.socket.destroy();
      return reply;
    }
    if (action?.kind === 'status') throw new ApiError(action.status, action.message, action.headers);
  });

  app.addHook('onSend', async (req, reply) => {
    if (req.delayAfterMs > 0) await sleep(req.delayAfterMs);
    // The API's own time (virtual, possibly scaled), so a client can tell how far off e.g. a batch's expires_at is.
    void reply.header('date', new Date(ctx.clock.now()).toUTCString());
  });

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    const apiError = toApiError(err);
    if (apiError.status >= 500 && !(err instanceof ApiError)) req.log.error(err);
    void reply
      .code(apiError.status)
      .headers(apiError.headers)
      .send(errorEnvelope(apiError.type, apiError.message, req.id));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .send(errorEnvelope('not_found_error', `Not found: ${req.method} ${req.url.split('?')[0]}`, req.id));
  });

  registerApiRoutes(app, ctx);
  registerModelRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  return app;
}

function toApiError(err: FastifyError | ApiError): ApiError {
  if (err instanceof ApiError) return err;
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new ApiError(413, 'Request exceeds the maximum allowed number of bytes.');
  const status = err.statusCode ?? 500;
  if (status < 500 && ERROR_TYPE_BY_STATUS[status]) return new ApiError(status, err.message);
  return new ApiError(500);
}
