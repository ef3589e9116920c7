/** Overhead of the create body around the requests: `{"requests":[` … `]}` and one comma per request. */
export const BODY_OVERHEAD_BYTES = 16;

/**
 * Decides chunk boundaries while requests stream by: a new chunk starts when adding the next request would pass
 * either limit. A single request larger than `maxBytes` cannot be sent at all (reported as invalid upstream).
 */
export class ChunkPlanner {
  private requests = 0;
  private bytes = BODY_OVERHEAD_BYTES;

  constructor(private readonly limits: { maxRequests: number; maxBytes: number }) {}

  /** True when the request of `size` bytes must start a new chunk. */
  startsNewChunk(size: number): boolean {
    if (this.requests === 0) return false;
    return this.requests + 1 > this.limits.maxRequests || this.bytes + size + 1 > this.limits.maxBytes;
  }

  add(size: number): void {
    this.requests += 1;
    this.bytes += size + 1;
  }

  reset(): void {
    this.requests = 0;
    this.bytes = BODY_OVERHEAD_BYTES;
  }

  fits(size: number): boolean {
    return BODY_OVERHEAD_BYTES + size <= this.limits.maxBytes;
  }
}
