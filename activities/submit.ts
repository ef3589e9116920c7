import { heartbeat, log } from '@temporalio/activity';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import type { ChunkRef, SubmittedBatch } from '../shared/job-types.js';
import { ApplicationFailure } from '@temporalio/common';
import { beforeSubmitError } from './api-errors.js';
import { createFailure } from './create-failure.js';
import type { ActivityDeps } from './deps.js';
import { lines } from './jsonl.js';

/** The newest batch visible before a create: what "created since the intent" is measured against. */
interface Intent {
  chunkId: string;
  requests: number;
  /** The chunk's content, so a record of other content (a re-run on a changed input) is never taken for this one. */
  digest?: string;
  newestBefore: { id: string; createdAt: string } | null;
  recordedAt: string;
  /** When a create failed without telling whether it created anything (timeout, reset, 5xx). */
  ambiguousAt?: string;
}

export interface SubmitArgs {
  jobId: string;
  jobDir: string;
  chunk: ChunkRef;
}

const total = (b: MessageBatch) => Object.values(b.request_counts).reduce((sum, n) => sum + n, 0);

/** The create body, streamed from the chunk file: a 100 MB chunk never sits in memory. */
async function* createBody(deps: ActivityDeps, chunk: ChunkRef): AsyncGenerator<Buffer> {
  yield Buffer.from('{"requests":[');
  let first = true;
  let pending: string[] = [];
  for await (const line of lines(deps.store.read(chunk.uri))) {
    pending.push(first ? line : `,${line}`);
    first = false;
    if (pending.length >= 256) {
      yield Buffer.from(pending.join(''));
      pending = [];
    }
  }
  yield Buffer.from(pending.join('') + ']}');
}

/**
 * Submits one chunk as exactly one batch, even when a worker dies mid-call or the answer to a create is lost.
 *  1. A done-record means an earlier attempt finished: return it.
 *  2. Before creating, record an intent (with the newest batch already visible).
 *  3. An intent without a done-record means an earlier attempt may have created the batch: reconcile — list the
 *     batches created since the intent, match the request count, skip batches claimed by any chunk — and adopt
 *     the match instead of creating again.
 *  4. Create with SDK retries off (a blind retry of a create is how batches get paid twice); Temporal retries the
 *     activity, which reconciles first.
 * Batches are claimed with an exclusive file under <dataDir>/claims, so no two chunks can adopt the same batch.
 */
