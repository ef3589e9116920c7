import type Anthropic from '@anthropic-ai/sdk';
import { APIConnectionError, APIError, NotFoundError } from '@anthropic-ai/sdk';
import { suggestNames } from '../shared/suggest.js';
import { beforeSubmitError } from './api-errors.js';

export type ModelLookup =
  | { known: true; id: string }
  | { known: false; suggestions: string[] }
  /** The Models API itself is not served where the worker points (e.g. a proxy): names cannot be checked. */
  | { known: null; reason: string };

const TTL_MS = 10 * 60_000;

/**
 * The models the API knows, asked of the Models API rather than a list of ours, so a model works on the day it
 * ships. Kept per worker for ten minutes: one list call (and one retrieve per alias) serves every job meanwhile.
 */
export class ModelDirectory {
  private listed: { at: number; ids: Set<string> } | null = null;
  private readonly names = new Map<string, { at: number; lookup: ModelLookup }>();

  constructor(
    private readonly anthropic: Anthropic,
    private readonly now: () => number = Date.now,
  ) {}

  async lookup(model: string): Promise<ModelLookup> {
    const cached = this.names.get(model);
    if (cached && this.now() - cached.at < TTL_MS) return cached.lookup;
    const lookup = await this.ask(model);
    this.names.set(model, { at: this.now(), lookup });
    return lookup;
  }

  private async ask(model: string): Promise<ModelLookup> {
    let ids: Set<string>;
    try {
      ids = await this.ids();
    } catch (err) {
      if (err instanceof NotFoundError) return { known: null, reason: 'the Models API (GET /v1/models) answers 404' };
      throw apiError(err);
    }
    if (ids.has(model)) return { known: true, id: model };
    // Aliases (claude-haiku-4-5) are not listed, only the models they point to: retrieve resolves them.
    try {
      const info = await this.anthropic.models.retrieve(model);
      return { known: true, id: info.id };
    } catch (err) {
      if (err instanceof NotFoundError) return { known: false, suggestions: suggestNames(model, aliasesOf(ids)) };
      throw apiError(err);
    }
  }

  private async ids(): Promise<Set<string>> {
    if (this.listed && this.now() - this.listed.at < TTL_MS) return this.listed.ids;
    const ids = new Set<string>();
    for await (const m of this.anthropic.models.list({ limit: 1000 })) ids.add(m.id);
    this.listed = { at: this.now(), ids };
    return ids;
  }
}

/** Listed ids and their undated forms (claude-haiku-4-5-20251001 → claude-haiku-4-5), which people type. */
function aliasesOf(ids: Set<string>): string[] {
  const names = new Set<string>();
  for (const id of ids) {
    names.add(id);
    names.add(id.replace(/-\d{8}$/, ''));
  }
  return [...names];
}

function apiError(err: unknown): unknown {
  if (err instanceof APIConnectionError || !(err instanceof APIError)) return err;
  return beforeSubmitError(err, 'model lookup');
}
