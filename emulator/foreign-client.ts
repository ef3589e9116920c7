import { Readable } from 'node:stream';
import type { BatchRecord } from './batch-record.js';
import { ApiError } from './errors.js';
import type { FaultEngine, ForeignClientConfig } from './faults.js';
import type { ProcessingModel } from './processing.js';
import type { BatchStore } from './store.js';

/** Key id of the foreign tool in stats: its own key, in the workspace of the create that triggered it. */
export const FOREIGN_API_KEY_ID = 'key_foreign';

/** Requests serialized per chunk of the generated create body. */
const REQUESTS_PER_CHUNK = 1000;

/**
 * Another tool on the same workspace (the `foreignClient` fault): right after some of our creates it creates a
 * real batch of the same size, so a client that recognises "its" batch in the list by request count or by time
 * (e.g. after a lost create response) picks the wrong one. The batch is stored, processed and billed like any other,
 * and marked `foreign` in /_emulator/stats.
 */
export class ForeignClient {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly store: BatchStore,
    private readonly faults: FaultEngine,
    private readonly onError: (err: unknown) => void,
  ) {}

  /**
   * Called after each of our creates. With no delay the foreign batch exists before our create is answered (so a
   * list right after sees both); with a delay it comes later, on the wall clock.
   */
  async afterCreate(ours: BatchRecord, processing: ProcessingModel): Promise<void> {
    const config = this.faults.takeForeignCreate();
    if (!config || this.closed) return;
    if (config.delayMs === 0) return this.track(this.createLike(ours, processing, config));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.track(this.createLike(ours, processing, config));
    }, config.delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Drops foreign creates not yet started and waits for those under way. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.all(this.running);
  }

  private track(run: Promise<void>): Promise<void> {
    this.running.add(run);
    return run.finally(() => this.running.delete(run));
  }

  private async createLike(ours: BatchRecord, processing: ProcessingModel, config: ForeignClientConfig): Promise<void> {
    if (this.closed) return;
    const count = config.requests ?? ours.requestCount;
    try {
      await this.store.create(
        Readable.from(createBody(count, config)),
        { apiKeyId: FOREIGN_API_KEY_ID, workspaceId: ours.workspaceId, foreign: true },
        processing,
      );
    } catch (err) {
      // The other tool hits the same limits as we do (e.g. the queue limit's 429); that is its problem, not an error.
      if (!(err instanceof ApiError)) this.onError(err);
    }
  }
}

/** The foreign tool's create body, generated as a stream (a 100,000-request body is never held in memory). */
async function* createBody(count: number, config: ForeignClientConfig): AsyncGenerator<Buffer> {
  yield Buffer.from('{"requests":[');
  for (let first = 0; first < count; first += REQUESTS_PER_CHUNK) {
    const items: string[] = [];
    for (let i = first; i < Math.min(count, first + REQUESTS_PER_CHUNK); i++) {
      items.push(
        JSON.stringify({
          custom_id: `${config.customIdPrefix}-${i}`,
          params: {
            model: config.model,
            max_tokens: 64,
            messages: [{ role: 'user', content: `Request ${i} of another tool on this workspace` }],
          },
        }),
      );
    }
    yield Buffer.from((first > 0 ? ',' : '') + items.join(','));
  }
  yield Buffer.from(']}');
}
