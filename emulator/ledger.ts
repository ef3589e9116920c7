import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import {
  addAmounts,
  Bill,
  loadAmount,
  mergeTokens,
  storeAmount,
  totalOf,
  usdByClass,
  usdOf,
  zeroAmount,
  type Amount,
  type PriceList,
  type ServiceTier,
  type StoredAmount,
  type TokenTotals,
  type TokensByModel,
} from './billing.js';
import { DEFAULT_WORKSPACE } from './workspaces.js';

/**
 * `usd` is the rounded figure, for people reading the file; `amount` the exact one by token class. Lines written
 * before the emulator billed per request have no `amount`: they count with their `usd` and no class breakdown.
 */
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
  | {
      event: 'billed';
      id: string;
      at: number;
      succeeded: number;
      tokens: TokensByModel;
      usd: number;
      amount?: StoredAmount;
    }
  | {
      event: 'sync';
      apiKeyId: string;
      at: number;
      model: string;
      tokens: TokenTotals;
      usd: number;
      amount?: StoredAmount;
    };

/** Money as the ledger sums it: exact where known, with the class breakdown only for lines that carry one. */
interface Money {
  femto: bigint;
  byClass: Amount | null;
}

const moneyOf = (usd: number, stored: StoredAmount | undefined): Money => {
  if (!stored) return { femto: BigInt(Math.round(usd * 1e15)), byClass: null };
  const byClass = loadAmount(stored);
  return { femto: totalOf(byClass), byClass };
};

const sumOf = (a: Money, b: Money): Money => ({
  femto: a.femto + b.femto,
  byClass: a.byClass && b.byClass ? addAmounts(a.byClass, b.byClass) : (a.byClass ?? b.byClass),
});

interface BatchEntry {
  id: string;
  apiKeyId: string;
  workspaceId: string;
  foreign: boolean;
  requests: number;
  bytes: number;
  createdAt: number;
  deleted: boolean;
  billed: { succeeded: number; tokens: TokensByModel; money: Money } | null;
}

function sumMoney(list: Money[]): { usd: number; usdByClass: TokenTotals } {
  let femto = 0n;
  let byClass = zeroAmount();
  for (const m of list) {
    femto += m.femto;
    if (m.byClass) byClass = addAmounts(byClass, m.byClass);
  }
  return { usd: usdOf(femto), usdByClass: usdByClass(byClass) };
}

/**
 * The emulator's bill: an append-only JSONL file in the data dir, so it survives restarts and keeps deleted
 * batches. Batches are billed once, when they end, for their succeeded requests at batch prices; synchronous
 * messages at standard prices, as they are answered. Each request is priced on its own (emulator/billing.ts).
 */
export class Ledger {
  private readonly batches = new Map<string, BatchEntry>();
  /** A running sum: synchronous calls are many and need no per-call record in memory. */
  private readonly sync: { requests: number; tokens: TokensByModel; money: Money } = {
    requests: 0,
    tokens: {},
    money: { femto: 0n, byClass: zeroAmount() },
  };

  constructor(
    private readonly file: string,
    private readonly prices: PriceList,
  ) {
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) if (line) this.apply(JSON.parse(line) as LedgerEvent);
    }
  }

  /** A fresh bill to put a batch's succeeded requests on, one by one, as they are answered. */
  openBill(serviceTier: ServiceTier): Bill {
    return new Bill(this.prices, serviceTier);
  }

  recordCreated(e: Omit<Extract<LedgerEvent, { event: 'created' }>, 'event'>): void {
    this.write({ event: 'created', ...e });
  }

  recordDeleted(id: string, at: number): void {
    this.write({ event: 'deleted', id, at });
  }

  /** Bills a finished batch; a second bill for the same batch (after a crash mid-finalize) replaces the first. */
  recordBilled(id: string, at: number, succeeded: number, bill: Bill): number {
    const amount = bill.amount;
    const usd = usdOf(totalOf(amount));
    this.write({ event: 'billed', id, at, succeeded, tokens: bill.tokens, usd, amount: storeAmount(amount) });
    return usd;
  }

  recordSync(apiKeyId: string, at: number, model: string, tokens: TokenTotals): void {
    const { amount } = this.prices.charge(model, tokens, 'standard');
    const usd = usdOf(totalOf(amount));
    this.write({ event: 'sync', apiKeyId, at, model, tokens, usd, amount: storeAmount(amount) });
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
    const moneyOfBatches = (list: BatchEntry[]) => list.flatMap((b) => (b.billed ? [b.billed.money] : []));
    const batch = sumMoney(moneyOfBatches(entries));
    const sync = sumMoney([this.sync.money]);
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
          billed: b.billed && {
            succeeded: b.billed.succeeded,
            tokens: b.billed.tokens,
            usd: usdOf(b.billed.money.femto),
            usdByClass: b.billed.money.byClass && usdByClass(b.billed.money.byClass),
          },
        })),
      },
      requests: { submitted: entries.reduce((sum, b) => sum + b.requests, 0) },
      billed: {
        batch: {
          succeeded: entries.reduce((sum, b) => sum + (b.billed?.succeeded ?? 0), 0),
          tokens: mergeTokens(entries.map((b) => b.billed?.tokens ?? {})),
          usd: batch.usd,
          usdByClass: batch.usdByClass,
          /** The foreign client's share of `usd`. */
          foreignUsd: sumMoney(moneyOfBatches(foreign)).usd,
        },
        sync: { requests: this.sync.requests, tokens: this.sync.tokens, usd: sync.usd, usdByClass: sync.usdByClass },
        // Summed exactly and rounded once, so it may differ from batch.usd + sync.usd by a nano-dollar.
        totalUsd: sumMoney([...moneyOfBatches(entries), this.sync.money]).usd,
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
        if (b) b.billed = { succeeded: e.succeeded, tokens: e.tokens, money: moneyOf(e.usd, e.amount) };
        break;
      }
      case 'sync':
        this.sync.requests += 1;
        this.sync.tokens = mergeTokens([this.sync.tokens, { [e.model]: e.tokens }]);
        this.sync.money = sumOf(this.sync.money, moneyOf(e.usd, e.amount));
        break;
    }
  }
}
