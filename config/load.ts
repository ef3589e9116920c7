import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { z } from 'zod';
import { PriceTableSchema, type PriceTable } from '../shared/pricing.js';

/** The package root: this file is compiled to dist/config/load.js. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const configDir = path.join(packageRoot, 'config');

export const ModelCatalogSchema = z.object({
  asOf: z.string(),
  sources: z.array(z.string()),
  models: z.record(
    z.string(),
    z.object({
      snapshot: z.string(),
      maxOutputTokens: z.number().int().positive(),
      minCacheableTokens: z.number().int().nonnegative(),
      retired: z.boolean().optional(),
      /** Release date for the Models API's `created_at`, where the snapshot id carries none (YYYY-MM-DD). */
      createdAt: z.iso.date().optional(),
      /** `anthropic-beta` values on a batch create that raise max_tokens in that batch, with the raised cap. */
      batchOutputBetas: z.record(z.string(), z.number().int().positive()).optional(),
      inferred: z.array(z.string()).optional(),
    }),
  ),
});
export type ModelCatalog = z.infer<typeof ModelCatalogSchema>;
export type ModelInfo = ModelCatalog['models'][string] & { id: string };

function readJson<T>(file: string, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not valid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export function loadPriceTable(file = path.join(configDir, 'prices.json')): PriceTable {
  return readJson(file, PriceTableSchema);
}

/** The max_tokens a model allows in a batch created with these `anthropic-beta` values. */
export function batchOutputCap(info: ModelInfo, betas: readonly string[] = []): number {
  return Math.max(info.maxOutputTokens, ...betas.map((b) => info.batchOutputBetas?.[b] ?? 0));
}

export function loadModelCatalog(file = path.join(configDir, 'models.json')): ModelCatalog {
  return readJson(file, ModelCatalogSchema);
}

/** Finds a model by alias or dated snapshot id. */
export function findModel(catalog: ModelCatalog, model: string): ModelInfo | undefined {
  const direct = catalog.models[model];
  if (direct) return { id: model, ...direct };
  for (const [id, info] of Object.entries(catalog.models)) if (info.snapshot === model) return { id, ...info };
  return undefined;
}
