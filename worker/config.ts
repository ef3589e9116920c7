import path from 'node:path';
import { z } from 'zod';
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
  allowedRoots: z.array(z.string()),
  webhookAllowlist: z.array(z.string()),
  pricesFile: z.string().optional(),
  /**
   * After a create whose answer was lost, how long to wait before looking for the batch in the API's list (which
   * lags behind creates). Longer is safer; it delays only the recovery of a lost answer.
   */
  reconcileSettleMs: z.number().int().min(0).default(60_000),
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
});
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

const list = (value: string | undefined, separator: string | RegExp) =>
  (value ?? '')
    .split(separator)
    .map((s) => s.trim())
    .filter(Boolean);

export function workerConfigFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const dataDir = path.resolve(env.CLAUDE_BATCH_DATA_DIR ?? path.join(process.cwd(), '.data', 'claude-batch'));
  return WorkerConfigSchema.parse({
    anthropicApiKey: env.ANTHROPIC_API_KEY ?? '',
    anthropicBaseUrl: env.ANTHROPIC_BASE_URL || undefined,
    taskQueue: env.CLAUDE_BATCH_TASK_QUEUE || undefined,
    dataDir,
    allowedRoots:
      env.CLAUDE_BATCH_ALLOWED_ROOTS !== undefined
        ? list(env.CLAUDE_BATCH_ALLOWED_ROOTS, path.delimiter)
        : [process.cwd()],
    webhookAllowlist: list(env.CLAUDE_BATCH_WEBHOOK_ALLOWLIST, ','),
    pricesFile: env.CLAUDE_BATCH_PRICES || undefined,
    reconcileSettleMs: env.CLAUDE_BATCH_RECONCILE_SETTLE ? toMs(env.CLAUDE_BATCH_RECONCILE_SETTLE) : undefined,
    workspace: env.CLAUDE_BATCH_WORKSPACE || undefined,
    pricesMaxAgeMs: env.CLAUDE_BATCH_PRICES_MAX_AGE ? toMs(env.CLAUDE_BATCH_PRICES_MAX_AGE) : undefined,
    codecKeys: env.CLAUDE_BATCH_CODEC_KEYS || undefined,
    metricsPort: env.CLAUDE_BATCH_METRICS_PORT ? Number(env.CLAUDE_BATCH_METRICS_PORT) : undefined,
  });
}
