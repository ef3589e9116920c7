import { heartbeat, log } from '@temporalio/activity';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import type { ChunkRef, SubmittedBatch } from '../shared/job-types.js';
import { beforeSubmitError } from './api-errors.js';
import type { ActivityDeps } from './deps.js';
import { lines } from './jsonl.js';

/** The newest batch visible before a create: what "created since the intent" is measured against. */
interface Intent {
  chunkId: string;
  requests: number;
  newestBefore: { id: string; createdAt: string } | null;
  recordedAt: string;
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
    }
    return null;
  }

  return {
    async submitBatch(args: SubmitArgs): Promise<SubmittedBatch> {
      const { chunk } = args;
      const base = store.join(args.jobDir, 'rounds', String(chunk.round), 'submit', chunk.id);
      const doneUri = `${base}.batch.json`;
      const intentUri = `${base}.intent.json`;
      const owner = JSON.stringify({ job: args.jobId, chunk: chunk.id });
      if (await store.exists(doneUri)) return store.readJson<SubmittedBatch>(doneUri);

      const record = async (b: MessageBatch, adopted: boolean) => {
        const submitted: SubmittedBatch = {
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
        throw beforeSubmitError(err, 'batch create');
      } finally {
        clearInterval(beat);
      }
      await store.createExclusive(claimUri(batch.id), owner);
      return record(batch, false);
    },
  };
}
