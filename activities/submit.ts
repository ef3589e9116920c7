import { createHash } from 'node:crypto';
import { Context, heartbeat, log } from '@temporalio/activity';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import type { ChunkRef, SubmittedBatch } from '../shared/job-types.js';
import { submissionKey, type SubmitArgs } from '../shared/submission.js';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { beforeSubmitError } from './api-errors.js';
import { createFailure } from './create-failure.js';
import { createHeaders, createOptionsOf } from './create-options.js';
import { claimUri, type ActivityDeps } from './deps.js';
import { chunkCustomIds } from './chunk-ids.js';
import { candidateWindow, fitsWindow, type Intent } from '../shared/reconcile-window.js';
import { batchesAdopted, batchesCreated } from './metrics.js';
import { earlyDirOf, EarlyChunkAborted, earlySegments, type EarlyEnd } from './early-chunk.js';
import { awaitEarlyGate, CreateWithdrawn, idleWithin, takeCreateSlot } from './early-gate.js';

export type { SubmitArgs };

const total = (b: MessageBatch) => Object.values(b.request_counts).reduce((sum, n) => sum + n, 0);

/**
 * The create body, streamed from the chunk file as bytes: a chunk file is request lines, each ending in "\n", so
 * the body is `{"requests":[` + the file with every newline but the last made a comma + `]}` — no line is decoded
 * or encoded again, and a 100 MB chunk never sits in memory.
 */
export function createBody(deps: ActivityDeps, chunk: ChunkRef): AsyncGenerator<Uint8Array> {
  return requestsBody(deps.store.read(chunk.uri) as AsyncIterable<Uint8Array>);
}

/**
 * The create body from a chunk file's bytes, however they come. `beforeClose` runs before the closing `]}`: a held
 * create waits there for the job's go (without those bytes the body is no JSON, so nothing can be created).
 */
export async function* requestsBody(
  blocks: AsyncIterable<Uint8Array>,
  beforeClose?: () => Promise<void>,
): AsyncGenerator<Uint8Array> {
  yield Buffer.from('{"requests":[');
  // The last byte read so far is held back: only once more follows is it known not to be the file's final newline.
  let held: number | null = null;
  for await (const block of blocks) {
    if (block.length === 0) continue;
    if (held !== null) yield Uint8Array.of(held === NEWLINE ? COMMA : held);
    held = block[block.length - 1]!;
    // The block is this read's own copy of the file's bytes: its newlines are made commas where they lie.
    const body = block.subarray(0, block.length - 1);
    for (let at = body.indexOf(NEWLINE); at !== -1; at = body.indexOf(NEWLINE, at + 1)) body[at] = COMMA;
    if (body.length > 0) yield body;
  }
  if (held !== null && held !== NEWLINE) yield Uint8Array.of(held);
  await beforeClose?.();
  yield Buffer.from(']}');
}

const NEWLINE = 10;

/**
 * What a held create's body did, for the create around it: the intent as recorded when the closing bytes were let
 * go (until then nothing can have been created), or why it gave up. The body's own reason to stop reaches fetch
 * only as a connection error, so it is noted here.
 */
interface HeldCreate {
  released: Intent | null;
  withdrawn: string | null;
}

/**
 * A held create that gave up: nothing was created, and the chunk is submitted the usual way once its job starts it.
 * An expected ending (a job waiting for approval, say), so it is benign: Temporal logs it quietly, not as a failure.
 */
const withdrawnFailure = (why: string) =>
  ApplicationFailure.create({
    message: `the early create was withdrawn: ${why}`,
    type: 'CreateWithdrawn',
    nonRetryable: true,
    category: ApplicationFailureCategory.BENIGN,
  });
const COMMA = 44;

/** How many result lines decide whether a candidate batch is the chunk's: each must name one of its requests. */
const CONFIRM_LINES = 1000;

