import { once } from 'node:events';
import { createHash, type Hash } from 'node:crypto';
import { ChunkPlanner } from '../shared/chunking.js';
import type { ChunkRef } from '../shared/job-types.js';
import { chunkId } from './deps.js';
import type { AtomicWrite, BlobStore } from '../storage/blob-store.js';
import { READ_BLOCK_BYTES } from '../storage/file-store.js';

/** Where a chunk's file is: `<job dir>/rounds/<round>/chunks/<id>.jsonl`. */
export const chunkFileUri = (store: BlobStore, jobDir: string, round: number, id: string) =>
  store.join(jobDir, 'rounds', String(round), 'chunks', `${id}.jsonl`);

/** Sees one chunk's bytes as they are written (activities/early-chunk.ts), and how that chunk ends. */
export interface ChunkCopy {
  /** The next bytes of the chunk file; only read during the call (the writer reuses nothing it hands on). */
  add(bytes: Uint8Array): Promise<void>;
  finish(chunk: { requests: number; bytes: number; digest: string }): Promise<void>;
  abort(): Promise<void>;
}

/**
 * Lines are encoded once, into blocks of this size, which are then hashed, copied and written whole: per line, a
 * string concatenation, two hash updates, a write and a promise or two cost a prepare of 300,000 requests more
 * CPU than its JSON parsing. The size of a file read (storage/file-store.ts says why not larger).
 */
const BLOCK_BYTES = READ_BLOCK_BYTES;
const NEWLINE = 10;

/** Writes request lines into chunk files of one round, starting a new file whenever a limit would be passed. */
export class ChunkWriter {
  private readonly planner: ChunkPlanner;
  private readonly chunks: ChunkRef[] = [];
  private current: { write: AtomicWrite; ref: ChunkRef; hash: Hash; copy: ChunkCopy | null } | null = null;
  /** Copies made so far: an abort gives each of them up. */
  private readonly copies: ChunkCopy[] = [];
  /** The current chunk's bytes not yet written; handed on whole to the file, which owns it from then on. */
  private block = Buffer.allocUnsafe(BLOCK_BYTES);
  private used = 0;

  constructor(
    private readonly store: BlobStore,
    private readonly jobDir: string,
    private readonly round: number,
    limits: { maxRequests: number; maxBytes: number },
    /** A copy of the chunk of this index as it is written (the first chunks of an early create), or none. */
    private readonly copyOf: (index: number, id: string, uri: string) => ChunkCopy | null = () => null,
  ) {
    this.planner = new ChunkPlanner(limits);
  }

  /** Whether a line of `size` bytes (its UTF-8 length) fits in a chunk at all. */
  fits(size: number): boolean {
    return this.planner.fits(size);
  }

  /**
   * Adds a line (without its newline; `size` is its UTF-8 length). Returns a promise only when the line had to wait
   * for a block to be written or a chunk to be closed or opened: most lines are added at once, without one.
   */
  add(line: string, size = Buffer.byteLength(line)): Promise<void> | undefined {
    const current = this.current;
    if (!current || this.planner.startsNewChunk(size) || this.used + size + 1 > BLOCK_BYTES)
      return this.addSlowly(line, size);
    this.count(current.ref, size);
    this.used += this.block.write(line, this.used);
    this.block[this.used++] = NEWLINE;
    return undefined;
  }

  private async addSlowly(line: string, size: number): Promise<void> {
    if (this.current && this.planner.startsNewChunk(size)) await this.closeCurrent();
    const current = this.current ?? (await this.open());
    if (this.used + size + 1 > BLOCK_BYTES) await this.flush();
    this.count(current.ref, size);
    if (size + 1 > BLOCK_BYTES) return this.pass(Buffer.from(line + '\n'));
    this.used += this.block.write(line, this.used);
    this.block[this.used++] = NEWLINE;
  }

  private count(ref: ChunkRef, size: number): void {
    this.planner.add(size);
    ref.requests++;
    ref.bytes += size + 1;
  }

  private async open(): Promise<NonNullable<ChunkWriter['current']>> {
    const index = this.chunks.length;
    const id = chunkId(this.round, index);
    const uri = chunkFileUri(this.store, this.jobDir, this.round, id);
    const copy = this.copyOf(index, id, uri);
    if (copy) this.copies.push(copy);
    this.current = {
      write: await this.store.write(uri),
      ref: { id, round: this.round, index, uri, requests: 0, bytes: 0 },
      hash: createHash('sha256'),
      copy,
    };
    return this.current;
  }

  /** The block so far goes to the file (a fresh one takes its place: the file's stream may still hold it). */
  private async flush(): Promise<void> {
    if (this.used === 0) return;
    const bytes = this.block.subarray(0, this.used);
    this.block = Buffer.allocUnsafe(BLOCK_BYTES);
    this.used = 0;
    await this.pass(bytes);
  }

  private async pass(bytes: Buffer): Promise<void> {
    const current = this.current!;
    current.hash.update(bytes);
    await current.copy?.add(bytes);
    const stream = current.write.stream;
    if (!stream.write(bytes)) await once(stream, 'drain');
  }

  async finish(): Promise<ChunkRef[]> {
    await this.closeCurrent();
    return this.chunks;
  }

  async abort(): Promise<void> {
    for (const copy of this.copies) await copy.abort();
    await this.current?.write.abort();
    this.current = null;
    this.used = 0;
    for (const c of this.chunks) await this.store.remove(c.uri);
  }

  private async closeCurrent(): Promise<void> {
    if (!this.current) return;
    await this.flush();
    await this.current.write.commit();
    const closed = { ...this.current.ref, digest: this.current.hash.digest('hex') };
    this.chunks.push(closed);
    await this.current.copy?.finish(closed);
    this.current = null;
    this.planner.reset();
  }
}
