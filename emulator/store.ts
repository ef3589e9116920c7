import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import path from 'node:path';
import type { ModelCatalog } from './catalog.js';
import { endsAt, runningCounts, type BatchOwner, type BatchRecord, type RequestCounts } from './batch-record.js';
import type { VirtualClock } from './clock.js';
import { ApiError, invalidRequest, notFound } from './errors.js';
import type { FaultEngine } from './faults.js';
import { finalizeBatch } from './finalize.js';
import { newBatchId } from './ids.js';
import { ingestBatch, type IngestLimits } from './ingest.js';
import type { Ledger } from './ledger.js';
import { uniform } from './outcomes.js';
import { endOf, finishedBy, planSchedule, type ProcessingModel } from './processing.js';
import type { PromptCache } from './prompt-cache.js';
import { DEFAULT_WORKSPACE } from './workspaces.js';

export interface StoreDeps {
  dataDir: string;
  clock: VirtualClock;
  catalog: ModelCatalog;
  ledger: Ledger;
  cache: PromptCache;
  faults: FaultEngine;
  limits: IngestLimits;
  incrementalCounts: boolean;
  cancelEnded: 'error' | 'unchanged';
  onError: (err: unknown) => void;
}

/** batch.json as written before workspaces and the foreign client: such batches are ours, in the default workspace. */
type StoredRecord = Omit<BatchRecord, 'workspaceId' | 'foreign' | 'betas'> &
  Partial<Pick<BatchRecord, 'workspaceId' | 'foreign' | 'betas'>>;

/** Longest wall-clock wait between lifecycle checks, so clock changes are picked up promptly. */
const MAX_TICK_MS = 1000;

/**
 * All batches of the emulator, on disk under `<dataDir>/batches/<id>/` (batch.json, requests.jsonl, outcomes.bin,
 * results.jsonl), and the lifecycle that ends them when their virtual end time comes.
 */
