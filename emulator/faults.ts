import { z } from 'zod';
import type { OutcomeRates } from './outcomes.js';

export const ENDPOINTS = [
  'create',
  'retrieve',
  'list',
  'cancel',
  'delete',
  'results',
  'count_tokens',
  'messages',
  'models_list',
  'models_retrieve',
] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

const rate = z.number().min(0).max(1);

export const HttpFaultSchema = z
  .object({
    /** Which endpoint the rule applies to; `*` = every API endpoint. */
    endpoint: z.enum([...ENDPOINTS, '*']).default('*'),
    /** Answer with this status and the API's error envelope (e.g. 429, 500, 529). */
    status: z.number().int().min(400).max(599).optional(),
    message: z.string().optional(),
    /** `retry-after` header in seconds (429 gets 1 s when unset, as the real API always sends one). */
    retryAfter: z.number().min(0).optional(),
    retryAfterMs: z.number().min(0).optional(),
    /** `x-should-retry` header, which both official SDKs obey. */
    shouldRetry: z.boolean().optional(),
    /** Drop the connection without an answer. */
    reset: z.boolean().optional(),
    /** Delay the answer; alone, the request then proceeds normally ("slow response"). */
    delayMs: z.number().int().min(0).optional(),
    /** Delay the answer after the request has been carried out (a create then exists while its caller still waits). */
    delayAfterMs: z.number().int().min(0).optional(),
    /** Fire this many times, then stop. Unset = no limit. */
    times: z.number().int().min(1).optional(),
    /** Fire with this probability on each matching request. Unset = always. */
    probability: rate.optional(),
  })
  .strict()
  .refine((r) => r.status !== undefined || r.reset || r.delayMs !== undefined || r.delayAfterMs !== undefined, {
    message: 'a rule needs status, reset, delayMs or delayAfterMs',
  });
export type HttpFault = z.infer<typeof HttpFaultSchema>;

export const ForeignClientSchema = z
  .object({
    /** One foreign batch after every N of our creates (1 = after each). */
    everyCreates: z.number().int().min(1).default(1),
    /** Requests per foreign batch; unset = as many as the create that triggered it. */
    requests: z.number().int().min(1).max(100_000).optional(),
    /** Wall-clock delay after our create; 0 = before our create is answered. */
    delayMs: z.number().int().min(0).default(0),
    /** Create this many foreign batches, then stop. Unset = no limit. */
    times: z.number().int().min(1).optional(),
    /** Model of the foreign requests (any catalogue alias or snapshot). */
    model: z.string().min(1).default('claude-haiku-4-5'),
    /** Foreign custom_ids are `<prefix>-<index>`. */
    customIdPrefix: z
      .string()
      .regex(/^[a-zA-Z0-9_-]{1,40}$/)
      .default('foreign'),
  })
  .strict();
export type ForeignClientConfig = z.infer<typeof ForeignClientSchema>;

export const FaultsSchema = z
  .object({
    /** Seed of the per-request outcome draws. */
    seed: z.number().int().default(1),
    /** Share of requests (0–1) that end `errored` with each error type, or `expired` (never processed). */
    outcomes: z
      .object({ overloaded_error: rate, api_error: rate, invalid_request_error: rate, expired: rate })
      .partial()
      .strict()
      .default({}),
    http: z.array(HttpFaultSchema).default([]),
    /** The next N creates succeed but the connection drops before the answer (the duplicate-submission trap). */
    createResponseLost: z.number().int().min(0).default(0),
    /** For this long (wall-clock ms) after a create, the new batch answers 404 (eventual consistency). */
    notFoundAfterCreateMs: z.number().int().min(0).default(0),
    /** For this long (wall-clock ms, as notFoundAfterCreateMs) after a create, the new batch is missing from list. */
    listLagMs: z.number().int().min(0).default(0),
    /** Every results download returns the lines in a different order (seeded by seed, batch and download number). */
    shuffleResults: z.boolean().default(false),
    /** count_tokens answers this multiple of what a request is billed (an estimate built on it is then wrong). */
    countTokensScale: z.number().gt(0).max(100).default(1),
    /** Another tool on the same workspace, creating batches of the same size as ours at about the same time. */
    foreignClient: ForeignClientSchema.nullable().default(null),
    /**
     * Workspace of each API key (the key itself, or its `key_…` id from stats → any workspace name). Unlisted keys
     * are in the default workspace. A batch is visible only to keys of the workspace it was created in.
     */
    workspaces: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** Cut the next `times` results streams after `afterLines` lines, in the middle of the next line. */
    resultsCutoff: z
      .object({ afterLines: z.number().int().min(0), times: z.number().int().min(1).default(1) })
      .strict()
      .nullable()
      .default(null),
    /** Results streams send at most this many lines per second (slow downloads). */
    resultsLinesPerSecond: z.number().positive().nullable().default(null),
    /** Org-wide limit on requests waiting in the processing queue; a create above it gets 429. */
    queueLimit: z.number().int().positive().nullable().default(null),
    /** Requests per minute per API key on the API endpoints (wall clock); above it, 429. */
    rpm: z.number().int().positive().nullable().default(null),
    /**
     * The synchronous Messages API's own limit per API key: at most `requests` answers started in any `perMs`
     * window (wall clock); above it, 429 with `retry-after`, as the real API's per-model limits answer.
     */
    messagesRateLimit: z
      .object({ requests: z.number().int().positive(), perMs: z.number().int().positive().default(60_000) })
      .strict()
      .nullable()
      .default(null),
    /** How long (wall-clock ms) a synchronous message takes to answer: the model's generation time. */
    messagesLatencyMs: z.number().int().min(0).default(0),
  })
  .strict();
