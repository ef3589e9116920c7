import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { s3SettingsFromEnv } from '../storage/s3-client.js';
import { isS3Uri } from '../storage/s3-uri.js';
import { DEFAULT_TASK_QUEUE } from '../shared/task-queue.js';
import { toMs } from '../shared/duration.js';
import { parseCodecKeys } from './payload-codec.js';

/**
 * Worker settings, from the environment only. The Anthropic API key lives here and nowhere else: not in workflow
 * input, history, logs or reports.
 */
export const WorkerConfigSchema = z.object({
  anthropicApiKey: z.string().min(1, 'ANTHROPIC_API_KEY is not set: the worker needs it to call the Anthropic API'),
  anthropicBaseUrl: z.url().optional(),
  taskQueue: z.string().min(1).default(DEFAULT_TASK_QUEUE),
  dataDir: z.string().min(1),
  /**
   * The root of job folders and claims (`CLAUDE_BATCH_STORAGE`): a path, or `s3://bucket/prefix` so that workers
   * on other machines (each with its own data dir) run the same jobs. Unset: the data dir.
   */
  storage: z.string().min(1).optional(),
  /** Folders, and `s3://bucket[/prefix]` URIs, that jobs may read and write besides the data dir and storage. */
  allowedRoots: z.array(z.string()),
  /** Where the S3 API is (no credentials: the AWS SDK's default chain finds those). Unset: from the environment. */
  s3: z
    .object({ endpoint: z.string().optional(), forcePathStyle: z.boolean(), region: z.string().optional() })
    .optional(),
  webhookAllowlist: z.array(z.string()),
  pricesFile: z.string().optional(),
  /**
   * After a create whose answer was lost, how long to wait before looking for the batch in the API's list (which
   * lags behind creates). Longer is safer; it delays only the recovery of a lost answer.
   */
  reconcileSettleMs: z.number().int().min(0).default(60_000),
  /**
   * How long a held create (a job's first chunk streamed while the job still validates) may leave its connection
   * idle, waiting for more of the chunk or for the job's go, before it withdraws (creating nothing) and waits to be
   * submitted the usual way. Servers and proxies close uploads that stall for long.
   */
  earlyCreateHoldMs: z.number().int().min(0).default(60_000),
  /**
   * A name for the Anthropic workspace the key belongs to. Workers whose keys share a workspace should share this
   * name, so that one submitter creates their batches one at a time; without it, each key has its own.
   */
  workspace: z.string().min(1).optional(),
  /** Estimates warn when the price table's `asOf` is older than this (prices change; the table is data). */
  pricesMaxAgeMs: z
    .number()
    .int()
    .min(0)
    .default(90 * 86_400_000),
  /**
   * CLAUDE_BATCH_CODEC_KEYS (`id:base64,…`, the first encrypts): payloads reach Temporal encrypted. A secret like
   * the API key; checked here so a bad value stops the worker at start, with a message that names no key material.
   */
  codecKeys: z
    .string()
    .optional()
    .superRefine((spec, ctx) => {
      if (spec === undefined) return;
      try {
        parseCodecKeys(spec);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }),
  /** Serve Prometheus metrics (ours and the Temporal SDK's) on this port; unset: no metrics endpoint. */
  metricsPort: z.number().int().min(0).max(65535).optional(),
  /**
   * A full garbage collection once what outlives the young generation, and buffers, grew by this many MB
   * (worker/heap-guard.ts; it also collects the young generation alone whenever buffers grew by 4 MB); 0: off, both.
   * With 16, a million-request job's worker peaked at 219–223 MB (bench:job, two runs).
   */
  heapSlackMb: z.number().int().min(0).default(16),
  /**
   * Worker Deployment versioning (opt-in): the deployment this worker belongs to, and its build id (default: the
   * package version and a digest of the workflow bundle, so it changes exactly when workflow code does).
   */
  deployment: z
    .object({ name: z.string().min(1).max(200), buildId: z.string().min(1).max(200).optional() })
    .strict()
    .optional(),
});
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

const list = (value: string | undefined, separator: string | RegExp) =>
  (value ?? '')
    .split(separator)
    .map((s) => s.trim())
    .filter(Boolean);

/** A place given as a path, `file://` or `s3://` URI: local ones absolute, s3:// ones as they are. */
const place = (value: string) =>
  isS3Uri(value) ? value : path.resolve(value.startsWith('file://') ? fileURLToPath(value) : value);

// `:` separates roots on POSIX, but not the one in `s3://`.
const ROOTS_SEPARATOR = path.delimiter === ':' ? /:(?!\/\/)/ : path.delimiter;

export function workerConfigFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const dataDir = path.resolve(env.CLAUDE_BATCH_DATA_DIR ?? path.join(process.cwd(), '.data', 'claude-batch'));
  return WorkerConfigSchema.parse({
    anthropicApiKey: env.ANTHROPIC_API_KEY ?? '',
    anthropicBaseUrl: env.ANTHROPIC_BASE_URL || undefined,
    taskQueue: env.CLAUDE_BATCH_TASK_QUEUE || undefined,
    dataDir,
    storage: env.CLAUDE_BATCH_STORAGE ? place(env.CLAUDE_BATCH_STORAGE) : undefined,
    allowedRoots:
      env.CLAUDE_BATCH_ALLOWED_ROOTS !== undefined
        ? list(env.CLAUDE_BATCH_ALLOWED_ROOTS, ROOTS_SEPARATOR).map(place)
        : [process.cwd()],
    s3: s3SettingsFromEnv(env),
    webhookAllowlist: list(env.CLAUDE_BATCH_WEBHOOK_ALLOWLIST, ','),
    pricesFile: env.CLAUDE_BATCH_PRICES || undefined,
    reconcileSettleMs: env.CLAUDE_BATCH_RECONCILE_SETTLE ? toMs(env.CLAUDE_BATCH_RECONCILE_SETTLE) : undefined,
    earlyCreateHoldMs: env.CLAUDE_BATCH_EARLY_CREATE_HOLD ? toMs(env.CLAUDE_BATCH_EARLY_CREATE_HOLD) : undefined,
    workspace: env.CLAUDE_BATCH_WORKSPACE || undefined,
    pricesMaxAgeMs: env.CLAUDE_BATCH_PRICES_MAX_AGE ? toMs(env.CLAUDE_BATCH_PRICES_MAX_AGE) : undefined,
    codecKeys: env.CLAUDE_BATCH_CODEC_KEYS || undefined,
    metricsPort: env.CLAUDE_BATCH_METRICS_PORT ? Number(env.CLAUDE_BATCH_METRICS_PORT) : undefined,
    heapSlackMb: env.CLAUDE_BATCH_HEAP_SLACK_MB ? Number(env.CLAUDE_BATCH_HEAP_SLACK_MB) : undefined,
    deployment: env.CLAUDE_BATCH_DEPLOYMENT
      ? {
          name: env.CLAUDE_BATCH_DEPLOYMENT,
          ...(env.CLAUDE_BATCH_BUILD_ID ? { buildId: env.CLAUDE_BATCH_BUILD_ID } : {}),
        }
      : undefined,
  });
}