export class BatchStore {
  private readonly records = new Map<string, BatchRecord>();
  private readonly createdWallAt = new Map<string, number>();
  private readonly outcomeCache = new Map<string, Uint8Array>();
  private nextSeq = 1;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly deps: StoreDeps) {}

  static async open(deps: StoreDeps): Promise<BatchStore> {
    const store = new BatchStore(deps);
    await rm(store.incomingDir, { recursive: true, force: true });
    await mkdir(store.incomingDir, { recursive: true });
    await mkdir(store.batchesDir, { recursive: true });
    for (const id of await readdir(store.batchesDir)) {
      const file = path.join(store.batchesDir, id, 'batch.json');
      if (!existsSync(file)) continue;
      const raw = JSON.parse(await readFile(file, 'utf8')) as StoredRecord;
      const record: BatchRecord = {
        ...raw,
        workspaceId: raw.workspaceId ?? DEFAULT_WORKSPACE,
        foreign: raw.foreign ?? false,
        betas: raw.betas ?? [],
      };
      store.records.set(record.id, record);
      store.nextSeq = Math.max(store.nextSeq, record.seq + 1);
    }
    store.poke();
    return store;
  }

  private get batchesDir() {
    return path.join(this.deps.dataDir, 'batches');
  }
  private get incomingDir() {
    return path.join(this.deps.dataDir, 'incoming');
  }
  dirOf(id: string) {
    return path.join(this.batchesDir, id);
  }

  /** Newest first. */
  all(): BatchRecord[] {
    return [...this.records.values()].sort((a, b) => b.seq - a.seq);
  }

  /** What `GET /v1/messages/batches` shows a key of `workspaceId`, newest first (fresh batches hidden by list lag). */
  listed(workspaceId: string): BatchRecord[] {
    const wallNow = Date.now();
    return this.all().filter(
      (r) => r.workspaceId === workspaceId && !this.lagging(r.id, this.deps.faults.listLagMs, wallNow),
    );
  }

  /**
   * The batch as of now, as a key of `workspaceId` sees it: a batch whose end time has passed is finalized before it
   * is returned; one of another workspace does not exist.
   */
  async get(id: string, workspaceId: string): Promise<BatchRecord> {
    const record = this.records.get(id);
    if (!record || record.workspaceId !== workspaceId) throw notFound(`No message batch with id '${id}'`);
    if (this.lagging(id, this.deps.faults.notFoundAfterCreateMs, Date.now()))
      throw notFound(`No message batch with id '${id}'`);
    if (record.status !== 'ended' && endsAt(record) <= this.deps.clock.now()) await this.runDue();
    return record;
  }

  async settleAll(): Promise<void> {
    const now = this.deps.clock.now();
    if ([...this.records.values()].some((r) => r.status !== 'ended' && endsAt(r) <= now)) await this.runDue();
  }

  countsOf(record: BatchRecord): RequestCounts {
    if (record.counts) return record.counts;
    return runningCounts(record, this.deps.clock.now(), this.deps.incrementalCounts, this.outcomesOf(record));
  }

  /** Requests still waiting to be processed, org-wide (the queue the real API limits). */
  queued(now: number): number {
    let total = 0;
    for (const r of this.records.values()) {
      if (r.status === 'ended') continue;
      total += Math.max(r.requestCount - finishedBy(r.schedule, now), r.schedule.stuckCount);
    }
    return total;
  }

  async create(
    body: Readable,
    owner: BatchOwner,
    processing: ProcessingModel,
    betas: readonly string[] = [],
  ): Promise<BatchRecord> {
    const id = newBatchId();
    const dir = path.join(this.incomingDir, id);
    await mkdir(dir, { recursive: true });
    try {
      const { faults } = this.deps;
      const ingested = await ingestBatch(body, this.deps.limits, {
        batchId: id,
        dir,
        catalog: this.deps.catalog,
        betas,
        rates: faults.outcomeRates,
        seed: faults.seed,
      });
      const now = this.deps.clock.now();
      const limit = faults.queueLimit;
      if (limit !== null && this.queued(now) + ingested.requestCount > limit) {
        throw new ApiError(
          429,
          `Number of batch requests waiting in the processing queue would exceed your organization's limit of ${limit}`,
          { 'retry-after': '60' },
        );
      }
      const record: BatchRecord = {
        id,
        seq: this.nextSeq++,
        apiKeyId: owner.apiKeyId,
        workspaceId: owner.workspaceId,
        foreign: owner.foreign,
        requestCount: ingested.requestCount,
        bytes: ingested.bytes,
        betas: [...betas],
        schedule: planSchedule(processing, now, ingested.requestCount, ingested.stuckCount, uniform(id, 'spread')),
        status: 'in_progress',
        endedAt: null,
        endReason: null,
        counts: null,
      };
      await writeJsonAtomic(path.join(dir, 'batch.json'), record);
      await rename(dir, this.dirOf(id));
      this.records.set(id, record);
      this.createdWallAt.set(id, Date.now());
      this.deps.ledger.recordCreated({
        id,
        apiKeyId: owner.apiKeyId,
        workspaceId: owner.workspaceId,
        foreign: owner.foreign,
        requests: record.requestCount,
        bytes: record.bytes,
        at: now,
      });
      this.poke();
      return record;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async cancel(id: string, workspaceId: string): Promise<BatchRecord> {
    const record = await this.get(id, workspaceId);
    if (record.status === 'ended') {
      if (this.deps.cancelEnded === 'unchanged') return record;
      throw invalidRequest(`Batch '${id}' has already ended and cannot be canceled`);
    }
    if (record.schedule.cancelInitiatedAt !== null) return record;
    record.schedule.cancelInitiatedAt = this.deps.clock.now();
    await this.persist(record);
    this.poke();
    return record;
  }

  async delete(id: string, workspaceId: string): Promise<void> {
    const record = await this.get(id, workspaceId);
    if (record.status !== 'ended')
      throw invalidRequest(
        `Batch '${id}' is still being processed and cannot be deleted; cancel it and wait until it has ended`,
      );
    this.records.delete(id);
    this.outcomeCache.delete(id);
    await rm(this.dirOf(id), { recursive: true, force: true });
    this.deps.ledger.recordDeleted(id, this.deps.clock.now());
  }

  /** Ends every batch whose time has come, one at a time (bounded memory), then re-arms the timer. */
  runDue(): Promise<void> {
    const run = this.chain.then(() => this.finalizeDue());
    this.chain = run.catch((err: unknown) => this.deps.onError(err));
    return run.finally(() => this.poke());
  }

  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    return this.chain;
  }

  private async finalizeDue(): Promise<void> {
    for (;;) {
      const now = this.deps.clock.now();
      const due = [...this.records.values()]
        .filter((r) => r.status !== 'ended' && endsAt(r) <= now)
        .sort((a, b) => endsAt(a) - endsAt(b))[0];
      if (!due || this.closed) return;
      const { cache, catalog, ledger } = this.deps;
      const bill = ledger.openBill('batch');
      const done = await finalizeBatch(due, this.dirOf(due.id), catalog, cache, bill);
      ledger.recordBilled(due.id, done.endedAt, done.succeeded, bill);
      Object.assign(due, {
        status: 'ended',
        endedAt: done.endedAt,
        endReason: endOf(due.schedule).reason,
        counts: done.counts,
      });
      await this.persist(due);
      await writeJsonAtomic(path.join(this.deps.dataDir, 'prompt-cache.json'), cache.toJSON(now));
      this.outcomeCache.delete(due.id);
    }
  }

  /**
   * Whether `id` was created less than `lagMs` wall-clock ms ago (eventual consistency right after a create). Wall
   * clock, as the lag is the API's own replication delay, not part of a batch's (scalable) processing time.
   */
  private lagging(id: string, lagMs: number, wallNow: number): boolean {
    const createdWall = this.createdWallAt.get(id);
    return createdWall !== undefined && wallNow - createdWall < lagMs;
  }

  private poke(): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    let next = Infinity;
    for (const r of this.records.values()) if (r.status !== 'ended') next = Math.min(next, endsAt(r));
    if (next === Infinity) return;
    const delay = Math.min(this.deps.clock.wallDelayUntil(next), MAX_TICK_MS);
    this.timer = setTimeout(() => void this.runDue(), delay);
    this.timer.unref();
  }

  private persist(record: BatchRecord): Promise<void> {
    return writeJsonAtomic(path.join(this.dirOf(record.id), 'batch.json'), record);
  }

  private outcomesOf(record: BatchRecord): Uint8Array | null {
    if (!this.deps.incrementalCounts) return null;
    let outcomes = this.outcomeCache.get(record.id);
    if (!outcomes) {
      // Small (one byte per request) and only read in the opt-in incremental-counts mode.
      outcomes = new Uint8Array(readFileSync(path.join(this.dirOf(record.id), 'outcomes.bin')));
      this.outcomeCache.set(record.id, outcomes);
    }
    return outcomes;
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, file);
}
