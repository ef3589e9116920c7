import type { AtomicWrite, BlobStore } from '../storage/blob-store.js';
import { LineWriter } from './jsonl.js';
import { lineBatches } from './line-batches.js';

/**
 * A results download kept as numbered part files (`000001.jsonl`, `000002.jsonl`, … in one folder), each written
 * atomically and committed as the download goes on. No store has to append or truncate (S3 can do neither): a
 * download that breaks off keeps every part it committed — only the part being written is lost with a killed
 * worker — and the next attempt adds parts after them. Readers take the parts in order as one stream of lines.
 */

/**
 * When a part is committed: once it has been open a second (what a killed worker loses at most: about a second of
 * download), or holds 8 MiB (its memory while an S3 PUT waits for commit), whichever comes first.
 */
export interface PartLimits {
  bytes: number;
  ms: number;
}
export const PART_LIMITS: PartLimits = { bytes: 8 * 1024 * 1024, ms: 1000 };

const PART_NAME = /^(\d{6})\.jsonl$/;
const partName = (n: number) => `${String(n).padStart(6, '0')}.jsonl`;

/** The committed parts of a download, in order (temp files of a write in progress are not parts). */
export async function listParts(store: BlobStore, dir: string): Promise<{ uri: string; index: number }[]> {
  return (await store.list(dir))
    .flatMap((name) => {
      const m = PART_NAME.exec(name);
      return m ? [{ uri: store.join(dir, name), index: Number(m[1]) }] : [];
    })
    .sort((a, b) => a.index - b.index);
}

/**
 * The lines of every part in order, without their "\n", a block at a time. A half line at the end of a part (only
 * a store without atomic writes could leave one) is left out, and `onHalfLine` hears of it.
 */
export async function* partLineBatches(
  store: BlobStore,
  dir: string,
  onHalfLine?: () => void,
): AsyncGenerator<string[]> {
  for (const part of await listParts(store, dir))
    yield* lineBatches(store.read(part.uri), { terminatedOnly: true, ...(onHalfLine ? { onHalfLine } : {}) });
}

/** `partLineBatches`, a line at a time. */
export async function* partLines(store: BlobStore, dir: string): AsyncGenerator<string> {
  for await (const batch of partLineBatches(store, dir)) yield* batch;
}

/** Writes lines into new parts after the existing ones, committing each part when it reaches `limits`. */
export class PartWriter {
  private current: { write: AtomicWrite; out: LineWriter; bytes: number; since: number } | null = null;
  private failure: unknown = null;

  constructor(
    private readonly store: BlobStore,
    private readonly dir: string,
    private next: number,
    private readonly limits = PART_LIMITS,
  ) {}

  /** Starts after the parts already in `dir`. */
  static async after(store: BlobStore, dir: string, limits = PART_LIMITS): Promise<PartWriter> {
    const parts = await listParts(store, dir);
    return new PartWriter(store, dir, (parts.at(-1)?.index ?? 0) + 1, limits);
  }

  /** The first error of the store (not of whoever feeds the lines), if there was one. */
  get error(): unknown {
    return this.failure;
  }

  async line(text: string): Promise<void> {
    await this.guard(async () => {
      if (!this.current) {
        const write = await this.store.write(this.store.join(this.dir, partName(this.next++)));
        this.current = { write, out: new LineWriter(write.stream), bytes: 0, since: Date.now() };
      }
      await this.current.out.line(text);
      this.current.bytes += Buffer.byteLength(text) + 1;
    });
    const part = this.current;
    if (part && (part.bytes >= this.limits.bytes || Date.now() - part.since >= this.limits.ms)) await this.commit();
  }

  /** Writes several lines at once (one write and one await for a block of a download, not one per line). */
  async lines(texts: readonly string[]): Promise<void> {
    if (texts.length === 0) return;
    await this.line(texts.join('\n'));
  }

  /** Commits the part being written (its lines are all whole), if it has any. */
  async commit(): Promise<void> {
    const part = this.current;
    if (!part) return;
    this.current = null;
    await this.guard(async () => {
      try {
        await part.out.close();
      } catch (err) {
        await part.write.abort();
        throw err;
      }
      await part.write.commit();
    });
  }

  private async guard(step: () => Promise<void>): Promise<void> {
    if (this.failure) throw this.failure;
    try {
      await step();
    } catch (err) {
      this.failure ??= err;
      throw err;
    }
  }
}
