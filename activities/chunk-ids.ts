import { heartbeat } from '@temporalio/activity';
import type { ChunkRef } from '../shared/job-types.js';
import { CUSTOM_ID_PREFIX, customIdOfLine } from './line-batches.js';
import type { BlobStore } from '../storage/blob-store.js';

/** Heartbeats at most this often: a line-by-line beat would cost more than the work. */
const HEARTBEAT_EVERY_MS = 1000;

/** A heartbeat that sends at most once per interval, unless forced (phase boundaries). */
export function beater() {
  let last = 0;
  return (details: Record<string, number>, force = false) => {
    const now = Date.now();
    if (!force && now - last < HEARTBEAT_EVERY_MS) return;
    last = now;
    heartbeat(details);
  };
}

/**
 * The custom_ids of a chunk's requests, read from its chunk file (heartbeating: a chunk holds up to 100,000), each
 * with its place among them (0, 1, … in file order): what an `AnsweredIds` marks.
 */
export async function chunkCustomIds(store: BlobStore, chunk: ChunkRef): Promise<ChunkIds> {
  const beat = beater();
  return customIdsOf(store.read(chunk.uri) as AsyncIterable<Buffer>, chunk.uri, (size) => beat({ expected: size }));
}

// The bytes form of `leadingCustomId` (line-batches.ts): the same prefix, the same rule for where the id ends.
const PREFIX = Buffer.from(CUSTOM_ID_PREFIX);
const QUOTE = 34;
const COMMA = 44;
const BACKSLASH = 92;
const NEWLINE = 10;
const RETURN = 13;

/**
 * The custom_ids of a chunk file's lines, read from its bytes: a line we wrote starts with its id, so the id's bytes
 * are taken as they are and the rest of the line is never decoded (a chunk of 1.5 KB requests is 150 MB of text;
 * decoding it all took a quarter of a second of each fetch). A line that starts otherwise is parsed in full. Blank
 * lines are skipped and a "\r" before a "\n" dropped, as everywhere lines are read.
 */
export async function customIdsOf(
  blocks: AsyncIterable<Buffer>,
  what: string,
  onBlock: (size: number) => void = () => {},
): Promise<ChunkIds> {
  const ids = new ChunkIdsBuilder();
  const line = (buf: Buffer, from: number, to: number) => {
    if (to > from && buf[to - 1] === RETURN) to--;
    if (to === from) return;
    if (ids.addLeading(buf, from, to)) return;
    const id = customIdOfLine(buf.toString('utf8', from, to));
    if (id === null) throw new Error(`chunk file ${what} has a line without a custom_id`);
    ids.add(id);
  };
  // The start of a line that the last blocks cut off: joined once its end comes.
  let carry: Buffer[] = [];
  for await (const block of blocks) {
    let from = 0;
    let nl = block.indexOf(NEWLINE);
    if (carry.length > 0) {
      if (nl === -1) {
        carry.push(block);
        continue;
      }
      const whole = Buffer.concat([...carry, block.subarray(0, nl)]);
      line(whole, 0, whole.length);
      carry = [];
      from = nl + 1;
      nl = block.indexOf(NEWLINE, from);
    }
    for (; nl !== -1; from = nl + 1, nl = block.indexOf(NEWLINE, from)) line(block, from, nl);
    if (from < block.length) carry.push(block.subarray(from));
    onBlock(ids.size);
  }
  if (carry.length > 0) {
    const whole = Buffer.concat(carry);
    line(whole, 0, whole.length);
  }
  return ids.done(what);
}

/** Places up to 2^21 (a batch holds at most 100,000 requests): a hash and a place share one float64 exactly. */
const PLACES = 2 ** 21;

/**
 * A chunk's custom_ids, each with its place among them, in ~22 bytes an id and no object per id: the ids' bytes end
 * to end, where each starts, and their hashes with their places, sorted. A Map of 100,000 id strings held ~7 MB
 * through each download (its table 3.5 MB, the strings the rest), and left them to the old generation's next
 * collection. Lookups are exact: a hash only finds the candidates, whose bytes are then compared.
 */
export class ChunkIds {
  /** @internal Built by `ChunkIdsBuilder`. */
  constructor(
    private readonly bytes: Buffer,
    private readonly starts: Uint32Array,
    private readonly keys: Float64Array,
    readonly size: number,
    private readonly hash: (id: string) => number,
  ) {}

  /** The id's place in the chunk, or -1 when it is not one of its requests. */
  indexOf(id: string): number {
    const low = this.hash(id) * PLACES;
    let a = 0;
    let b = this.size;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (this.keys[m]! < low) a = m + 1;
      else b = m;
    }
    for (; a < this.size; a++) {
      const place = this.keys[a]! - low;
      if (place >= PLACES) break;
      if (this.is(place, id)) return place;
    }
    return -1;
  }

  has(id: string): boolean {
    return this.indexOf(id) !== -1;
  }

  /** The id at a place. */
  idAt(place: number): string {
    return this.bytes.toString('latin1', this.starts[place], this.starts[place + 1]);
  }

  private is(place: number, id: string): boolean {
    const from = this.starts[place]!;
    if (this.starts[place + 1]! - from !== id.length) return false;
    for (let j = 0; j < id.length; j++) if (this.bytes[from + j] !== id.charCodeAt(j)) return false;
    return true;
  }
}

