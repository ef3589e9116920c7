import type Anthropic from '@anthropic-ai/sdk';
import type { ModelCatalog } from '../config/load.js';
import type { PriceTable } from '../shared/pricing.js';
import type { ModelDirectory } from './model-directory.js';
import type { BlobStore } from '../storage/blob-store.js';

/** What activities need from the worker: storage, the Anthropic client (holding the key), config. */
export interface ActivityDeps {
  store: BlobStore;
  anthropic: Anthropic;
  prices: PriceTable;
  models: ModelCatalog;
  /** The models the API knows (the Models API, cached on the worker). */
  modelDirectory: ModelDirectory;
  /** Where relative paths resolve (the worker's own disk). */
  dataDir: string;
  /**
   * The root of job folders and batch claims: the data dir, or a shared place (`CLAUDE_BATCH_STORAGE`, e.g.
   * `s3://bucket/prefix`) when workers on several machines run the same jobs.
   */
  storageRoot: string;
  webhookAllowlist: string[];
  /** How long after an ambiguous create to wait before listing batches (longer than the API's list lag). */
  reconcileSettleMs: number;
  /** How long a held create may leave its connection idle before it withdraws (worker/config.ts). */
  earlyCreateHoldMs: number;
  /** Which workspace the key belongs to, as a fingerprint: names its one submitter (workflows/workspace-submitter). */
  workspaceFingerprint: string;
  /** Estimates warn when the price table is older than this. */
  pricesMaxAgeMs: number;
}

/** The working folder of one job, named after its workflow id: `<storage root>/jobs/<id>`. */
export function jobDirUri(deps: ActivityDeps, jobId: string): string {
  const safe = jobId.replace(/[^A-Za-z0-9._-]/g, '_');
  return deps.store.join(deps.store.resolve(deps.storageRoot), 'jobs', safe);
}

/** Where a batch's claim is kept (`<storage root>/claims/<batch id>`): shared by every worker of the storage root. */
export function claimUri(deps: ActivityDeps, batchId: string): string {
  return deps.store.join(deps.store.resolve(deps.storageRoot), 'claims', batchId);
}

export const chunkId = (round: number, index: number) => `r${round}-c${String(index + 1).padStart(4, '0')}`;
