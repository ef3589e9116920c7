import { createHash } from 'node:crypto';
import type { IdRecord } from '../shared/duplicate-ids.js';
import type { ChunkRef, InvalidLine } from '../shared/job-types.js';
import { mergeSorted } from '../shared/sorted-merge.js';
import type { BlobStore } from '../storage/blob-store.js';
import { lines, writeLine } from './jsonl.js';
import { readNumbersAt, readNumberSpill, type NumberSpill } from './scratch-files.js';

/**
 * What happens to the repeats of a custom_id that are confirmed only after the pass (activities/custom-ids): they
 * join the invalid-lines report in line order, and the lines that had passed every other check leave the chunks
 * they were written to, before any chunk is submitted.
 */

export const repeatRule = (id: string) => `duplicate: '${id}' appears on an earlier line`;

/**
 * Merges repeats (in line order) into the report written by the pass (in line order), rewriting it. The lines that
 * had no other problem — which the pass kept — become invalid lines: their numbers go to `dropped`, in order.
 * Returns what was added and the report's first entries, or null when there were no repeats (report untouched).
 */
export async function mergeRepeatsIntoReport(
  store: BlobStore,
  reportUri: string,
  repeats: AsyncIterable<IdRecord>,
  dropped: NumberSpill,
  firstMax: number,
  progress: () => void = () => {},
): Promise<{ lines: number; problems: number; first: InvalidLine[] } | null> {
  const pending = repeats[Symbol.asyncIterator]();
  const head = await pending.next();
  if (head.done) return null;
  interface Tagged {
    entry: InvalidLine;
    repeat: boolean;
  }
  async function* fromReport(): AsyncGenerator<Tagged> {
    for await (const text of lines(store.read(reportUri)))
      if (text !== '') yield { entry: JSON.parse(text) as InvalidLine, repeat: false };
  }
  async function* fromRepeats(): AsyncGenerator<Tagged> {
    for (let next = head; !next.done; next = await pending.next()) {
      const { line, id } = next.value;
      yield { entry: { line, customId: id, field: 'custom_id', rule: repeatRule(id) }, repeat: true };
    }
  }
  const out = await store.write(reportUri);
  const added = { lines: 0, problems: 0, first: [] as InvalidLine[] };
  let lastReported = -1;
  let n = 0;
  try {
    // Ties go to the report: a line's own problems come before its repeat, and tell that it was not kept.
    for await (const { entry, repeat } of mergeSorted([fromReport(), fromRepeats()], (t) => t.entry.line)) {
      if (!repeat) lastReported = entry.line;
      else {
        added.problems++;
        if (lastReported !== entry.line) {
          added.lines++;
          await dropped.add(entry.line);
        }
      }
      if (added.first.length < firstMax) added.first.push(entry);
      await writeLine(out.stream, JSON.stringify(entry));
      if (++n % 10_000 === 0) progress();
    }
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return added;
}

/** Where each request of the chunks came from: the input line numbers of requests `base`, `base + 1`, … in order. */
export interface ChunkPositions {
  file: string;
  base: number;
}

/**
 * The chunks without the requests of the `dropped` lines (a sorted NumberSpill file): a chunk holding any is
 * rewritten (new size and digest), one left empty is removed. Holds one chunk's line numbers at a time.
 * `onDrop` sees each request taken out.
 */
export async function dropLinesFromChunks(
  store: BlobStore,
  chunks: ChunkRef[],
  positions: ChunkPositions,
  dropped: string,
  onDrop: (line: string) => void,
  progress: () => void = () => {},
): Promise<ChunkRef[]> {
  const kept: ChunkRef[] = [];
  let start = 0;
  for (const chunk of chunks) {
    const end = start + chunk.requests;
    const from = Math.max(start, positions.base);
    const drop = end > from ? await marks(positions.file, from - positions.base, end - from, from - start) : null;
    start = end;
    if (!drop) kept.push(chunk);
    else {
      const rewritten = await rewrite(chunk, drop);
      if (rewritten) kept.push(rewritten);
    }
  }
  return kept;

  /** Which requests of the chunk (from `offset` on) are dropped lines; null when none is. */
  async function marks(file: string, at: number, count: number, offset: number): Promise<Uint8Array | null> {
    const lineNos = await readNumbersAt(file, at, count);
    const order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[i] = i;
    order.sort((a, b) => lineNos[a]! - lineNos[b]!);
    let drop: Uint8Array | null = null;
    let k = 0;
    for await (const line of readNumberSpill(dropped)) {
      while (k < count && lineNos[order[k]!]! < line) k++;
      if (k === count) break;
      if (lineNos[order[k]!] === line) (drop ??= new Uint8Array(offset + count))[offset + order[k]!] = 1;
    }
    return drop;
  }

  async function rewrite(chunk: ChunkRef, drop: Uint8Array): Promise<ChunkRef | null> {
    const file = await store.write(chunk.uri);
    const hash = createHash('sha256');
    let requests = 0;
    let bytes = 0;
    let i = 0;
    try {
      for await (const line of lines(store.read(chunk.uri))) {
        if (i % 10_000 === 0) progress();
        if (drop[i++]) {
          onDrop(line);
          continue;
        }
        await writeLine(file.stream, line);
        hash.update(line).update('\n');
        requests++;
        bytes += Buffer.byteLength(line) + 1;
      }
      if (i !== chunk.requests) throw new Error(`${chunk.uri}: read ${i} requests, expected ${chunk.requests}`);
      if (requests === 0) {
        await file.abort();
        await store.remove(chunk.uri);
        return null;
      }
      await file.commit();
    } catch (err) {
      await file.abort();
      throw err;
    }
    return { ...chunk, requests, bytes, digest: hash.digest('hex') };
  }
}
