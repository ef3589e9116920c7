import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { startEmulator, type RunningEmulator } from '../../emulator/server.js';
import type { EmulatorOptionsInput } from '../../emulator/options.js';
import type { FaultsInput } from '../../emulator/faults.js';

export const TEST_KEY = 'sk-ant-test-key-0001';

export interface EmulatorHarness {
  emulator: RunningEmulator;
  url: string;
  dataDir: string;
  client: Anthropic;
  /** A client with no retries, to see raw errors. */
  strict: Anthropic;
  advance(seconds: number): Promise<void>;
  setFaults(faults: FaultsInput): Promise<void>;
  stats(): Promise<EmulatorStats>;
  admin(method: string, route: string, body?: unknown): Promise<Response>;
  close(): Promise<void>;
}

export interface EmulatorStats {
  batches: {
    created: number;
    deleted: number;
    /** Batches of the emulated foreign client (the `foreignClient` fault), included in `created`. */
    foreign: number;
    byApiKey: Record<string, number>;
    byWorkspace: Record<string, number>;
    list: {
      id: string;
      requests: number;
      apiKeyId: string;
      workspaceId: string;
      foreign: boolean;
      billed: { succeeded: number; usd: number } | null;
    }[];
  };
  requests: { submitted: number };
  billed: {
    batch: { succeeded: number; usd: number; foreignUsd: number; tokens: Record<string, Record<string, number>> };
    sync: { requests: number; usd: number };
    totalUsd: number;
  };
  queue: { waitingRequests: number };
  /** Synchronous messages answered 429 by the `messagesRateLimit` fault. */
  rateLimited: { messages: number };
}

/** Starts an in-process emulator on a free port and a fresh data dir (fast processing unless overridden). */
export async function startTestEmulator(options: Partial<EmulatorOptionsInput> = {}): Promise<EmulatorHarness> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'cb-emulator-'));
  const emulator = await startEmulator({
    port: 0,
    processing: { baseLatencyMs: 1000, perRequestMs: 1, spread: 0, cancelLatencyMs: 1000 },
    ...options,
    dataDir,
  });
  const url = emulator.url;
  const admin = (method: string, route: string, body?: unknown) =>
    fetch(`${url}${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const ok = async (res: Promise<Response>) => {
    const r = await res;
    if (!r.ok) throw new Error(`emulator admin call failed: ${r.status} ${await r.text()}`);
    return r;
  };
  return {
    emulator,
    url,
    dataDir,
    client: new Anthropic({ apiKey: TEST_KEY, baseURL: url, maxRetries: 2 }),
    strict: new Anthropic({ apiKey: TEST_KEY, baseURL: url, maxRetries: 0 }),
    admin,
    advance: async (seconds) => void (await ok(admin('POST', '/_emulator/clock/advance', { seconds }))),
    setFaults: async (faults) => void (await ok(admin('PUT', '/_emulator/faults', faults))),
    stats: async () => (await (await ok(admin('GET', '/_emulator/stats'))).json()) as EmulatorStats,
    close: async () => {
      await emulator.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One create as the emulator saw it: when its request arrived and when its body was whole (parsed to the end). */
export interface CreateSeen {
  arrivedAt: number;
  bodyEndedAt: number;
  batchId: string | null;
}

/**
 * Records every create the in-process emulator takes (made or refused), from the test's side: the emulator's own
 * store is wrapped, so nothing in the emulator changes. A create is in flight from its body's end to its answer.
 */
export function recordCreates(em: EmulatorHarness): { creates: CreateSeen[]; stop(): void } {
  const store = em.emulator.context.store;
  const original = store.create.bind(store);
  const creates: CreateSeen[] = [];
  store.create = async (...args: Parameters<typeof original>) => {
    const arrivedAt = Date.now();
    try {
      const record = await original(...args);
      creates.push({ arrivedAt, bodyEndedAt: Date.now(), batchId: record.id });
      return record;
    } catch (err) {
      creates.push({ arrivedAt, bodyEndedAt: Date.now(), batchId: null });
      throw err;
    }
  };
  return { creates, stop: () => void (store.create = original) };
}

/**
 * Asserts that no two creates were in flight at once: each made batch's body ended at least `answerMs` (the
 * `delayAfterMs` fault on create: the least time from a body's end to its answer) after the one before.
 */
export function assertOneCreateInFlight(creates: readonly CreateSeen[], answerMs: number): void {
  const ends = creates
    .filter((c) => c.batchId)
    .map((c) => c.bodyEndedAt)
    .sort((a, b) => a - b);
  for (let i = 1; i < ends.length; i++)
    if (ends[i]! - ends[i - 1]! < answerMs)
      throw new Error(
        `two creates in flight at once: bodies ended ${ends[i]! - ends[i - 1]!} ms apart, each answered ${answerMs} ms later`,
      );
}

export const HAIKU = 'claude-haiku-4-5';

export function request(customId: string, content = `Hello from ${customId}`, extra: Record<string, unknown> = {}) {
  return {
    custom_id: customId,
    params: { model: HAIKU, max_tokens: 64, messages: [{ role: 'user' as const, content }], ...extra },
  };
}

export function requests(n: number, prefix = 'r') {
  return Array.from({ length: n }, (_, i) => request(`${prefix}-${i}`));
}

/** Raw HTTP to the API with the test key (for what the SDK cannot send). */
export function rawApi(url: string, route: string, init: RequestInit = {}) {
  return fetch(`${url}${route}`, {
    ...init,
    headers: {
      'x-api-key': TEST_KEY,
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
      ...(init.headers as Record<string, string> | undefined),
    },
  });
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
