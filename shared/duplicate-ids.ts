/**
 * Finding repeated custom_ids in fixed memory: a Bloom filter says "maybe seen" (never "no" for an id it was given),
 * and the maybes are confirmed exactly against the ids as they were read, in line order, one hash partition at a
 * time so that what is held stays bounded however many there are. The file handling is in activities/custom-ids.
 */

/** A 32-bit hash of a string's UTF-16 code units (a multiply-xorshift mix, finished with murmur3's fmix32). */
export function hash32(s: string, seed: number): number {
  let h = (seed ^ s.length) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 15;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const SEED_A = 0x9e3779b9;
const SEED_B = 0x7f4a7c15;
const SEED_PARTITION = 0x2545f491;

/** Bits and hash count of a Bloom filter holding `capacity` ids with the given false-positive rate (0–1). */
export function bloomSize(capacity: number, falsePositiveRate: number): { bits: number; hashes: number } {
  if (!(capacity >= 1) || !(falsePositiveRate > 0 && falsePositiveRate < 1))
    throw new RangeError(`bloomSize: capacity ${capacity}, rate ${falsePositiveRate}`);
  const bits = Math.ceil((-capacity * Math.log(falsePositiveRate)) / (Math.LN2 * Math.LN2));
  return { bits, hashes: Math.max(1, Math.round((bits / capacity) * Math.LN2)) };
}

/** The false-positive rate of a Bloom filter of `bits` and `hashes` once it holds `items` ids. */
export function bloomFalsePositiveRate(bits: number, hashes: number, items: number): number {
  return Math.pow(1 - Math.exp((-hashes * items) / bits), hashes);
}

/**
 * A Bloom filter over strings, in a fixed `bits / 8` bytes. Positions come from two hashes (h1 + i·h2, the
 * Kirsch–Mitzenmacher construction), so an id costs two passes over its characters whatever the hash count.
 */
export class BloomFilter {
  private readonly words: Uint32Array;

  constructor(
    readonly bits: number,
    readonly hashes: number,
  ) {
    if (!Number.isInteger(bits) || bits < 1 || bits > 2 ** 32) throw new RangeError(`BloomFilter: ${bits} bits`);
    if (!Number.isInteger(hashes) || hashes < 1 || hashes > 32) throw new RangeError(`BloomFilter: ${hashes} hashes`);
    this.words = new Uint32Array(Math.ceil(bits / 32));
  }

  /** Bytes the filter holds. */
  get bytes(): number {
    return this.words.byteLength;
  }

  /** Adds an id; true when it may have been added before (all its bits were already set), false when surely not. */
  add(id: string): boolean {
    const h1 = hash32(id, SEED_A);
    const h2 = (hash32(id, SEED_B) | 1) >>> 0;
    let present = true;
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + i * h2) % this.bits;
      const word = bit >>> 5;
      const mask = 1 << (bit & 31);
      if ((this.words[word]! & mask) === 0) {
        present = false;
        this.words[word]! |= mask;
      }
    }
    return present;
  }

  /** Whether an id may have been added (false: it surely was not). */
  has(id: string): boolean {
    const h1 = hash32(id, SEED_A);
    const h2 = (hash32(id, SEED_B) | 1) >>> 0;
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + i * h2) % this.bits;
      if ((this.words[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Which of `parts` hash partitions an id belongs to (independent of the filter's hashes). */
export function partitionOf(id: string, parts: number): number {
  return parts <= 1 ? 0 : hash32(id, SEED_PARTITION) % parts;
}

/** How many partitions keep each one's candidate ids near `perPart` (at least one). */
export function partitionsFor(candidates: number, perPart: number): number {
  return Math.max(1, Math.ceil(candidates / Math.max(1, perPart)));
}

/** One id as it was read: its line, and the id (line 0 for ids known to come before every other record). */
export interface IdRecord {
  line: number;
  id: string;
}

/**
 * The records, in the order given (line order), whose id is in `candidates` and already appeared on an earlier
 * record: every occurrence of an id after its first. Holds at most one entry per candidate.
 */
export async function* repeatsAmong(
  records: AsyncIterable<IdRecord>,
  candidates: ReadonlySet<string>,
): AsyncGenerator<IdRecord> {
  const first = new Set<string>();
  for await (const r of records) {
    if (!candidates.has(r.id)) continue;
    if (first.has(r.id)) yield r;
    else first.add(r.id);
  }
}
