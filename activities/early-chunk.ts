import type { BlobStore } from '../storage/blob-store.js';

/**
 * The first chunk of a job as prepare writes it, readable before it is finished: its bytes in numbered segments
 * committed as they fill, then an end record. This module owns the layout,
 *   <job dir>/rounds/0/early/<chunk id>/<000001>.part …   the chunk file's bytes, in order
 *   <job dir>/rounds/0/early/<chunk id>/end.json          { segments, requests, bytes, digest } or { aborted }
 * so a create can stream the chunk to the API while validation goes on (activities/submit.ts, held creates), on
 * any worker that shares the storage: segments are whole files, which every store (S3 too) can publish at once.
 * The chunk file itself is still written as always; the segments are a copy that lives until the create is made.
 */
export interface EarlyEnd {
  segments: number;
  requests: number;
  bytes: number;
  digest: string;
}

type EndRecord = EarlyEnd | { aborted: true; segments: number };

/** Big enough that a 100 MB chunk is ~25 files, small enough that the create starts a fraction of a second in. */
const SEGMENT_BYTES = 4 * 1024 * 1024;

export const earlyDirOf = (store: BlobStore, jobDir: string, chunkId: string) =>
  store.join(jobDir, 'rounds', '0', 'early', chunkId);

const segmentName = (n: number) => `${String(n).padStart(6, '0')}.part`;

/** Copies one chunk's bytes into segments; `onFirst` runs once the first segment is readable. */
export class EarlySegmentWriter {
  // One buffer, filled and written again for each segment: the copy leaves no garbage behind.
  private readonly buffer = Buffer.allocUnsafe(SEGMENT_BYTES);
  private size = 0;
  private segments = 0;

  constructor(
    private readonly store: BlobStore,
    private readonly dir: string,
    private readonly onFirst: () => Promise<void>,
  ) {}

  /** The chunk file's next bytes (copied: the caller keeps its buffer). Segments split them anywhere. */
  async add(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) {
      if (this.size === SEGMENT_BYTES) await this.flush();
      const n = Math.min(bytes.length - at, SEGMENT_BYTES - this.size);
      this.buffer.set(bytes.subarray(at, at + n), this.size);
      this.size += n;
      at += n;
    }
  }

  /** The chunk is complete: what is buffered goes out, then the end record with the chunk's own figures. */
  async finish(chunk: Omit<EarlyEnd, 'segments'>): Promise<void> {
    await this.flush();
    const { requests, bytes, digest } = chunk;
    await this.end({ segments: this.segments, requests, bytes, digest });
  }

  /** The chunk was given up (prepare failed or rejected the input): a reader waiting on it withdraws. */
  async abort(): Promise<void> {
    await this.end({ aborted: true, segments: this.segments });
  }

  private async flush(): Promise<void> {
    if (this.size === 0) return;
    await this.commit(this.buffer.subarray(0, this.size));
    this.size = 0;
  }

  /** Writes one segment and waits until it is in place (so its bytes may be reused). */
  private async commit(data: Buffer): Promise<void> {
    const file = await this.store.write(this.store.join(this.dir, segmentName(++this.segments)));
    file.stream.end(data);
    await file.commit();
    if (this.segments === 1) await this.onFirst();
  }

  private async end(record: EndRecord): Promise<void> {
    if (this.segments === 0) return; // nobody was told of it
    await this.store.writeJson(this.store.join(this.dir, 'end.json'), record);
  }
}

export class EarlyChunkAborted extends Error {}

/**
 * The chunk's bytes, segment by segment, as they are committed; ends with the end record. `idle` is called while
 * waiting for the next one and may throw to give up (it is how a create bounds the time its connection stays idle).
 */
export async function* earlySegments(
  store: BlobStore,
  dir: string,
  idle: () => void,
): AsyncGenerator<Uint8Array, EarlyEnd> {
  const endUri = store.join(dir, 'end.json');
  let wait = 25;
  for (let n = 1; ;) {
    const uri = store.join(dir, segmentName(n));
    if (await store.exists(uri)) {
      for await (const block of store.read(uri) as AsyncIterable<Uint8Array>) yield block;
      n++;
      wait = 25;
      continue;
    }
    // The end record is written after the last segment: seen, it says whether another is still to come.
    if (await store.exists(endUri)) {
      const end = await store.readJson<EndRecord>(endUri);
      if ('aborted' in end) throw new EarlyChunkAborted('prepare gave up the chunk');
      if (n > end.segments) return end;
      continue;
    }
    idle();
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 250);
  }
}
