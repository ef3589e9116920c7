import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import {
  batchCostUsd,
  mergeTokens,
  roundUsd,
  type PriceTable,
  type TokenTotals,
  type TokensByModel,
} from '../shared/pricing.js';
import { DEFAULT_WORKSPACE } from './workspaces.js';

type LedgerEvent =
  | {
      event: 'created';
      id: string;
      apiKeyId: string;
      /** Absent in ledgers written before workspaces and the foreign client existed. */
      workspaceId?: string;
      foreign?: boolean;
      requests: number;
      bytes: number;
      at: number;
    }
  | { event: 'deleted'; id: string; at: number }
  | { event: 'billed'; id: string; at: number; succeeded: number; tokens: TokensByModel; usd: number }
  | { event: 'sync'; apiKeyId: string; at: number; model: string; tokens: TokenTotals; usd: number };

interface BatchEntry {
  id: string;
  apiKeyId: string;
  workspaceId: string;
  foreign: boolean;
  requests: number;
  bytes: number;
  createdAt: number;
  deleted: boolean;
  billed: { succeeded: number; tokens: TokensByModel; usd: number } | null;
}

/**
 * The emulator's bill: an append-only JSONL file in the data dir, so it survives restarts and keeps deleted
 * batches. Batches are billed once, when they end, for their succeeded requests at batch prices.
 */
export class Ledger {
  private readonly batches = new Map<string, BatchEntry>();
  private readonly sync: { requests: number; tokens: TokensByModel; usd: number } = { requests: 0, tokens: {}, usd: 0 };

  constructor(
    private readonly file: string,
    private readonly prices: PriceTable,
  ) {
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) if (line) this.apply(JSON.parse(line) as LedgerEvent);
    }
  }

  recordCreated(e: Omit<Extract<LedgerEvent, { event: 'created' }>, 'event'>): void {
    this.write({ event: 'created', ...e });
  }

  recordDeleted(id: string, at: number): void {
    this.write({ event: 'deleted', id, at });
  }

  /** Bills a finished batch; a second bill for the same batch (after a crash mid-finalize) replaces the first. */
  recordBilled(id: string, at: number, succeeded: number, tokens: TokensByModel): number {
    const usd = this.price(tokens, 'batch');
    this.write({ event: 'billed', id, at, succeeded, tokens, usd });
    return usd;
  }

  recordSync(apiKeyId: string, at: number, model: string, tokens: TokenTotals): void {
    this.write({ event: 'sync', apiKeyId, at, model, tokens, usd: this.price({ [model]: tokens }, 'standard') });
  }

  price(tokens: TokensByModel, tier: 'batch' | 'standard'): number {
    return batchCostUsd(this.prices, tokens, tier);
  }

  stats() {
    const entries = [...this.batches.values()];
    const byApiKey: Record<string, number> = {};
    const byWorkspace: Record<string, number> = {};
    for (const b of entries) {
      byApiKey[b.apiKeyId] = (byApiKey[b.apiKeyId] ?? 0) + 1;
      byWorkspace[b.workspaceId] = (byWorkspace[b.workspaceId] ?? 0) + 1;
    }
    const foreign = entries.filter((b) => b.foreign);
    const batchTokens = mergeTokens(entries.map((b) => b.billed?.tokens ?? {}));
    const batchUsd = roundUsd(entries.reduce((sum, b) => sum + (b.billed?.usd ?? 0), 0));
    return {
      priceTable: { asOf: this.prices.asOf, sources: this.prices.sources },
      batches: {
        created: entries.length,
        deleted: entries.filter((b) => b.deleted).length,
        /** Batches of the emulated foreign client (included in `created`): a test of exactly-once subtracts them. */
        foreign: foreign.length,
        byApiKey,
        byWorkspace,
        list: entries.map((b) => ({
          id: b.id,
          apiKeyId: b.apiKeyId,
          workspaceId: b.workspaceId,
          foreign: b.foreign,
          requests: b.requests,
          bytes: b.bytes,
          createdAt: new Date(b.createdAt).toISOString(),
          deleted: b.deleted,
          billed: b.billed,
        })),
      },
      requests: { submitted: entries.reduce((sum, b) => sum + b.requests, 0) },
      billed: {
        batch: {
          succeeded: entries.reduce((sum, b) => sum + (b.billed?.succeeded ?? 0), 0),
          tokens: batchTokens,
          usd: batchUsd,
          /** The foreign client's share of `usd`. */
          foreignUsd: roundUsd(foreign.reduce((sum, b) => sum + (b.billed?.usd ?? 0), 0)),
        },
        sync: { requests: this.sync.requests, tokens: this.sync.tokens, usd: roundUsd(this.sync.usd) },
        totalUsd: roundUsd(batchUsd + this.sync.usd),
      },
    };
  }

  private write(event: LedgerEvent): void {
    appendFileSync(this.file, JSON.stringify(event) + '\n');
    this.apply(event);
  }

  private apply(e: LedgerEvent): void {
    switch (e.event) {
      case 'created':
        this.batches.set(e.id, {
          id: e.id,
          apiKeyId: e.apiKeyId,
          workspaceId: e.workspaceId ?? DEFAULT_WORKSPACE,
          foreign: e.foreign ?? false,
          requests: e.requests,
          bytes: e.bytes,
          createdAt: e.at,
          deleted: false,
          billed: null,
        });
        break;
      case 'deleted': {
        const b = this.batches.get(e.id);
        if (b) b.deleted = true;
        break;
      }
      case 'billed': {
        const b = this.batches.get(e.id);
        if (b) b.billed = { succeeded: e.succeeded, tokens: e.tokens, usd: e.usd };
        break;
      }
      case 'sync':
        this.sync.requests += 1;
        this.sync.tokens = mergeTokens([this.sync.tokens, { [e.model]: e.tokens }]);
        this.sync.usd += e.usd;
        break;
    }
  }
}