/**
 * Submits one chunk as exactly one batch, even when a worker dies mid-call or the answer to a create is lost.
 * Runs inside the workspace's submitter (workflows/workspace-submitter.ts), one create at a time per workspace.
 *  1. A done record means an earlier attempt finished: return it.
 *  2. Before creating, record an intent with the newest batch already visible (the window's start).
 *  3. A create the API refused (4xx) created nothing: the intent goes and the next attempt creates afresh. Any
 *     other failure is ambiguous: the intent is stamped with the API's time just after it (the window's end).
 *  4. An intent found by a later attempt means a create may have happened: list the batches in the window with
 *     the chunk's request count, skipping those claimed by other chunks. One or more: they are candidates, claimed
 *     for this chunk, and the chunk lets their results decide (`confirmCandidate`) — a batch another tool created
 *     on the same workspace is never taken for ours on its size alone. None: create again, but only once the
 *     API's list has had time to settle (it lags behind creates).
 * Creates run with SDK retries off (a blind retry of a create is how batches get paid twice); the submitter's
 * activity retries reconcile first. Claims are exclusive files under <storage root>/claims (`claimUri`), shared by
 * every worker of that storage.
 */
export function submitActivities(deps: ActivityDeps) {
  const { store, anthropic } = deps;
  const recordsOf = (jobDir: string, chunk: ChunkRef) => {
    const base = store.join(jobDir, 'rounds', String(chunk.round), 'submit', chunk.id);
    return { doneUri: `${base}.batch.json`, intentUri: `${base}.intent.json` };
  };

  /** The newest batch visible and the API's own time now (its `date` header), in one call. */
  async function listHead(): Promise<{ newest: Intent['newestBefore']; apiNow: number | null }> {
    const { data: page, response } = await anthropic.messages.batches.list({ limit: 1 }).withResponse();
    const b = page.data[0];
    const apiNow = Date.parse(response.headers.get('date') ?? '');
    return {
      newest: b ? { id: b.id, createdAt: b.created_at } : null,
      apiNow: Number.isFinite(apiNow) ? apiNow : null,
    };
  }

  /** Claims a batch for `owner`, or finds it claimed by `owner` already (an earlier attempt died after claiming). */
  async function claim(batchId: string, owner: string): Promise<boolean> {
    if (await store.createExclusive(claimUri(deps, batchId), owner)) return true;
    return (await store.readText(claimUri(deps, batchId))) === owner;
  }

  async function candidates(intent: Intent, owner: string, exclude: ReadonlySet<string>): Promise<MessageBatch[]> {
    const window = candidateWindow(intent);
    const fits: MessageBatch[] = [];
    for await (const b of anthropic.messages.batches.list({ limit: 100 })) {
      if (b.id === intent.newestBefore?.id || Date.parse(b.created_at) < window.after) break;
      if (total(b) === intent.requests && fitsWindow(b.created_at, window) && !exclude.has(b.id)) fits.push(b);
    }
    // Oldest first: the batch created closest after our intent is the likeliest to be ours.
    const mine: MessageBatch[] = [];
    for (const b of fits.reverse()) if (await claim(b.id, owner)) mine.push(b);
    return mine;
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

  const briefOf = (b: MessageBatch) => ({ batchId: b.id, createdAt: b.created_at, expiresAt: b.expires_at });

  /**
   * Sends one create (SDK retries off) and claims what it made. A failure the API answered (4xx) created nothing:
   * the intent goes. Any other is ambiguous: the intent is stamped with the API's time just after it.
   */
  async function create(
    args: SubmitArgs,
    intent: Intent,
    intentUri: string,
    body: AsyncIterable<Uint8Array>,
    held?: HeldCreate,
  ): Promise<MessageBatch> {
    const { chunk } = args;
    const options = await createOptionsOf(deps, args.jobDir);
    const beat = setInterval(() => heartbeat({ phase: 'create' }), 2000);
    let batch: MessageBatch;
    try {
      batch = await anthropic.post<MessageBatch>('/v1/messages/batches', {
        body,
        headers: { 'content-type': 'application/json', ...createHeaders(options) },
        maxRetries: 0,
        // Node's fetch clones a request that may follow a redirect, and cloning tees a streamed body: the copy
        // nobody reads keeps the whole chunk in memory until the create returns (+150 MB at 100,000 requests).
        // A create never follows a redirect anyway (a streamed body cannot be sent twice).
        fetchOptions: { redirect: 'error' },
      });
    } catch (err) {
      const now = held?.released ?? intent;
      if (createFailure(err) === 'definite' || (held && !held.released)) {
        // The API answered and refused, or the body was never finished: nothing was created, so the next attempt
        // creates without reconciling.
        await store.remove(intentUri);
      } else {
        const after = await listHead().catch(() => null);
        await store.writeJson(intentUri, {
          ...now,
          ambiguousAt: new Date().toISOString(),
          ...(after?.apiNow ? { createdBefore: new Date(after.apiNow).toISOString() } : {}),
        });
      }
      throw held?.withdrawn ? withdrawnFailure(held.withdrawn) : beforeSubmitError(err, 'batch create');
    } finally {
      clearInterval(beat);
    }
    batchesCreated.inc();
    const owner = ownerOf(args);
    if (!(await claim(batch.id, owner))) {
      // We just created it, so it is ours whatever the claim says: a chunk of another namespace sharing this
      // data dir took it as a candidate, and its results will tell that chunk it is not its own.
      log.warn('a batch this chunk just created was taken as a candidate by another chunk; claiming it', {
        batchId: batch.id,
        claimedBy: await store.readText(claimUri(deps, batch.id)).catch(() => '?'),
      });
      await store.writeJson(claimUri(deps, batch.id), owner);
    }
    log.info('batch created', { chunk: chunk.id, batchId: batch.id, held: intent.held ?? false });
    return batch;
  }

  /**
   * The body of a held create (shared/early-create.ts): the chunk's segments as prepare commits them, then — once
   * the job says go, naming the digest of the chunk it starts, and the bytes sent are exactly that chunk — the
   * released time recorded in the intent, and only then the closing bytes. Anything else throws CreateWithdrawn
   * from inside the body, which aborts the upload: the API never sees a whole body.
   */
  async function* heldBody(
    args: SubmitArgs,
    intent: Intent,
    intentUri: string,
    held: HeldCreate,
  ): AsyncGenerator<Uint8Array> {
    try {
      yield* heldRequests(args, intent, intentUri, held);
    } catch (err) {
      if (err instanceof CreateWithdrawn) held.withdrawn = err.message;
      throw err;
    }
  }

  async function* heldRequests(
    args: SubmitArgs,
    intent: Intent,
    intentUri: string,
    held: HeldCreate,
  ): AsyncGenerator<Uint8Array> {
    const { chunk } = args;
    const hash = createHash('sha256');
    let idleSince = Date.now();
    let end: EarlyEnd | null = null;
    const hold = deps.earlyCreateHoldMs;
    const segments = earlySegments(store, earlyDirOf(store, args.jobDir, chunk.id), () => idleWithin(idleSince, hold));
    async function* hashed(): AsyncGenerator<Uint8Array> {
      for (;;) {
        const next = await segments.next().catch((err: unknown) => {
          throw err instanceof EarlyChunkAborted ? new CreateWithdrawn(err.message) : err;
        });
        if (next.done) {
          end = next.value;
          return;
        }
        // Before requestsBody turns its newlines into commas: the digest is of the chunk file's own bytes.
        hash.update(next.value);
        idleSince = Date.now();
        yield next.value;
      }
    }
    yield* requestsBody(hashed(), async () => {
      const digest = hash.digest('hex');
      const go = await awaitEarlyGate(args.jobId, chunk.id, idleSince, hold);
      if (!end || end.digest !== digest || go.digest !== digest)
        throw new CreateWithdrawn('the chunk the job started is not the one streamed (prepare rewrote it)');
      // Beside other held creates, the last bytes wait for the workspace's one create in flight.
      if (args.slot) await takeCreateSlot(submissionKey(args), idleSince, hold);
      // An attempt the server has given up on (its heartbeats timed out) must not create behind the back of the
      // attempt that replaced it, which found this one's intent, took it for never sent, and went on.
      const current = await store.readJson<Intent>(intentUri).catch(() => null);
      if (Context.current().cancellationSignal.aborted || current?.recordedAt !== intent.recordedAt)
        throw new CreateWithdrawn('another attempt took this chunk over');
      // No batch of this create can be older than its last bytes: the window starts at the newest batch seen now,
      // so the creates made while this one was uploading (other chunks', other tools') are not its candidates.
      const head = await listHead().catch(() => null);
      const released: Intent = {
        ...intent,
        requests: end.requests,
        digest,
        ...(head ? { newestBefore: head.newest } : {}),
        releasedAt: new Date().toISOString(),
      };
      await store.writeJson(intentUri, released);
      held.released = released;
    });
  }

  async function recordDone(
    doneUri: string,
    b: MessageBatch,
    adopted: boolean,
    digest: string | undefined,
    candidates?: MessageBatch[],
  ): Promise<SubmittedBatch> {
    const submitted: SubmittedBatch & { digest?: string } = {
      ...(digest ? { digest } : {}),
      ...briefOf(b),
      adopted,
      submittedAt: Date.now(),
      ...(candidates ? { candidates: candidates.map(briefOf) } : {}),
    };
    await store.writeJson(doneUri, submitted);
    return submitted;
  }

  /**
   * The intent on record, if a create of it may have reached the API. A held create's intent whose last bytes never
   * went out (no releasedAt) records no batch: it goes.
   */
  async function intentOnRecord(intentUri: string): Promise<Intent | null> {
    if (!(await store.exists(intentUri))) return null;
    const intent = await store.readJson<Intent>(intentUri);
    if (!intent.held || intent.releasedAt) return intent;
    await store.remove(intentUri);
    return null;
  }

  /** The held create of a job's first chunk (shared/early-create.ts), on a clean slate only. */
  async function submitHeld(args: SubmitArgs): Promise<SubmittedBatch> {
    const { chunk } = args;
    const { doneUri, intentUri } = recordsOf(args.jobDir, chunk);
    // Anything on record for this chunk (an earlier attempt, the job id run again) is for the usual path to settle.
    if ((await store.exists(doneUri)) || (await store.exists(intentUri)))
      throw withdrawnFailure('this chunk has a submission on record');
    const head = await listHead().catch((err: unknown) => {
      throw beforeSubmitError(err, 'batch list');
    });
    const intent: Intent = {
      chunkId: chunk.id,
      requests: 0,
      newestBefore: head.newest,
      recordedAt: new Date().toISOString(),
      held: true,
    };
    await store.writeJson(intentUri, intent);
    const held: HeldCreate = { released: null, withdrawn: null };
    const batch = await create(args, intent, intentUri, heldBody(args, intent, intentUri, held), held);
    const digest = held.released?.digest;
    // The segments were a copy of the chunk file for this upload only.
    await store.remove(earlyDirOf(store, args.jobDir, chunk.id)).catch(() => undefined);
    return recordDone(doneUri, batch, false, digest);
  }

  const ownerOf = (args: SubmitArgs) => JSON.stringify({ job: args.jobId, chunk: args.chunk.id });

  return {
    async submitBatch(args: SubmitArgs): Promise<SubmittedBatch> {
      if (args.held) return submitHeld(args);
      const { chunk } = args;
      const { doneUri, intentUri } = recordsOf(args.jobDir, chunk);
      const owner = ownerOf(args);
      const exclude = new Set(args.exclude ?? []);
      await setAsideIfStale(doneUri, chunk.digest);
      await setAsideIfStale(intentUri, chunk.digest);
      if (await store.exists(doneUri)) {
        const done = await store.readJson<SubmittedBatch>(doneUri);
        const ruledOut = done.candidates?.length && done.candidates.every((c) => exclude.has(c.batchId));
        if (!ruledOut) return done;
        // Every candidate's results named other requests: none was ours, so look again (and create if need be).
        await store.move(doneUri, `${doneUri}.not-ours-${Date.now()}`);
      }

      const record = (b: MessageBatch, adopted: boolean, candidates?: MessageBatch[]) =>
        recordDone(doneUri, b, adopted, chunk.digest, candidates);

      const recorded = await intentOnRecord(intentUri);
      if (recorded) {
        const found = await candidates(recorded, owner, exclude).catch((err: unknown) => {
          throw beforeSubmitError(err, 'reconciliation');
        });
        const [first] = found;
        if (first) {
          log.warn('a create answer was lost; found batches that fit, not creating again', {
            chunk: chunk.id,
            candidates: found.map((b) => b.id),
          });
          // Even one fitting batch is only a candidate: ours may never have been created, and the one seen may
          // be another tool's. The results decide before anything uses, cancels or bills it.
          return record(first, true, found);
        }
        // Nothing seen yet, but the API's list lags behind a create: create again only once the settling window
        // has passed (an earlier attempt whose worker died counts from its intent). Seen at once, a batch is
        // found without waiting; the window only delays the decision that there is none.
        const settledAt = Date.parse(recorded.ambiguousAt ?? recorded.recordedAt) + deps.reconcileSettleMs;
        if (Date.now() < settledAt)
          throw ApplicationFailure.create({
            message: `no batch of this chunk in the list yet; waiting ${Math.ceil((settledAt - Date.now()) / 1000)} s for it to settle before creating again`,
            type: 'ReconcileSettling',
            nextRetryDelay: settledAt - Date.now(),
          });
      }
      // A fresh intent before every create: the window of this create starts after anything seen so far.
      const head = await listHead().catch((err: unknown) => {
        throw beforeSubmitError(err, 'batch list');
      });
      const intent: Intent = {
        chunkId: chunk.id,
        requests: chunk.requests,
        ...(chunk.digest ? { digest: chunk.digest } : {}),
        newestBefore: head.newest,
        recordedAt: new Date().toISOString(),
      };
      await store.writeJson(intentUri, intent);

      const batch = await create(args, intent, intentUri, createBody(deps, chunk));
      return record(batch, false);
    },

    /**
     * Whether an ended candidate batch is the chunk's own: its results name the chunk's requests. On 'ours' the
     * chunk's record becomes that batch; on 'foreign' the batch stays claimed (as known not ours) and untouched.
     */
    async confirmCandidate(args: SubmitArgs & { batchId: string }): Promise<'ours' | 'foreign'> {
      const { chunk, batchId } = args;
      const ids = await chunkCustomIds(store, chunk);
      let seen = 0;
      for await (const result of await anthropic.messages.batches.results(batchId)) {
        if (!ids.has(result.custom_id)) {
          log.warn("a candidate batch is not this chunk's: its results name other requests", {
            chunk: chunk.id,
            batchId,
          });
          return 'foreign';
        }
        if (++seen % 100 === 0) heartbeat({ phase: 'confirming', seen });
        if (seen >= CONFIRM_LINES) break;
      }
      if (seen === 0)
        throw ApplicationFailure.create({
          message: `batch ${batchId} returned no results yet`,
          type: 'ResultsIncomplete',
        });
      const { doneUri } = recordsOf(args.jobDir, chunk);
      const done = await store.readJson<SubmittedBatch & { digest?: string }>(doneUri);
      const own = done.candidates?.find((c) => c.batchId === batchId);
      if (own) {
        const { candidates: _all, ...rest } = done;
        await store.writeJson(doneUri, { ...rest, ...own, adopted: true });
        batchesAdopted.inc();
      }
      return 'ours';
    },
  };
}
