import { createHash, type Hash } from 'node:crypto';
import { ChunkPlanner } from '../shared/chunking.js';
import type { ChunkRef } from '../shared/job-types.js';
import { chunkId } from './deps.js';
import { writeLine } from './jsonl.js';
import type { AtomicWrite, BlobStore } from '../storage/blob-store.js';

/** Writes request lines into chunk files of one round, starting a new file whenever a limit would be passed. */
export class ChunkWriter {
  private readonly planner: ChunkPlanner;
  private readonly chunks: ChunkRef[] = [];
  private current: { write: AtomicWrite; ref: ChunkRef; hash: Hash } | null = null;

  constructor(
    private readonly store: BlobStore,
    private readonly jobDir: string,
    private readonly round: number,
    limits: { maxRequests: number; maxBytes: number },
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
      const uri = this.store.join(this.jobDir, 'rounds', String(this.round), 'chunks', `${id}.jsonl`);
      this.current = {
        write: await this.store.write(uri),
        ref: { id, round: this.round, index, uri, requests: 0, bytes: 0 },
        hash: createHash('sha256'),
      };
    }
    this.planner.add(size);
    this.current.ref.requests++;
    this.current.ref.bytes += size + 1;
    this.current.hash.update(line).update('\n');
    await writeLine(this.current.write.stream, line);
  }

  async finish(): Promise<ChunkRef[]> {
    await this.closeCurrent();
    return this.chunks;
  }

  async abort(): Promise<void> {
    await this.current?.write.abort();
    this.current = null;
    for (const c of this.chunks) await this.store.remove(c.uri);
  }

  private async closeCurrent(): Promise<void> {
    if (!this.current) return;
    await this.current.write.commit();
    this.chunks.push({ ...this.current.ref, digest: this.current.hash.digest('hex') });
    this.current = null;
    this.planner.reset();
  }
}