export type FaultsInput = z.input<typeof FaultsSchema>;
export type Faults = z.infer<typeof FaultsSchema>;

export type HttpFaultAction =
  { kind: 'reset' } | { kind: 'status'; status: number; message?: string; headers: Record<string, string> };

/** Live fault state: counters tick down as faults fire. Replaced or merged through the control endpoint. */
export class FaultEngine {
  private faults: Faults;
  private readonly remaining = new Map<HttpFault, number>();
  private readonly rpmWindows = new Map<string, number[]>();
  private readonly messageWindows = new Map<string, number[]>();
  /** Synchronous messages refused by `messagesRateLimit` so far (shown in stats). */
  messagesRateLimited = 0;
  private ourCreates = 0;
  private foreignCreated = 0;

  constructor(input: FaultsInput = {}) {
    this.faults = FaultsSchema.parse(input);
    this.resetCounters();
  }

  replace(input: FaultsInput): void {
    this.faults = FaultsSchema.parse(input);
    this.resetCounters();
  }

  /** The configuration with `patch` laid over it (outcome rates merge key by key); validate before use. */
  mergedWith(patch: Record<string, unknown>): Record<string, unknown> {
    const current = this.snapshot();
    const outcomes = typeof patch.outcomes === 'object' ? { ...current.outcomes, ...patch.outcomes } : current.outcomes;
    return { ...current, ...patch, outcomes };
  }

  /** The configuration with counters as they stand now (spent rules dropped). */
  snapshot(): Faults {
    const foreign = this.faults.foreignClient;
    const foreignLeft = foreign?.times === undefined ? undefined : foreign.times - this.foreignCreated;
    return {
      ...this.faults,
      foreignClient:
        foreign === null || foreignLeft === undefined
          ? foreign
          : foreignLeft > 0
            ? { ...foreign, times: foreignLeft }
            : null,
      http: this.faults.http
        .filter((r) => r.times === undefined || (this.remaining.get(r) ?? 0) > 0)
        .map((r) => (r.times === undefined ? r : { ...r, times: this.remaining.get(r) ?? 0 })),
    };
  }

  get outcomeRates(): OutcomeRates {
    const o = this.faults.outcomes;
    return {
      overloaded_error: o.overloaded_error ?? 0,
      api_error: o.api_error ?? 0,
      invalid_request_error: o.invalid_request_error ?? 0,
      expired: o.expired ?? 0,
    };
  }

  get seed(): number {
    return this.faults.seed;
  }
  get queueLimit(): number | null {
    return this.faults.queueLimit;
  }
  get rpm(): number | null {
    return this.faults.rpm;
  }
  get messagesLatencyMs(): number {
    return this.faults.messagesLatencyMs;
  }
  get messagesRateLimit(): Faults['messagesRateLimit'] {
    return this.faults.messagesRateLimit;
  }
  get notFoundAfterCreateMs(): number {
    return this.faults.notFoundAfterCreateMs;
  }

  get resultsLinesPerSecond(): number | null {
    return this.faults.resultsLinesPerSecond;
  }
  get listLagMs(): number {
    return this.faults.listLagMs;
  }
  get shuffleResults(): boolean {
    return this.faults.shuffleResults;
  }
  get countTokensScale(): number {
    return this.faults.countTokensScale;
  }
  get workspaces(): Readonly<Record<string, string>> {
    return this.faults.workspaces;
  }

