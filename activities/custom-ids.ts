import path from 'node:path';
import {
  BloomFilter,
  bloomSize,
  partitionOf,
  partitionsFor,
  repeatsAmong,
  type IdRecord,
} from '../shared/duplicate-ids.js';
import { mergeSorted } from '../shared/sorted-merge.js';
import { makeScratchDir, readTextSpill, removeScratch, TextSpill } from './scratch-files.js';

/** How much a job's custom_id check may hold in memory (tests shrink these to cross the thresholds). */
export interface CustomIdLimits {
  /** Ids checked exactly in a Set; the next one switches to the filter and the scratch files. */
  memoryIds: number;
  /** The filter's size once it switches. */
  filter: { bits: number; hashes: number };
  /** Candidate ids held at once while confirming (more make more passes over the ids file). */
  confirmIds: number;
  /** Where the scratch folder goes (default: the OS temp dir). */
  scratchBase?: string;
}

/**
 * 100,000 ids in a Set are ~7 MB of heap; past that a 4.8 MB filter and a scratch file of ids take over. The filter
 * is sized for 4 million ids at 1% false positives: a million-request job then confirms ~0.01% of its ids, a
 * 10-million one ~30% (more partitions of the confirming pass after it, each a read of the ids file, instead of
 * 7 MB more held through the whole pass). Beyond that it only gets less selective, never wrong.
 */
export const DEFAULT_ID_LIMITS: CustomIdLimits = {
  memoryIds: 100_000,
  filter: bloomSize(4_000_000, 0.01),
  confirmIds: 200_000,
};

/**
 * Which custom_ids of a job repeat one on an earlier line, in memory that does not grow with the job. Up to
 * `memoryIds` distinct ids it is an exact Set, and a repeat is known at once. Past that the Set is written out and
 * dropped: every id then goes to a scratch file of (line, id) in line order, and into a Bloom filter; an id the
 * filter may have seen is also written to a candidates file. After the pass `repeats()` confirms the candidates
 * exactly — a candidate id repeats where it appears again after its first record — so there are no false
 * duplicates (the filter's false positives are ruled out) and none missed (a filter never forgets an id).
 */
export class CustomIdIndex {
  private exact: Set<string> | null = new Set();
  private filter: BloomFilter | null = null;
  private dir: string | null = null;
  private ids: TextSpill | null = null;
  private candidates: TextSpill | null = null;

  constructor(
    private readonly limits: CustomIdLimits = DEFAULT_ID_LIMITS,
    private readonly progress: () => void = () => {},
  ) {}

  /** The scratch folder, once the index has switched to files (others may put their scratch files in it). */
  get scratch(): string | null {
    return this.dir;
  }

  /**
   * Notes the id of a line (lines in increasing order). True when it surely is on an earlier line (only while the
   * index is exact); after the switch always false: repeats are then found by `repeats()`, after the pass.
   */
  repeated(id: string, line: number): boolean | Promise<boolean> {
    // A promise only when a file has to be waited for: most ids are answered at once.
    if (this.exact) {
      if (this.exact.has(id)) return true;
      this.exact.add(id);
      if (this.exact.size > this.limits.memoryIds) return this.spill().then(() => false);
      return false;
    }
    const candidate = this.filter!.add(id) ? this.candidates!.add(id) : undefined;
    const recorded = this.ids!.add(`${line}\t${id}`);
    return candidate || recorded ? Promise.all([candidate, recorded]).then(() => false) : false;
  }

  private async spill(): Promise<void> {
    this.dir = await makeScratchDir('ids', this.limits.scratchBase);
    this.filter = new BloomFilter(this.limits.filter.bits, this.limits.filter.hashes);
    this.ids = await TextSpill.create(path.join(this.dir, 'ids'));
    this.candidates = await TextSpill.create(path.join(this.dir, 'candidates'));
    // Distinct ids, all before any line still to come: line 0 stands for "earlier than every other record".
    for (const id of this.exact!) {
      this.filter.add(id);
      await this.ids.add(`0\t${id}`);
    }
    this.exact = null;
  }

  /**
   * After the last `repeated()`: every line noted after the switch whose id is on an earlier line, in line order.
   * Candidates are confirmed one hash partition at a time (each at most ~`confirmIds` ids), each partition's repeats
   * to a run file, and the runs merged.
   */
  async *repeats(): AsyncGenerator<IdRecord> {
    if (!this.ids || !this.candidates || !this.dir) return;
    await this.closeFiles();
    if (this.candidates.count === 0) return;
    const parts = partitionsFor(this.candidates.count, this.limits.confirmIds);
    const runs: string[] = [];
    for (let part = 0; part < parts; part++) {
      const wanted = new Set<string>();
      for await (const id of readTextSpill(this.candidates.file)) if (partitionOf(id, parts) === part) wanted.add(id);
      if (parts === 1) {
        yield* repeatsAmong(this.records(), wanted);
        return;
      }
      const run = await TextSpill.create(path.join(this.dir, `repeats-${part}`));
      for await (const r of repeatsAmong(this.records(), wanted)) await run.add(`${r.line}\t${r.id}`);
      await run.close();
      runs.push(run.file);
    }
    yield* mergeSorted(
      runs.map((file) => this.records(file)),
      (r) => r.line,
    );
  }

  private async *records(file = this.ids!.file): AsyncGenerator<IdRecord> {
    let n = 0;
    for await (const text of readTextSpill(file)) {
      if (++n % 50_000 === 0) this.progress();
      const tab = text.indexOf('\t');
      yield { line: Number(text.slice(0, tab)), id: text.slice(tab + 1) };
    }
  }

  private async closeFiles(): Promise<void> {
    try {
      await this.ids?.close();
    } finally {
      await this.candidates?.close();
    }
  }

  /** Lets go of the filter and removes the scratch folder (with whatever else was put in it). */
  async dispose(): Promise<void> {
    try {
      await this.closeFiles();
    } finally {
      this.filter = null;
      this.exact = null;
      await removeScratch(this.dir);
      this.dir = null;
    }
  }
}
