import { z } from 'zod';
import { ChunkPlanner } from '../shared/chunking.js';
import {
  countableParams,
  ModelSamples,
  ModelTotals,
  type ModelRequests,
  type SampleRule,
} from '../shared/estimate-sampling.js';
import { JobInputSchema } from '../shared/job-input.js';
import type { ChunkRef } from '../shared/job-types.js';
import type { BlobStore } from '../storage/blob-store.js';
import { writeLines } from './jsonl.js';

/**
 * The estimate's sample, gathered by prepare's validation pass so that the estimate need not read every chunk
 * again. One JSONL file: a header line (what it describes, the exact per-model figures) and then the countable
 * params of the sampled requests. It lives beside round 0's chunk files, which it describes: it is removed with
 * them when a job is prepared again or a dry run discards them, and an estimate finds it from its chunks alone
 * (the dry run's estimate is not given the job folder).
 *
 * The estimate uses it only for exactly the chunks it was made from (same ids, same sha256 digests, same order),
 * and only when it holds what the estimate's settings pick; otherwise the estimate reads the chunks as before.
 */
const FILE_NAME = 'estimate-sample.jsonl';

export const estimateSampleUri = (store: BlobStore, chunkUri: string) => store.join(chunkUri, '..', FILE_NAME);

/** The job's default estimate settings: the sample prepare keeps serves jobs that keep them. */
const DEFAULTS = JobInputSchema.shape.estimate.parse(undefined);

const HeaderSchema = z.object({
  version: z.literal(1),
  chunks: z.array(z.object({ id: z.string(), digest: z.string() })),
  /** In the order the first request of each model came in the chunks. */
  models: z.array(
    z.object({
      model: z.string(),
      requests: z.number().int().positive(),
      maxTokensSum: z.number(),
      chunkIds: z.array(z.string()),
    }),
  ),
  /**
   * `every`: the lines after the header are every request of the chunks, in their order (any rule can pick from
   * them again). `reservoir`: the sample this rule picks, model by model (in `models` order), for a job counted by
   * sample.
   */
  sample: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('every') }),
    z.object({ kind: z.literal('reservoir'), sampleSize: z.number().int(), seed: z.number().int() }),
  ]),
});
type Header = z.infer<typeof HeaderSchema>;

type Params = Record<string, unknown>;

/**
 * Fed every request as prepare writes it to round 0's chunks, in that order (so the pilot's requests, held out, are
 * never fed). Memory is bounded: figures per model, a reservoir of the default sample size per model, and every
 * request only while the job is no larger than the default exhaustive maximum.
 */
export class EstimateSampleRecorder {
  /** Cuts the chunks as ChunkWriter does, to know which chunk holds each request; checked against its refs. */
  private readonly planner: ChunkPlanner;
  private readonly perChunk: number[] = [];
  private readonly totals = new ModelTotals<number>();
  private readonly reservoir = new ModelSamples<string>({
    exhaustive: false,
    sampleSize: DEFAULTS.sampleSize,
    seed: DEFAULTS.seed,
  });
  private every: string[] | null = [];
  private given = 0;
  private spoiled = false;

  constructor(limits: { maxRequests: number; maxBytes: number }) {
    this.planner = new ChunkPlanner(limits);
  }

  /** A request as it is written to the chunks (`line`), with its model and max_tokens as the estimate reads them. */
  add(line: string, model: string, maxTokens: number, size = Buffer.byteLength(line)): void {
    if (this.spoiled) return;
    if (this.perChunk.length === 0 || this.planner.startsNewChunk(size)) {
      this.planner.reset();
      this.perChunk.push(0);
    }
    this.planner.add(size);
    const chunk = this.perChunk.length - 1;
    this.perChunk[chunk]!++;
    this.given++;
    this.totals.add(model, maxTokens, chunk);
    this.reservoir.offer(model, line);
    if (this.every && this.every.length < DEFAULTS.exhaustiveMax) this.every.push(line);
    else this.every = null;
  }

  /** The chunks were changed after the pass (requests taken out): what was recorded no longer describes them. */
  spoil(): void {
    this.spoiled = true;
    this.every = null;
  }

