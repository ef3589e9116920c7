import type { FastifyInstance } from 'fastify';
import { findModel, type ModelCatalog, type ModelInfo as CatalogModel } from './catalog.js';
import { pageOf, pageQuery } from './page-query.js';
import { invalidRequest, notFound } from './errors.js';
import type { EmulatorContext } from './server.js';

const LIFECYCLES = ['active', 'deprecated', 'retired'] as const;
type Lifecycle = (typeof LIFECYCLES)[number];
const LINES = ['haiku', 'sonnet', 'opus', 'fable', 'mythos'] as const;
/** The API's own `created_at` for a model whose release date it does not know. */
const UNKNOWN_RELEASE = '1970-01-01T00:00:00Z';

type Query = Record<string, string | string[] | undefined>;

/** The Models API: GET /v1/models and GET /v1/models/{model_id}, served from the emulator's emulator/models.json. */
export function registerModelRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.get<{ Querystring: Query }>('/v1/models', { config: { endpoint: 'models_list' } }, async (req) => {
    const query = listQuery(req.query);
    const all = catalogueModels(ctx.catalog).filter((m) => query.lifecycles.includes(m.lifecycle));
    // A cursor may name the alias too: it resolves to the snapshot id the list shows.
    const indexOf = (id: string) => {
      const snapshot = findModel(ctx.catalog, id)?.snapshot ?? id;
      return all.findIndex((m) => m.id === snapshot);
    };
    const { page, hasMore } = pageOf(all, query, indexOf, 'model');
    return { data: page, has_more: hasMore, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null };
  });

  app.get<{ Params: { model_id: string } }>(
    '/v1/models/:model_id',
    { config: { endpoint: 'models_retrieve' } },
    async (req) => {
      const id = req.params.model_id;
      const model = findModel(ctx.catalog, id);
      if (!model) throw notFound(`model: ${id}`);
      // Same answer as the Messages API gives for a retired model: it is gone, not merely listed as retired.
      if (model.retired) throw notFound(`model: ${id} has been retired and is no longer available`);
      return toApiModel(model);
    },
  );
}

export type ApiModel = ReturnType<typeof toApiModel>;

/** A catalogue entry as the Models API shows it. The catalogue knows no capabilities, and not every context window: null. */
export function toApiModel(model: CatalogModel) {
  return {
    type: 'model' as const,
    id: model.snapshot,
    display_name: displayName(model.id),
    created_at: createdAt(model),
    lifecycle: (model.retired ? 'retired' : 'active') as Lifecycle,
    line: LINES.find((line) => model.id.split('-').includes(line)) ?? null,
    capabilities: null,
    max_input_tokens: model.contextWindowTokens ?? null,
    max_tokens: model.maxOutputTokens,
    deprecated_at: null,
    retires_at: null,
  };
}

/** Every model once (two aliases may share a snapshot), newest first; equal dates keep catalogue order. */
export function catalogueModels(catalog: ModelCatalog): ApiModel[] {
  const seen = new Set<string>();
  const models: ApiModel[] = [];
  for (const [id, info] of Object.entries(catalog.models)) {
    if (seen.has(info.snapshot)) continue;
    seen.add(info.snapshot);
    models.push(toApiModel({ id, ...info }));
  }
  return models.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
}

/** `claude-haiku-4-5` → "Claude Haiku 4.5", `claude-3-5-haiku` → "Claude 3.5 Haiku"; a date suffix is dropped. */
export function displayName(alias: string): string {
  const groups: string[] = [];
  let version: string[] = [];
  const flush = () => {
    if (version.length > 0) groups.push(version.join('.'));
    version = [];
  };
  for (const part of alias.split('-')) {
    if (/^\d{8}$/.test(part)) continue;
    if (/^\d+$/.test(part)) {
      version.push(part);
      continue;
    }
    flush();
    groups.push(part.charAt(0).toUpperCase() + part.slice(1));
  }
  flush();
  return groups.join(' ');
}

function createdAt(model: CatalogModel): string {
  if (model.createdAt) return `${model.createdAt}T00:00:00Z`;
  const dated = /-(\d{4})(\d{2})(\d{2})$/.exec(model.snapshot);
  return dated ? `${dated[1]}-${dated[2]}-${dated[3]}T00:00:00Z` : UNKNOWN_RELEASE;
}

function listQuery(query: Query) {
  return { ...pageQuery(query), lifecycles: lifecycleFilter(query) };
}

/** `lifecycle` as the SDKs send it (`lifecycle[]=a&lifecycle[]=b`), or repeated, or comma-separated. */
function lifecycleFilter(query: Query): Lifecycle[] {
  const raw = [query.lifecycle, query['lifecycle[]']].flat().filter((v): v is string => v !== undefined);
  const values = raw.flatMap((v) => v.split(',')).filter((v) => v !== '');
  if (values.length === 0) return ['active', 'deprecated'];
  for (const v of values)
    if (!(LIFECYCLES as readonly string[]).includes(v))
      throw invalidRequest(`lifecycle: Input should be 'active', 'deprecated' or 'retired'`);
  if (values.length > 3) throw invalidRequest('lifecycle: List should have at most 3 items');
  return values as Lifecycle[];
}