export function submitActivities(deps: ActivityDeps) {
  const { store, anthropic } = deps;
  const claimUri = (batchId: string) => store.join(store.resolve(deps.dataDir), 'claims', batchId);

  async function newestBatch(): Promise<Intent['newestBefore']> {
    const page = await anthropic.messages.batches.list({ limit: 1 });
    const b = page.data[0];
    return b ? { id: b.id, createdAt: b.created_at } : null;
  }

  async function reconcile(intent: Intent, owner: string): Promise<MessageBatch | null> {
    const candidates: MessageBatch[] = [];
    const since = intent.newestBefore ? Date.parse(intent.newestBefore.createdAt) : -Infinity;
    for await (const b of anthropic.messages.batches.list({ limit: 100 })) {
      if (b.id === intent.newestBefore?.id || Date.parse(b.created_at) < since) break;
      if (total(b) === intent.requests) candidates.push(b);
    }
    // Oldest first: the batch created closest after our intent is the likeliest to be ours.
    for (const b of candidates.reverse()) {
      if (await store.createExclusive(claimUri(b.id), owner)) return b;
      // Claimed already — by us, when an earlier attempt died between the claim and the done record.
      if ((await store.readText(claimUri(b.id)).catch(() => '')) === owner) return b;
    }
    return null;
  }

  /**
   * Records of another content for this chunk id (the job id run again on a changed input) are moved aside, never
   * deleted: they name batches that were paid for.
   */
  async function setAsideIfStale(uri: string, digest: string | undefined): Promise<void> {
    if (!digest || !(await store.exists(uri))) return;
    const recorded = (await store.readJson<{ digest?: string }>(uri)).digest;
    if (recorded === undefined || recorded === digest) return;
    await store.move(uri, `${uri}.superseded-${Date.now()}`);
  }

  return {
    async submitBatch(args: SubmitArgs): Promise<SubmittedBatch> {
      const { chunk } = args;
      const base = store.join(args.jobDir, 'rounds', String(chunk.round), 'submit', chunk.id);
      const doneUri = `${base}.batch.json`;
      const intentUri = `${base}.intent.json`;
      const owner = JSON.stringify({ job: args.jobId, chunk: chunk.id });
      await setAsideIfStale(doneUri, chunk.digest);
      await setAsideIfStale(intentUri, chunk.digest);
      if (await store.exists(doneUri)) return store.readJson<SubmittedBatch>(doneUri);

      const record = async (b: MessageBatch, adopted: boolean) => {
        const submitted: SubmittedBatch & { digest?: string } = {
          ...(chunk.digest ? { digest: chunk.digest } : {}),
          batchId: b.id,
          createdAt: b.created_at,
          expiresAt: b.expires_at,
          adopted,
          submittedAt: Date.now(),
        };
        await store.writeJson(doneUri, submitted);
        return submitted;
      };

      if (await store.exists(intentUri)) {
        const intent = await store.readJson<Intent>(intentUri);
        // The API's list lags behind a create: reconcile only once the settling window has passed, so a batch
        // that exists is seen (an earlier attempt whose worker died counts from its intent).
        const settledAt = Date.parse(intent.ambiguousAt ?? intent.recordedAt) + deps.reconcileSettleMs;
        if (Date.now() < settledAt)
          throw ApplicationFailure.create({
            message: `waiting ${Math.ceil((settledAt - Date.now()) / 1000)} s for the batch list to settle before reconciling`,
            type: 'ReconcileSettling',
            nextRetryDelay: settledAt - Date.now(),
          });
        const found = await reconcile(intent, owner).catch((err: unknown) => {
          throw beforeSubmitError(err, 'reconciliation');
        });
        if (found) {
          log.warn('adopted a batch whose create answer was lost; not creating it again', {
            chunk: chunk.id,
            batchId: found.id,
          });
          return record(found, true);
        }
      } else {
        const intent: Intent = {
          chunkId: chunk.id,
          requests: chunk.requests,
          ...(chunk.digest ? { digest: chunk.digest } : {}),
          newestBefore: await newestBatch().catch((err: unknown) => {
            throw beforeSubmitError(err, 'batch list');
          }),
          recordedAt: new Date().toISOString(),
        };
        await store.writeJson(intentUri, intent);
      }

      const beat = setInterval(() => heartbeat({ phase: 'create' }), 2000);
      let batch: MessageBatch;
      try {
        batch = await anthropic.post<MessageBatch>('/v1/messages/batches', {
          body: createBody(deps, chunk),
          headers: { 'content-type': 'application/json' },
          maxRetries: 0,
        });
      } catch (err) {
        if (createFailure(err) === 'definite') {
          // The API answered and refused: nothing was created, so the next attempt creates without reconciling.
          await store.remove(intentUri);
        } else {
          const intent = await store.readJson<Intent>(intentUri);
          await store.writeJson(intentUri, { ...intent, ambiguousAt: new Date().toISOString() });
        }
        throw beforeSubmitError(err, 'batch create');
      } finally {
        clearInterval(beat);
      }
      if (!(await store.createExclusive(claimUri(batch.id), owner)))
        // We just created it, so it is ours whatever the claim says; a reconciling chunk that claimed it first
        // will find out from its results (they carry our custom_ids) and submit again.
        log.error('a batch this chunk just created was claimed by another chunk', {
          batchId: batch.id,
          claimedBy: await store.readText(claimUri(batch.id)).catch(() => '?'),
        });
      return record(batch, false);
    },
  };
}
