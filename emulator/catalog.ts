import { z } from 'zod';
import catalogJson from './models.json' with { type: 'json' };

const ModelSchema = z
  .object({
    snapshot: z.string().min(1),
    maxOutputTokens: z.number().int().positive(),
    /** The context window, where the docs give it; the Models API shows it as `max_input_tokens`. */
    contextWindowTokens: z.number().int().positive().optional(),
    minCacheableTokens: z.number().int().nonnegative(),
    retired: z.boolean().optional(),
    /** Release date for the Models API's `created_at`, where the snapshot id carries none (YYYY-MM-DD). */
    createdAt: z.iso.date().optional(),
    /** anthropic-beta value → the max_tokens it allows inside a Message Batch. */
    batchOutputBetas: z.record(z.string().min(1), z.number().int().positive()).optional(),
    inferred: z.array(z.string()).optional(),
  })
  .strict();

export const ModelCatalogSchema = z
  .object({
    $comment: z.string().optional(),
    asOf: z.iso.date(),
    sources: z.array(z.string()).min(1),
    models: z.record(z.string().min(1), ModelSchema),
  })
  .strict();

export type ModelCatalog = z.infer<typeof ModelCatalogSchema>;
export type ModelInfo = ModelCatalog['models'][string] & { id: string };

/**
 * The emulator's own catalogue (emulator/models.json). It is deliberately not config/models.json, which the
 * orchestrator reads: the emulator stands in for Anthropic, so it must not share the client's idea of the models.
 */
export function loadModelCatalog(raw: unknown = catalogJson): ModelCatalog {
  const parsed = ModelCatalogSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`emulator/models.json is not valid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Finds a model by alias or dated snapshot id. */
export function findModel(catalog: ModelCatalog, model: string): ModelInfo | undefined {
  const direct = catalog.models[model];
  if (direct) return { id: model, ...direct };
  for (const [id, info] of Object.entries(catalog.models)) if (info.snapshot === model) return { id, ...info };
  return undefined;
}

/**
 * The highest `max_tokens` a request may ask of `model`. `batchBetas` are the betas of the batch create that
 * carries the request; a synchronous call passes none, as output betas only apply inside Message Batches.
 */
export function outputCapOf(model: ModelInfo, batchBetas: readonly string[] = []): number {
  let cap = model.maxOutputTokens;
  for (const beta of batchBetas) cap = Math.max(cap, model.batchOutputBetas?.[beta] ?? 0);
  return cap;
}
