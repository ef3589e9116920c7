import { createHash } from 'node:crypto';
import path from 'node:path';
import { Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { batchOutputCap, findModel } from '../config/load.js';
import { saveCreateOptions } from './create-options.js';
import type { ChunkRef, InvalidLine, PreparedJob } from '../shared/job-types.js';
import { Reservoir } from '../shared/pilot.js';
import { seededRandom } from '../shared/estimate.js';
import { maxTokensOf } from '../shared/estimate-sampling.js';
import { checkRequestLine, type LineProblem } from '../shared/request-rules.js';
import { chunkFileUri, ChunkWriter } from './chunk-writer.js';
import { earlyDirOf, EarlySegmentWriter } from './early-chunk.js';
import { EARLY_CHUNK_SIGNAL, earlyRef } from '../shared/early-create.js';
import { EstimateSampleRecorder } from './estimate-sample.js';
import { jobDirUri, type ActivityDeps } from './deps.js';
import { LineTooLongError, writeLine } from './jsonl.js';
import { classifyIoError } from '../shared/io-failures.js';
import { inputItemBlocks } from './input-items.js';
import { resolveFormat, type InputFormat, type RequestTemplate } from '../shared/request-template.js';
import { TemplateSchema } from '../shared/job-input.js';
import { CustomIdIndex, DEFAULT_ID_LIMITS, type CustomIdLimits } from './custom-ids.js';
import { dropLinesFromChunks, mergeRepeatsIntoReport, repeatRule, type ChunkPositions } from './repeated-lines.js';
import { NumberSpill, readNumberSpill } from './scratch-files.js';

const FIRST_PROBLEMS = 25;

export interface PrepareArgs {
  jobId: string;
  input: string;
  chunk: { maxRequests: number; maxBytes: number };
  onInvalid: 'reject' | 'skip';
  format?: InputFormat | 'auto';
  template?: RequestTemplate | undefined;
  /** `anthropic-beta` values of every batch create (some raise max_tokens). */
  betas?: string[];
  /** Keep a random sample of this many requests out of the batches, for a pilot, when the job has enough. */
  pilot?: { size: number; minRequests: number };
  /**
   * Copy the first chunk into segments as it is written and tell the job, so its create can start (early create);
   * `earlyChunks` (default 1) says how many of the first chunks.
   */
  early?: boolean;
  earlyChunks?: number;
}

/** Where a pilot's requests go: a chunk of round 0 of its own, answered through the Messages API. */
export const PILOT_CHUNK_ID = 'r0-pilot';

export interface PrepareOptions {
  /** How much the custom_id uniqueness check holds in memory (activities/custom-ids). */
  customIds?: CustomIdLimits;
}

/**
 * Validates the input in one streaming pass (JSON, custom_id pattern and uniqueness across the whole job, params
 * shape, forbidden params) and splits the valid requests into chunk files by count and bytes. Every problem goes
 * to invalid.jsonl with its line number, field and rule. In `reject` mode any problem means no chunk is kept.
 *
 * Memory does not grow with the job: past a threshold the uniqueness check moves to a fixed-size filter and
 * scratch files on the worker's disk, and its repeats are confirmed after the pass — then added to the report and
 * taken out of the chunks already written, before the chunks are handed on.
 */
export function prepareActivities(deps: ActivityDeps, options: PrepareOptions = {}) {
  const { store } = deps;

  return {
    async prepareJob(args: PrepareArgs): Promise<PreparedJob> {
      try {
        return await prepare(args);
      } catch (err) {
        throw finalIfPermanent(err, args.input);
      }
    },

    /** Removes a job's chunk files (a dry run keeps only its invalid-lines report). */
    async discardChunks(args: { jobId: string }): Promise<void> {
      await store.remove(store.join(jobDirUri(deps, args.jobId), 'rounds'));
    },
  };

  async function prepare(args: PrepareArgs): Promise<PreparedJob> {
    const jobDir = jobDirUri(deps, args.jobId);
    const capOf = (model: string) => {
      const info = findModel(deps.models, model);
      return info && batchOutputCap(info, args.betas);
    };
    await saveCreateOptions(deps, jobDir, { betas: args.betas ?? [] });
    const inputUri = store.resolve(args.input);
    const entry = await store.inspect(inputUri);
    if (!entry) throw ApplicationFailure.nonRetryable(`input ${args.input} does not exist`, 'InputNotFound');
    if (entry.kind !== 'file')
      throw ApplicationFailure.nonRetryable(`input ${args.input} is not a file`, 'InputNotAFile');
    // Chunk files are rewritten; submission records (rounds/<r>/submit/) are never deleted: a job reset to its
    // start, or a job id run again, must find the batches it already paid for rather than create them again.
    for (const round of await store.list(store.join(jobDir, 'rounds')))
      for (const derived of ['chunks', 'outcomes', 'retry', 'early'])
        await store.remove(store.join(jobDir, 'rounds', round, derived));

    // Lines reach the chunk files in blocks (ChunkWriter): one file write per line was a fifth of the pass.
    const chunks = new ChunkWriter(
      store,
      jobDir,
      0,
      args.chunk,
      args.early ? earlyCopies(args.jobId, jobDir, args.earlyChunks ?? 1) : undefined,
    );
    // What the estimate would read back from the chunks, gathered as they are written (activities/estimate-sample).
    const forEstimate = new EstimateSampleRecorder(args.chunk);
    // Seeded by the job id: the same job prepared again draws the same pilot, so its chunks come out the same.
    const seed = createHash('sha256').update(args.jobId).digest().readUInt32BE(0);
    const sampler = args.pilot ? new Reservoir<Request>(args.pilot.size, seededRandom(seed)) : null;
    const settling = () => heartbeat({ settlingRepeats: true });
    const ids = new CustomIdIndex(options.customIds ?? DEFAULT_ID_LIMITS, settling);
    // Once the ids spill, the input line of every request written from then on (to find repeats in the chunks).
    let written = 0;
    let positions: { log: NumberSpill; base: number } | null = null;
    // A request's way to its chunk returns a promise only when something had to be waited for (a block written,
    // a chunk closed): a promise or two per line cost more than the line's checks.
    const toChunks = (request: Request): Promise<void> | undefined => {
      const logged = positions?.log.add(request.lineNo);
      written++;
      forEstimate.add(request.line, request.model, request.maxTokens, request.size);
      if (!logged) return chunks.add(request.line, request.size);
      return logged.then(() => chunks.add(request.line, request.size));
    };
    const add = (request: Request): Promise<void> | undefined => {
      const passed = sampler ? sampler.offer(request) : request;
      return passed === undefined ? undefined : toChunks(passed);
    };
    // Requests kept per model: a model only on lines found to be repeats after the pass is not the job's.
    const models = new Map<string, number>();
    const countModel = (line: string, by: number) => {
      const model = String((JSON.parse(line) as { params?: { model?: unknown } }).params?.model);
      const n = (models.get(model) ?? 0) + by;
      if (n > 0) models.set(model, n);
      else models.delete(model);
    };
    const first: InvalidLine[] = [];
    const reportUri = store.join(jobDir, 'invalid.jsonl');
    const warnings: string[] = [];
    // One answer per model name for the whole pass: a million lines of one model ask once, and never wait on it again.
    const modelAnswers = new Map<string, LineProblem | null>();
    const askModel = async (model: string): Promise<LineProblem | null> => {
      const found = await deps.modelDirectory.lookup(model);
      if (found.known === null) {
        const note = `model names were not checked: ${found.reason}`;
        if (!warnings.includes(note)) warnings.push(note);
        return null;
      }
      if (found.known) return null;
      const hint = found.suggestions.length ? `; did you mean ${found.suggestions.join(' or ')}?` : '';
      return { field: 'params.model', rule: `unknown model '${model}': the Models API does not list it${hint}` };
    };
    const report = await store.write(reportUri);
    const format = resolveFormat(args.format ?? 'auto', inputUri);
    const template = args.template ?? (format === 'batch' ? undefined : TemplateSchema.parse({}));
    let nonBlank = 0;
    let badLines = 0;
    let problems = 0;

    const reject = async (line: number, customId: string | null, found: LineProblem[]) => {
      badLines++;
      for (const p of found) {
        problems++;
        const entry: InvalidLine = { line, customId, field: p.field, rule: p.rule };
        if (first.length < FIRST_PROBLEMS) first.push(entry);
        await writeLine(report.stream, JSON.stringify(entry));
      }
    };

    let kept: ChunkRef[];
    let pilot: ChunkRef | null = null;
    let dropped: NumberSpill | null = null;
    try {
      try {
        for await (const block of inputItemBlocks(store.read(inputUri), format, template, args.chunk.maxBytes))
          for (const read of block) {
            const lineNo = read.lineNo;
            if (++nonBlank % 10_000 === 0) heartbeat({ lines: lineNo });
            if ('unreadable' in read) {
              await reject(lineNo, null, [{ field: '(line)', rule: read.unreadable }]);
              continue;
            }
            const value = read.value;
            const found = checkRequestLine(value, capOf);
            const item = value as { custom_id?: unknown; params?: { model?: unknown; max_tokens?: unknown } };
            const customId = typeof item.custom_id === 'string' ? item.custom_id : null;
            if (customId !== null && found.every((p) => p.field !== 'custom_id')) {
              let repeated = ids.repeated(customId, lineNo);
              if (typeof repeated !== 'boolean') repeated = await repeated;
              if (repeated) found.push({ field: 'custom_id', rule: repeatRule(customId) });
              if (ids.scratch && !positions)
                positions = { log: await NumberSpill.create(path.join(ids.scratch, 'positions')), base: written };
            }
            const model = item.params?.model;
            if (typeof model === 'string' && model !== '' && found.every((p) => p.field !== 'params.model')) {
              if (!modelAnswers.has(model)) modelAnswers.set(model, await askModel(model));
              const problem = modelAnswers.get(model);
              if (problem) found.push(problem);
            }
            let line: string;
            try {
              line = JSON.stringify({ custom_id: item.custom_id, params: item.params });
            } catch (err) {
              if (!(err instanceof RangeError)) throw err;
              await reject(lineNo, customId, [{ field: '(line)', rule: 'JSON nested too deeply to process' }]);
              continue;
            }
            const size = Buffer.byteLength(line);
            if (found.length === 0 && !chunks.fits(size))
              found.push({
                field: '(line)',
                rule: `request is ${size} bytes; a batch holds at most ${args.chunk.maxBytes}`,
              });
            if (found.length > 0) await reject(lineNo, customId, found);
            else if (args.onInvalid === 'skip' || badLines === 0) {
              const model = String(item.params?.model);
              models.set(model, (models.get(model) ?? 0) + 1);
              const adding = add({ line, size, lineNo, model, maxTokens: maxTokensOf(item.params) });
              if (adding) await adding;
            }
          }
        await report.commit();
      } catch (err) {
        await chunks.abort();
        await report.abort();
        throw err;
      }

      let sample = [...(sampler?.sample ?? [])];
      try {
        // Repeats confirmed after the pass (only when the ids outgrew memory): reported, and their lines let go of.
        if (ids.scratch) dropped = await NumberSpill.create(path.join(ids.scratch, 'dropped'));
        const added =
          dropped && (await mergeRepeatsIntoReport(store, reportUri, ids.repeats(), dropped, FIRST_PROBLEMS, settling));
        await dropped?.close();
        if (added) {
          badLines += added.lines;
          problems += added.problems;
          first.splice(0, first.length, ...added.first);
          if (added.lines > 0) {
            sample = await withoutDropped(sample, dropped!.file, countModel);
            // Requests already recorded for the estimate leave the chunks (rare: only once the ids outgrew
            // memory): rather than correct its sample, the estimate reads the chunks.
            forEstimate.spoil();
          }
        }
        const piloted = sample.length > 0 && nonBlank - badLines >= args.pilot!.minRequests;
        // Too small a job for a pilot: its sample goes into the batches like every other request.
        if (!piloted) for (const request of sample) await toChunks(request);
        kept = await chunks.finish();
        await positions?.log.close();
        // In skip mode a repeat is not submitted: the chunks it was written to are written again without it.
        if (positions && added && added.lines > 0 && args.onInvalid === 'skip') {
          const at: ChunkPositions = { file: positions.log.file, base: positions.base };
          const uncount = (line: string) => countModel(line, -1);
          kept = await dropLinesFromChunks(store, kept, at, dropped!.file, uncount, settling);
        }
        if (piloted && (args.onInvalid !== 'reject' || badLines === 0))
          pilot = await writePilot(
            jobDir,
            sample.map((r) => r.line),
          );
        if (args.onInvalid === 'reject' && badLines > 0) {
          await chunks.abort();
          kept = [];
        }
        await forEstimate.write(store, kept);
      } catch (err) {
        await chunks.abort();
        throw err;
      }
    } finally {
      await positions?.log.close().catch(() => {});
      await dropped?.close().catch(() => {});
      await ids.dispose();
    }
    await store.writeJson(store.join(jobDir, 'manifest.json'), { input: inputUri, chunks: kept });
    return {
      jobDir,
      chunks: kept,
      ...(pilot ? { pilot } : {}),
      lines: nonBlank,
      requests: kept.reduce((sum, c) => sum + c.requests, 0) + (pilot?.requests ?? 0),
      invalid: { lines: badLines, problems, reportUri: badLines > 0 ? reportUri : null, first },
      models: [...models.keys()].sort(),
      warnings,
    };
  }

  /**
   * The segments of each of the first `count` chunks; once a chunk's first is readable the job hears of it and
   * starts that chunk's create.
   */
  function earlyCopies(jobId: string, jobDir: string, count: number) {
    const { client } = Context.current();
    return (index: number, id: string, uri: string): EarlySegmentWriter | null =>
      index >= count
        ? null
        : new EarlySegmentWriter(store, earlyDirOf(store, jobDir, id), async () => {
            const chunk = earlyRef({ id, uri, index });
            await client.workflow.getHandle(jobId).signal(EARLY_CHUNK_SIGNAL, { jobDir, chunk });
          });
  }

  /** The sample without the requests of dropped lines (a sorted NumberSpill file); their models uncounted. */
  async function withoutDropped(
    sample: Request[],
    dropped: string,
    countModel: (line: string, by: number) => void,
  ): Promise<Request[]> {
    if (sample.length === 0) return sample;
    const lineNos = new Set(sample.map((r) => r.lineNo));
    const gone = new Set<number>();
    for await (const lineNo of readNumberSpill(dropped)) if (lineNos.has(lineNo)) gone.add(lineNo);
    for (const r of sample) if (gone.has(r.lineNo)) countModel(r.line, -1);
    return sample.filter((r) => !gone.has(r.lineNo));
  }

  async function writePilot(jobDir: string, sample: readonly string[]): Promise<ChunkRef> {
    const uri = chunkFileUri(store, jobDir, 0, PILOT_CHUNK_ID);
    const file = await store.write(uri);
    const hash = createHash('sha256');
    let bytes = 0;
    for (const line of sample) {
      await writeLine(file.stream, line);
      hash.update(line).update('\n');
      bytes += Buffer.byteLength(line) + 1;
    }
    await file.commit();
    return { id: PILOT_CHUNK_ID, round: 0, index: -1, uri, requests: sample.length, bytes, digest: hash.digest('hex') };
  }
}

/** A valid request as written to a chunk, the input line it came from, and what the estimate sums of it. */
interface Request {
  line: string;
  /** The line's UTF-8 length. */
  size: number;
  lineNo: number;
  model: string;
  maxTokens: number;
}

/** Errors a retry cannot heal (a folder, a permission, a line too long) fail the job at once, with what to fix. */
function finalIfPermanent(err: unknown, input: string): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof LineTooLongError)
    return ApplicationFailure.nonRetryable(`input ${input}: ${err.message}`, 'InputLineTooLong');
  if ((err as { code?: string }).code === 'CSV_MAX_RECORD_SIZE')
    return ApplicationFailure.nonRetryable(`input ${input}: ${(err as Error).message}`, 'InputLineTooLong');
  const failure = classifyIoError(err, `input ${input}`);
  return failure.retryable ? err : ApplicationFailure.nonRetryable(failure.message, failure.type);
}
