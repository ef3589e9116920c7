import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { findModel } from '../config/load.js';
import type { InvalidLine, PreparedJob } from '../shared/job-types.js';
import { checkRequestLine, type LineProblem } from '../shared/request-rules.js';
import { ChunkWriter } from './chunk-writer.js';
import { jobDirUri, type ActivityDeps } from './deps.js';
import { writeLine } from './jsonl.js';
import { inputItems } from './input-items.js';
import { resolveFormat, type InputFormat, type RequestTemplate } from '../shared/request-template.js';
import { TemplateSchema } from '../shared/job-input.js';

const FIRST_PROBLEMS = 25;

export interface PrepareArgs {
  jobId: string;
  input: string;
  chunk: { maxRequests: number; maxBytes: number };
  onInvalid: 'reject' | 'skip';
  format?: InputFormat | 'auto';
  template?: RequestTemplate | undefined;
}

/**
 * Validates the input in one streaming pass (JSON, custom_id pattern and uniqueness across the whole job, params
 * shape, forbidden params) and splits the valid requests into chunk files by count and bytes. Every problem goes
 * to invalid.jsonl with its line number, field and rule. In `reject` mode any problem means no chunk is kept.
 */
export function prepareActivities(deps: ActivityDeps) {
  const { store } = deps;
  const capOf = (model: string) => findModel(deps.models, model)?.maxOutputTokens;

  return {
    async prepareJob(args: PrepareArgs): Promise<PreparedJob> {
      const jobDir = jobDirUri(deps, args.jobId);
      const inputUri = store.resolve(args.input);
      if (!(await store.exists(inputUri)))
        throw ApplicationFailure.nonRetryable(`input ${args.input} does not exist`, 'InputNotFound');
      await store.remove(store.join(jobDir, 'rounds'));

      const chunks = new ChunkWriter(store, jobDir, 0, args.chunk);
      const seen = new Set<string>();
      const models = new Set<string>();
      const first: InvalidLine[] = [];
      const reportUri = store.join(jobDir, 'invalid.jsonl');
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

      try {
        for await (const read of inputItems(store.read(inputUri), format, template)) {
          const lineNo = read.lineNo;
          if (++nonBlank % 10_000 === 0) heartbeat({ lines: lineNo });
          if ('unreadable' in read) {
            await reject(lineNo, null, [{ field: '(line)', rule: read.unreadable }]);
            continue;
          }
          const value = read.value;
          const found = checkRequestLine(value, capOf);
          const item = value as { custom_id?: unknown; params?: { model?: unknown } };
          const customId = typeof item.custom_id === 'string' ? item.custom_id : null;
          if (customId !== null && found.every((p) => p.field !== 'custom_id')) {
            if (seen.has(customId))
              found.push({ field: 'custom_id', rule: `duplicate: '${customId}' appears on an earlier line` });
            else seen.add(customId);
          }
          const line = JSON.stringify({ custom_id: item.custom_id, params: item.params });
          if (found.length === 0 && !chunks.fits(line))
            found.push({
              field: '(line)',
              rule: `request is ${Buffer.byteLength(line)} bytes; a batch holds at most ${args.chunk.maxBytes}`,
            });
          if (found.length > 0) await reject(lineNo, customId, found);
          else if (args.onInvalid === 'skip' || badLines === 0) {
            models.add(String(item.params?.model));
            await chunks.add(line);
          }
        }
        await report.commit();
      } catch (err) {
        await chunks.abort();
        await report.abort();
        throw err;
      }

      let kept = await chunks.finish();
      if (args.onInvalid === 'reject' && badLines > 0) {
        await chunks.abort();
        kept = [];
      }
      await store.writeJson(store.join(jobDir, 'manifest.json'), { input: inputUri, chunks: kept });
      return {
        jobDir,
        chunks: kept,
        lines: nonBlank,
        requests: kept.reduce((sum, c) => sum + c.requests, 0),
        invalid: { lines: badLines, problems, reportUri: badLines > 0 ? reportUri : null, first },
        models: [...models].sort(),
      };
    },

    /** Removes a job's chunk files (a dry run keeps only its invalid-lines report). */
    async discardChunks(args: { jobId: string }): Promise<void> {
      await store.remove(store.join(jobDirUri(deps, args.jobId), 'rounds'));
    },
  };
}
