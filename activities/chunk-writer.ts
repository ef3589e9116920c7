import { createHash, type Hash } from 'node:crypto';
import { ChunkPlanner } from '../shared/chunking.js';
import type { ChunkRef } from '../shared/job-types.js';
import { chunkId } from './deps.js';
import { writeLine } from './jsonl.js';
import type { AtomicWrite, BlobStore } from '../storage/blob-store.js';

/** Where a chunk's file is: `<job dir>/rounds/<round>/chunks/<id>.jsonl`. */
export const chunkFileUri = (store: BlobStore, jobDir: string, round: number, id: string) =>
  store.join(jobDir, 'rounds', String(round), 'chunks', `${id}.jsonl`);

/** Sees one chunk's lines as they are written (activities/early-chunk.ts), and how that chunk ends. */
export interface ChunkCopy {
  add(line: string): Promise<void>;
  finish(chunk: { requests: number; bytes: number; digest: string }): Promise<void>;
  abort(): Promise<void>;
}

/** Writes request lines into chunk files of one round, starting a new file whenever a limit would be passed. */
export class ChunkWriter {
  private readonly planner: ChunkPlanner;
  private readonly chunks: ChunkRef[] = [];
  private current: { write: AtomicWrite; ref: ChunkRef; hash: Hash; copy: ChunkCopy | null } | null = null;
  /** Copies made so far: an abort gives each of them up. */
  private readonly copies: ChunkCopy[] = [];

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

  fits(line: string): boolean {
    return this.planner.fits(Buffer.byteLength(line));
  }

  async add(line: string): Promise<void> {
    const size = Buffer.byteLength(line);
    if (this.current && this.planner.startsNewChunk(size)) await this.closeCurrent();
    if (!this.current) {
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
    }
    this.planner.add(size);
    this.current.ref.requests++;
    this.current.ref.bytes += size + 1;
    this.current.hash.update(line).update('\n');
    await writeLine(this.current.write.stream, line);
    await this.current.copy?.add(line);
  }

  async finish(): Promise<ChunkRef[]> {
    await this.closeCurrent();
    return this.chunks;
  }

  async abort(): Promise<void> {
    for (const copy of this.copies) await copy.abort();
    await this.current?.write.abort();
    this.current = null;
    for (const c of this.chunks) await this.store.remove(c.uri);
  }

  private async closeCurrent(): Promise<void> {
    if (!this.current) return;
    await this.current.write.commit();
    const closed = { ...this.current.ref, digest: this.current.hash.digest('hex') };
    this.chunks.push(closed);
    await this.current.copy?.finish(closed);
    this.current = null;
    this.planner.reset();
  }
}