/** Collects a chunk's ids in file order; `done` sorts them once. */
export class ChunkIdsBuilder {
  private bytes = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private starts = new Uint32Array(1024);
  private keys = new Float64Array(1024);
  size = 0;

  /** `hash` is for tests (colliding ids); any 32-bit hash gives the same answers. */
  constructor(private readonly hash: (id: string) => number = fnv1a) {}

  /**
   * Adds the id that leads a line (`{"custom_id":"…",`) straight from its bytes; false when the line does not start
   * so, or the id is not plain ASCII without escapes (then the caller parses the line).
   */
  addLeading(line: Buffer, from: number, to: number): boolean {
    const start = from + PREFIX.length;
    if (to - from <= PREFIX.length || line.compare(PREFIX, 0, PREFIX.length, from, start) !== 0) return false;
    const end = line.indexOf(QUOTE, start);
    if (end === -1 || end >= to || line[end + 1] !== COMMA) return false;
    let hash = FNV_OFFSET;
    for (let j = start; j < end; j++) {
      const c = line[j]!;
      if (c === BACKSLASH || c > 0x7f) return false;
      hash = Math.imul(hash ^ c, FNV_PRIME);
    }
    if (this.hash !== fnv1a) {
      this.add(line.toString('latin1', start, end));
      return true;
    }
    this.reserve(end - start);
    line.copy(this.bytes, this.used, start, end);
    this.push(end - start, hash >>> 0);
    return true;
  }

  add(id: string): void {
    this.reserve(id.length);
    for (let j = 0; j < id.length; j++) {
      const c = id.charCodeAt(j);
      // The API allows ^[a-zA-Z0-9_-]{1,64}$ and prepare checks it: nothing wider reaches a chunk file.
      if (c > 0xff) throw new Error(`custom_id ${JSON.stringify(id)} is not one the API accepts`);
      this.bytes[this.used + j] = c;
    }
    this.push(id.length, this.hash(id));
  }

  /** Room for one more id of `length` bytes. */
  private reserve(length: number): void {
    if (this.size + 1 >= PLACES) throw new Error(`a chunk holds at most ${PLACES - 1} requests`);
    if (this.size + 2 > this.starts.length) {
      this.starts = grown(this.starts, this.starts.length * 2);
      this.keys = grown(this.keys, this.keys.length * 2);
    }
    if (this.used + length > this.bytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + length));
      this.bytes.copy(bigger, 0, 0, this.used);
      this.bytes = bigger;
    }
  }

  /** Takes the id whose `length` bytes were just written after the others. */
  private push(length: number, hash: number): void {
    this.starts[this.size] = this.used;
    this.keys[this.size] = hash * PLACES + this.size;
    this.used += length;
    this.size++;
    this.starts[this.size] = this.used;
  }

  /** The ids, sorted for lookups. A custom_id twice in one chunk file is refused: prepare never writes one. */
  done(what = 'the chunk'): ChunkIds {
    const keys = this.keys.slice(0, this.size).sort();
    const bytes = this.bytes.subarray(0, this.used);
    const starts = this.starts.slice(0, this.size + 1);
    const idAt = (place: number) => bytes.toString('latin1', starts[place], starts[place + 1]);
    // Equal ids have equal hashes: only the rare runs of one hash are compared.
    for (let a = 1; a < keys.length; a++) {
      const hash = Math.floor(keys[a]! / PLACES);
      for (let b = a - 1; b >= 0 && Math.floor(keys[b]! / PLACES) === hash; b--) {
        const id = idAt(keys[a]! - hash * PLACES);
        if (id === idAt(keys[b]! - hash * PLACES)) throw new Error(`${what} has custom_id ${id} twice`);
      }
    }
    return new ChunkIds(bytes, starts, keys, this.size, this.hash);
  }
}

function grown<T extends Uint32Array | Float64Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}

/** FNV-1a over the id's characters: fast, and spreads ids that differ only in their last digits. */
function fnv1a(id: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * Which of a chunk's requests have their result: one byte per request, by its place in `chunkCustomIds`, rather
 * than a second set of 100,000 id strings (~6 MB held through each download).
 */
export class AnsweredIds {
  private readonly answered: Uint8Array;
  size = 0;

  constructor(private readonly expected: ChunkIds) {
    this.answered = new Uint8Array(expected.size);
  }

  has(id: string): boolean {
    const at = this.expected.indexOf(id);
    return at !== -1 && this.answered[at] === 1;
  }

  /** Marks an expected id answered (an id not expected is a caller's bug: it checks `expected` first). */
  add(id: string): void {
    if (this.mark(id) === 'stranger') throw new Error(`${id} is not a request of this chunk`);
  }

  /** The ids not answered, in file order. */
  *missing(): Generator<string> {
    for (let i = 0; i < this.answered.length; i++) if (this.answered[i] === 0) yield this.expected.idAt(i);
  }

  /** Marks the id answered, in one lookup: whether it is new, was answered already, or is not the chunk's. */
  mark(id: string): 'new' | 'again' | 'stranger' {
    const at = this.expected.indexOf(id);
    if (at === -1) return 'stranger';
    if (this.answered[at] === 1) return 'again';
    this.answered[at] = 1;
    this.size++;
    return 'new';
  }
}