  /** Counts one of our creates; the foreign client's configuration when it is due to create a batch after it. */
  takeForeignCreate(): ForeignClientConfig | null {
    const foreign = this.faults.foreignClient;
    if (!foreign) return null;
    this.ourCreates++;
    if (this.ourCreates % foreign.everyCreates !== 0) return null;
    if (foreign.times !== undefined && this.foreignCreated >= foreign.times) return null;
    this.foreignCreated++;
    return foreign;
  }

  /** Delays of the matching slow-response rules (before and after), and the first matching status/reset rule. */
  httpFaultFor(endpoint: Endpoint): { delayMs: number; delayAfterMs: number; action: HttpFaultAction | null } {
    let delayMs = 0;
    let delayAfterMs = 0;
    let action: HttpFaultAction | null = null;
    for (const rule of this.faults.http) {
      if (rule.endpoint !== '*' && rule.endpoint !== endpoint) continue;
      const isAction = rule.status !== undefined || rule.reset === true;
      if (isAction && action) continue;
      if (!this.fires(rule)) continue;
      delayMs += rule.delayMs ?? 0;
      delayAfterMs += rule.delayAfterMs ?? 0;
      if (rule.reset) action = { kind: 'reset' };
      else if (rule.status !== undefined) action = statusAction(rule, rule.status);
    }
    return { delayMs, delayAfterMs, action };
  }

  takeCreateResponseLost(): boolean {
    if (this.faults.createResponseLost <= 0) return false;
    this.faults = { ...this.faults, createResponseLost: this.faults.createResponseLost - 1 };
    return true;
  }

  takeResultsCutoff(): number | null {
    const cut = this.faults.resultsCutoff;
    if (!cut) return null;
    this.faults = { ...this.faults, resultsCutoff: cut.times > 1 ? { ...cut, times: cut.times - 1 } : null };
    return cut.afterLines;
  }

  /** Seconds until the caller may retry, when its per-minute budget is spent; null when allowed. */
  rpmRetryAfter(apiKeyId: string, wallNow: number): number | null {
    const limit = this.faults.rpm;
    if (limit === null) return null;
    const window = (this.rpmWindows.get(apiKeyId) ?? []).filter((t) => t > wallNow - 60_000);
    if (window.length >= limit) {
      this.rpmWindows.set(apiKeyId, window);
      return Math.max(1, Math.ceil((window[0]! + 60_000 - wallNow) / 1000));
    }
    window.push(wallNow);
    this.rpmWindows.set(apiKeyId, window);
    return null;
  }

  /** Seconds until the caller may send its next synchronous message, when its window is full; null when allowed. */
  messagesRetryAfter(apiKeyId: string, wallNow: number): number | null {
    const limit = this.faults.messagesRateLimit;
    if (limit === null) return null;
    const window = (this.messageWindows.get(apiKeyId) ?? []).filter((t) => t > wallNow - limit.perMs);
    this.messageWindows.set(apiKeyId, window);
    if (window.length >= limit.requests) {
      this.messagesRateLimited++;
      return Math.max(1, Math.ceil((window[0]! + limit.perMs - wallNow) / 1000));
    }
    window.push(wallNow);
    return null;
  }

  private fires(rule: HttpFault): boolean {
    if (rule.times !== undefined && (this.remaining.get(rule) ?? 0) <= 0) return false;
    if (rule.probability !== undefined && Math.random() >= rule.probability) return false;
    if (rule.times !== undefined) this.remaining.set(rule, (this.remaining.get(rule) ?? 0) - 1);
    return true;
  }

  private resetCounters(): void {
    this.ourCreates = 0;
    this.foreignCreated = 0;
    this.remaining.clear();
    for (const rule of this.faults.http) if (rule.times !== undefined) this.remaining.set(rule, rule.times);
  }
}

function statusAction(rule: HttpFault, status: number): HttpFaultAction {
  const headers: Record<string, string> = {};
  const retryAfter = rule.retryAfter ?? (status === 429 ? 1 : undefined);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  if (rule.retryAfterMs !== undefined) headers['retry-after-ms'] = String(rule.retryAfterMs);
  if (rule.shouldRetry !== undefined) headers['x-should-retry'] = String(rule.shouldRetry);
  return rule.message === undefined
    ? { kind: 'status', status, headers }
    : { kind: 'status', status, message: rule.message, headers };
}
