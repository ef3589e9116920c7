import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { toMs } from './duration.js';
import { readableDeadline } from './deadline.js';
import { UserPriceSchema } from './pricing.js';
import { describeIssues } from './problems.js';
import { placeholders, resolveFormat, unknownPlaceholders } from './request-template.js';

const duration = (label: string) =>
  z.union([z.string(), z.number()]).refine((v) => toMs(v) > 0, {
    message: `${label} must be a duration such as "30s", "10m" or "24h"`,
  });

/**
 * Where a job reads and writes: `file://` and `s3://` URIs, or paths (relative ones resolve under the worker's data
 * dir). Whether the worker may touch them is its own check (allowed roots), at preflight.
 */
const uri = z
  .string()
  .min(1)
  .superRefine((v, ctx) => {
    const scheme = uriScheme(v);
    if (scheme && scheme !== 'file' && scheme !== 's3')
      ctx.addIssue({
        code: 'custom',
        message: `the ${scheme}:// scheme is not supported: use a path, a file:// or an s3:// URI (got ${JSON.stringify(v)})`,
      });
  });

/** The scheme of a URI such as `s3://…` or `http://…` (lower case), or null for a plain path. */
export function uriScheme(v: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(v);
  return m ? m[1]!.toLowerCase() : null;
}

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
    /** A prompt without placeholders sends the same request for every item: refused unless this says it is meant. */
    constantPrompt: z.boolean().default(false),
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
    /** An output (or report) that already exists is refused before anything is submitted, unless this is true. */
    overwrite: z.boolean().default(false),
    /** An input without a single valid request fails the job, unless this is true (e.g. a nightly Schedule). */
    allowEmpty: z.boolean().default(false),
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
      .object({
        thresholdUsd: z.number().min(0).default(10),
        timeout: duration('approval.timeout').default('24h'),
        /** Approved up front (CLI `--yes`): the job never waits, wherever it was started from. */
        preApproved: z.boolean().default(false),
        /** Who approved up front, recorded in the job and its report. */
        approvedBy: z.string().min(1).max(200).optional(),
        /** What the threshold is compared with: the estimate's worst case (the default) or its expected cost. */
        basis: z.enum(['worst', 'expected']).default('worst'),
      })
      .strict()
      .default({ thresholdUsd: 10, timeout: '24h', preApproved: false, basis: 'worst' }),
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
    /**
     * Stream the first chunk's create while the rest of the input is validated, finishing it only once the job
     * would submit it anyway (valid, approved, within budget): see shared/early-create.ts.
     */
    earlyCreate: z.boolean().default(true),
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
    /**
     * USD per million tokens (standard rates) for models the worker's price table lacks, or to use instead of its
     * rows: a job on a model without a price is refused before anything is submitted.
     */
    prices: z.record(z.string().min(1), UserPriceSchema).optional(),
    /**
     * A hard cap on what the job may cost at batch prices: each chunk's worst case is held against it before its
     * create, and a chunk that would pass it is not submitted (its requests are answered `budget_exceeded`).
     */
    budget: z.object({ maxUsd: z.number().positive() }).strict().optional(),
    /**
     * `anthropic-beta` values sent with every batch create of the job, e.g. `output-300k-2026-03-24` (max_tokens up
     * to 300,000 on the models that offer it in batches) or a feature the requests use.
     */
    betas: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9.-]{0,99}$/, 'a beta name such as output-300k-2026-03-24'))
      .max(20)
      .optional(),
    /**
     * A pilot: a few requests, drawn at random, answered first through the synchronous Messages API (in seconds,
     * at standard prices), so that the estimate measures how long answers are instead of assuming it. Their
     * answers are their final ones (they are not sent again in a batch). On for jobs of `minRequests` or more;
     * `false` turns it off.
     */
    pilot: z
      .union([
        z.literal(false),
        z
          .object({
            size: z.number().int().min(2).max(200).default(20),
            minRequests: z.number().int().min(1).default(1000),
            /** The most the pilot may cost, each request held at its worst case before it is sent. */
            maxUsd: z.number().positive().default(1),
            concurrency: z.number().int().min(1).max(32).default(4),
          })
          .strict(),
      ])
      .default({ size: 20, minRequests: 1000, maxUsd: 1, concurrency: 4 }),
    /**
     * When the job must be done: an ISO time with a zone, or a duration from its start ("6h"). Batches first; at
     * the cutoff (the deadline, less the time the unanswered requests would take through the Messages API, less
     * the margin) the batches still running are canceled, what they finished is kept, and the rest is answered
     * synchronously, `concurrency` at a time, at standard prices.
     */
    deadline: z
      .preprocess(
        (v) => (typeof v === 'string' ? { at: v } : v),
        z
          .object({
            at: z.string().refine(readableDeadline, {
              message: 'must be an ISO time with a zone ("2026-12-03T06:00:00Z") or a duration such as "6h"',
            }),
            margin: duration('deadline.margin').optional(),
            concurrency: z.number().int().min(1).max(64).default(8),
            /** Seconds one synchronous answer takes, for the cutoff; measured by the pilot when there is one. */
            requestSeconds: z.number().positive().optional(),
          })
          .strict(),
      )
      .optional(),
    notify: z.object({ webhook: z.url().optional() }).strict().default({}),
    /** Activity heartbeat timeout: how fast a dead worker is noticed. */
    heartbeatTimeout: duration('heartbeatTimeout').default('30s'),
  })
  .strict()
  .superRefine((job, ctx) => {
    // By extension too: a .txt input with format "auto" is read as lines.
    const format = resolveFormat(job.format, job.input);
    if (format === 'batch' || !job.template) return;
    if (placeholders(job.template.prompt).length === 0 && !job.template.constantPrompt)
      ctx.addIssue({
        code: 'custom',
        path: ['template', 'prompt'],
        message:
          'has no placeholder ({item} or a CSV {column}), so every request would be the same; add one, or set template.constantPrompt to true if that is meant',
      });
    if (format !== 'lines') return;
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