  /**
   * Writes the file for the chunks prepare hands on, unless they are not the ones recorded (then the estimate reads
   * the chunks, as it does for jobs prepared by older builds).
   */
  async write(store: BlobStore, chunks: readonly ChunkRef[]): Promise<void> {
    const first = chunks[0];
    if (this.spoiled || !first || !this.describes(chunks)) return;
    const chunkIds = (indexes: ReadonlySet<number>) => [...indexes].map((i) => chunks[i]!.id);
    const header: Header = {
      version: 1,
      chunks: chunks.map((c) => ({ id: c.id, digest: c.digest! })),
      models: [...this.totals.entries()].map(([model, t]) => ({
        model,
        requests: t.requests,
        maxTokensSum: t.maxTokensSum,
        chunkIds: chunkIds(t.chunks),
      })),
      sample: this.every
        ? { kind: 'every' }
        : { kind: 'reservoir', sampleSize: DEFAULTS.sampleSize, seed: DEFAULTS.seed },
    };
    const sampled = this.every ?? header.models.flatMap((m) => this.reservoir.of(m.model));
    // Parsed from the very line written to the chunk: the estimate reads the same params either way.
    const countable = (line: string) =>
      JSON.stringify(countableParams((JSON.parse(line) as { params: Params }).params));
    await writeLines(store, estimateSampleUri(store, first.uri), [JSON.stringify(header), ...sampled.map(countable)]);
  }

  /** The chunks as recorded: as many, each with as many requests, and each with a digest to match on. */
  private describes(chunks: readonly ChunkRef[]): boolean {
    return (
      chunks.length === this.perChunk.length &&
      chunks.every((c, i) => c.index === i && c.requests === this.perChunk[i] && c.digest !== undefined) &&
      this.given === chunks.reduce((sum, c) => sum + c.requests, 0)
    );
  }
}

/**
 * The estimate's figures and sample per model from the file prepare wrote, or null when there is none for exactly
 * these chunks or it does not hold what `rule` picks (the estimate then reads the chunks).
 */
export async function recordedRequests(
  store: BlobStore,
  chunks: readonly ChunkRef[],
  rule: SampleRule,
): Promise<Map<string, ModelRequests<Params>> | null> {
  const first = chunks[0];
  if (!first) return null;
  const uri = estimateSampleUri(store, first.uri);
  if (!(await store.exists(uri))) return null;
  const [head = '', ...rest] = (await store.readText(uri)).split('\n');
  const parsed = HeaderSchema.safeParse(parseOrNull(head));
  if (!parsed.success) return null;
  const header = parsed.data;
  const same =
    header.chunks.length === chunks.length &&
    header.chunks.every((c, i) => c.id === chunks[i]!.id && c.digest === chunks[i]!.digest);
  if (!same) return null;
  const sampled: Params[] = [];
  for (const line of rest) {
    if (line === '') continue;
    const params = parseOrNull(line);
    if (params === null || typeof params !== 'object') return null;
    sampled.push(params as Params);
  }
  const picked = pick(header, sampled, rule);
  if (!picked) return null;
  return new Map(
    header.models.map((m) => [
      m.model,
      { requests: m.requests, maxTokensSum: m.maxTokensSum, chunks: m.chunkIds.length, sample: picked.of(m.model) },
    ]),
  );
}

/** The sample `rule` picks, from a stored list of every request or a stored reservoir of the same rule. */
function pick(header: Header, sampled: Params[], rule: SampleRule): { of(model: string): Params[] } | null {
  const total = header.models.reduce((sum, m) => sum + m.requests, 0);
  if (header.sample.kind === 'every') {
    if (sampled.length !== total) return null;
    // The same requests in the same order as in the chunks: the full pass would pick exactly these.
    const samples = new ModelSamples<Params>(rule);
    for (const params of sampled) samples.offer(String(params.model), params);
    const models = new Set(header.models.map((m) => m.model));
    return samples.models().every((m) => models.has(m)) ? samples : null;
  }
  const { sampleSize, seed } = header.sample;
  if (rule.exhaustive || rule.sampleSize !== sampleSize || rule.seed !== seed) return null;
  const byModel = new Map<string, Params[]>(header.models.map((m) => [m.model, []]));
  for (const params of sampled) {
    const list = byModel.get(String(params.model));
    if (!list) return null;
    list.push(params);
  }
  const complete = header.models.every((m) => byModel.get(m.model)!.length === Math.min(m.requests, sampleSize));
  return complete ? { of: (model) => byModel.get(model) ?? [] } : null;
}

function parseOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
