import { createHash } from 'node:crypto';
import type { CacheTtl, PromptSegment } from './tokenizer.js';

const TTL_MS: Record<CacheTtl, number> = { '5m': 5 * 60_000, '1h': 60 * 60_000 };

/** The real API accepts at most four `cache_control` breakpoints per request. */
export const MAX_CACHE_BREAKPOINTS = 4;

export interface CacheUsage {
  readTokens: number;
  write5mTokens: number;
  write1hTokens: number;
}

export const NO_CACHE_USAGE: CacheUsage = { readTokens: 0, write5mTokens: 0, write1hTokens: 0 };

/**
 * Prompt cache of one organization. Entries are keyed by model and the chained hash of every prompt segment up
 * to a breakpoint, and live for their TTL after their last write or read (a read refreshes, as in the real API).
 */
export class PromptCache {
  private readonly entries = new Map<string, number>();

  constructor(initial: Record<string, number> = {}) {
    for (const [key, expiresAt] of Object.entries(initial)) this.entries.set(key, expiresAt);
  }

  /** Reads the longest cached prefix and writes the rest up to the last breakpoint, at virtual time `now`. */
  apply(model: string, segments: PromptSegment[], now: number, minCacheableTokens: number): CacheUsage {
    if (!segments.some((s) => s.cacheTtl !== null)) return NO_CACHE_USAGE;
    const breakpoints: { key: string; prefixTokens: number; ttl: CacheTtl }[] = [];
    let chain = model;
    let prefixTokens = 0;
    for (const s of segments) {
      chain = createHash('sha256')
        .update(chain)
        .update(JSON.stringify(s.block) ?? '')
        .digest('base64url');
      prefixTokens += s.tokens;
      if (s.cacheTtl) breakpoints.push({ key: chain, prefixTokens, ttl: s.cacheTtl });
    }
    const eligible = breakpoints.filter((b) => b.prefixTokens >= minCacheableTokens);
    if (eligible.length === 0) return NO_CACHE_USAGE;

    let hitIndex = -1;
    for (let i = eligible.length - 1; i >= 0; i--) {
      const expiresAt = this.entries.get(eligible[i]!.key);
      if (expiresAt !== undefined && expiresAt >= now) {
        hitIndex = i;
        break;
      }
    }
    const usage: CacheUsage = { readTokens: 0, write5mTokens: 0, write1hTokens: 0 };
    let covered = 0;
    if (hitIndex >= 0) {
      const hit = eligible[hitIndex]!;
      usage.readTokens = hit.prefixTokens;
      covered = hit.prefixTokens;
      this.entries.set(hit.key, now + TTL_MS[hit.ttl]);
    }
    for (const b of eligible.slice(hitIndex + 1)) {
      const written = b.prefixTokens - covered;
      if (b.ttl === '1h') usage.write1hTokens += written;
      else usage.write5mTokens += written;
      covered = b.prefixTokens;
      this.entries.set(b.key, now + TTL_MS[b.ttl]);
    }
    return usage;
  }

  /** Live entries, for persistence; expired ones are dropped. */
  toJSON(now: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, expiresAt] of this.entries) if (expiresAt >= now) out[key] = expiresAt;
    return out;
  }
}
