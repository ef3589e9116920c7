import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { toMs } from './duration.js';
import { describeIssues } from './problems.js';
import { resolveFormat, unknownPlaceholders } from './request-template.js';

const duration = (label: string) =>
  z.union([z.string(), z.number()]).refine((v) => toMs(v) > 0, {
    message: `${label} must be a duration such as "30s", "10m" or "24h"`,
  });

/** Where a job reads and writes: `file://` URIs, or paths (relative ones resolve under the worker's data dir). */
const uri = z
  .string()
  .min(1)
  .refine((v) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || v.startsWith('file://'), {
    message: 'only file:// URIs (or plain paths) are supported by this worker',
  });

/** How items of a lines/CSV input become requests; for batch input, defaults for params a line leaves out. */
export const TemplateSchema = z
  .object({
    prompt: z.string().min(1).default('{item}'),
    model: z.string().min(1).default('claude-haiku-4-5'),
    maxTokens: z.number().int().min(1).default(1024),
    system: z.string().min(1).optional(),
    cacheSystem: z.boolean().default(true),
    column: z.string().min(1).optional(),
    idColumn: z.string().min(1).optional(),
  })
  .strict();

/**
 * The one JSON object that starts a `batchJob` (from the CLI, the Temporal UI form, a Schedule or a parent
 * workflow). Everything but `input` and `output` has a default.
 */
export const JobInputSchema = z
  .object({
    input: uri.describe('the requests: JSONL of {custom_id, params}, or items one per line, or CSV (see format)'),
    output: uri.describe('where the results JSONL goes: one line per input custom_id'),
    report: uri.optional().describe('report path without extension; default: <output>.report(.json|.md)'),
    /** batch: JSONL of {custom_id, params}; lines: one item per line; csv: a header and rows; auto: by extension. */
    format: z.enum(['auto', 'batch', 'lines', 'csv']).default('auto'),
    template: TemplateSchema.optional(),
    chunk: z
      .object({
        maxRequests: z.number().int().min(1).max(100_000).default(100_000),
        maxBytes: z.number().int().min(1000).max(256_000_000).default(256_000_000),
      })
      .strict()
      .default({ maxRequests: 100_000, maxBytes: 256_000_000 }),
    approval: z
      .object({ thresholdUsd: z.number().min(0).default(10), timeout: duration('approval.timeout').default('24h') })
      .strict()
      .default({ thresholdUsd: 10, timeout: '24h' }),
    poll: z
      .object({ initial: duration('poll.initial').default('30s'), max: duration('poll.max').default('10m') })
      .strict()
      // Only when both are durations: an unreadable one has its own message.
      .refine((p) => !(toMs(p.initial) > toMs(p.max)), { message: 'poll.initial must not exceed poll.max' })
      .default({ initial: '30s', max: '10m' }),
    expiryWarning: duration('expiryWarning').default('4h'),
    retry: z
      .object({ maxRounds: z.number().int().min(0).max(10).default(3) })
      .strict()
      .default({ maxRounds: 3 }),
    onInvalid: z.enum(['reject', 'skip']).default('reject'),
    admission: z
      .object({
        /** Requests allowed to wait in Anthropic's processing queue at once (the org-wide limit). */
        maxQueuedRequests: z.number().int().min(1).default(100_000),
        maxConcurrentBatches: z.number().int().min(1).max(500).default(20),
      })
      .strict()
      .default({ maxQueuedRequests: 100_000, maxConcurrentBatches: 20 }),
    estimate: z
      .object({
        /** Expected output tokens as a share of max_tokens (1 = every answer uses its whole budget: an upper bound). */
        outputRatio: z.number().min(0).max(1).default(1),
        /** Jobs up to this many requests are counted exhaustively; larger ones by a seeded random sample. */
        exhaustiveMax: z.number().int().min(0).default(500),
        sampleSize: z.number().int().min(10).max(10_000).default(400),
        seed: z.number().int().default(1),
      })
      .strict()
      .default({ outputRatio: 1, exhaustiveMax: 500, sampleSize: 400, seed: 1 }),
    notify: z.object({ webhook: z.url().optional() }).strict().default({}),
    /** Activity heartbeat timeout: how fast a dead worker is noticed. */
    heartbeatTimeout: duration('heartbeatTimeout').default('30s'),
  })
  .strict()
  .superRefine((job, ctx) => {
    // By extension too: a .txt input with format "auto" is read as lines.
    if (resolveFormat(job.format, job.input) !== 'lines' || !job.template) return;
    const unknown = unknownPlaceholders(job.template.prompt, []);
    if (unknown.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['template', 'prompt'],
        message: `a lines input has only {item}; unknown placeholder(s): ${unknown.map((u) => `{${u}}`).join(', ')}`,
      });
  });

export type JobInputRaw = z.input<typeof JobInputSchema>;
export type JobInput = z.infer<typeof JobInputSchema>;

/** Every problem with a job input, one line each ("chunk.maxRequests: …"), or the input with defaults filled in. */
export function parseJobInput(raw: unknown): { ok: true; value: JobInput } | { ok: false; problems: string[] } {
  const result = JobInputSchema.safeParse(raw, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, problems: describeIssues(result.error.issues) };
}

/** For workflows: the input with defaults, or a non-retryable failure that lists every problem. */
export function jobInputOrFail(raw: unknown): JobInput {
  const parsed = parseJobInput(raw);
  if (parsed.ok) return parsed.value;
  throw ApplicationFailure.nonRetryable(
    `Invalid job input:\n- ${parsed.problems.join('\n- ')}`,
    'InvalidJobInput',
    ...parsed.problems,
  );
}
