import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic, { AuthenticationError, BadRequestError, InternalServerError, NotFoundError } from '@anthropic-ai/sdk';
import { loadModelCatalog } from '../../emulator/catalog.js';
import { collect, HAIKU, rawApi, startTestEmulator, TEST_KEY, type EmulatorHarness } from '../helpers/emulator.js';

const MODEL_FIELDS = [
  'type',
  'id',
  'display_name',
  'created_at',
  'lifecycle',
  'line',
  'capabilities',
  'max_input_tokens',
  'max_tokens',
  'deprecated_at',
  'retires_at',
].sort();

const catalog = loadModelCatalog();
const snapshots = (retired: boolean) =>
  Object.values(catalog.models)
    .filter((m) => (m.retired ?? false) === retired)
    .map((m) => m.snapshot)
    .sort();
const RETIRED = 'claude-opus-4-1';

describe('Models API through the official TypeScript SDK', () => {
  let h: EmulatorHarness;
  before(async () => {
    h = await startTestEmulator({ apiKeys: [TEST_KEY] });
  });
  after(() => h.close());

  it('lists every model that is not retired by snapshot id, newest first, page by page', async () => {
    const first = await h.strict.models.list({ limit: 3 });
    assert.equal(first.data.length, 3);
    assert.equal(first.has_more, true);
    assert.equal(first.first_id, first.data[0]?.id);
    assert.equal(first.last_id, first.data[2]?.id);

    const all = await collect(h.strict.models.list({ limit: 3 }));
    assert.deepEqual(all.map((m) => m.id).sort(), snapshots(false));
    assert.equal(new Set(all.map((m) => m.id)).size, all.length, 'no model twice across pages');
    const created = all.map((m) => Date.parse(m.created_at));
    assert.deepEqual(
      created,
      [...created].sort((a, b) => b - a),
      'newest first',
    );
    for (const m of all) {
      assert.deepEqual(Object.keys(m).sort(), MODEL_FIELDS);
      assert.equal(m.type, 'model');
      assert.equal(m.lifecycle, 'active');
      assert.match(m.created_at, /^\d{4}-\d\d-\d\dT00:00:00Z$/);
      assert.match(m.display_name, /^Claude [A-Z][a-z]+ \d+(\.\d+)?$/);
    }

    const page = await h.strict.models.list({ limit: 2, before_id: all[4]!.id });
    assert.deepEqual(
      page.data.map((m) => m.id),
      [all[2]!.id, all[3]!.id],
    );
    assert.equal(page.has_more, true);
  });

  it('resolves an alias to its dated snapshot, with a derived name and date', async () => {
    const haiku = await h.strict.models.retrieve(HAIKU);
    assert.deepEqual(haiku, {
      type: 'model',
      id: 'claude-haiku-4-5-20251001',
      display_name: 'Claude Haiku 4.5',
      created_at: '2025-10-01T00:00:00Z',
      lifecycle: 'active',
      line: 'haiku',
      capabilities: null,
      max_input_tokens: 200000,
      max_tokens: 64000,
      deprecated_at: null,
      retires_at: null,
    });
    assert.deepEqual(await h.strict.models.retrieve(haiku.id), haiku, 'the snapshot id answers the same');
    const listed = await collect(h.strict.models.list());
    assert.deepEqual(
      listed.find((m) => m.id === haiku.id),
      haiku,
    );
    assert.equal((await h.strict.models.retrieve('claude-opus-4-6')).created_at, '2026-02-04T00:00:00Z');
    const haiku55 = await h.strict.models.retrieve('claude-haiku-5-5');
    assert.equal(haiku55.max_input_tokens, 1_000_000);
    assert.equal(haiku55.max_tokens, 128_000, 'the synchronous cap: the 300K batch beta does not show here');
    assert.equal((await h.strict.models.retrieve('claude-sonnet-4-5')).max_input_tokens, null, 'not in the catalogue');
  });

  it('answers 404 not_found_error for an unknown or a retired model', async () => {
    await assert.rejects(h.strict.models.retrieve('claude-nonexistent-9'), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.equal(err.status, 404);
      assert.deepEqual((err.error as { error: unknown }).error, {
        type: 'not_found_error',
        message: 'model: claude-nonexistent-9',
      });
      return true;
    });
    await assert.rejects(h.strict.models.retrieve(RETIRED), NotFoundError);
    await assert.rejects(h.strict.models.retrieve(catalog.models[RETIRED]!.snapshot), NotFoundError);
  });

  it('lists retired models only when asked for by lifecycle', async () => {
    const retired = await collect(h.strict.models.list({ lifecycle: ['retired'] }));
    assert.deepEqual(retired.map((m) => m.id).sort(), snapshots(true));
    assert.ok(retired.every((m) => m.lifecycle === 'retired'));
    const both = await collect(h.strict.models.list({ lifecycle: ['active', 'retired'], limit: 4 }));
    assert.equal(both.length, Object.keys(catalog.models).length);
    const bad = await rawApi(h.url, '/v1/models?lifecycle[]=gone');
    assert.equal(bad.status, 400);
  });

  it('checks the key and anthropic-version like every other /v1 route', async () => {
    const wrong = new Anthropic({ apiKey: 'sk-ant-not-this-one', baseURL: h.url, maxRetries: 0 });
    await assert.rejects(wrong.models.list(), AuthenticationError);
    await assert.rejects(wrong.models.retrieve(HAIKU), AuthenticationError);
    const noVersion = await fetch(`${h.url}/v1/models`, { headers: { 'x-api-key': TEST_KEY } });
    assert.equal(noVersion.status, 400);
  });

  it('validates limit and cursors', async () => {
    await assert.rejects(h.strict.models.list({ limit: 0 }), BadRequestError);
    await assert.rejects(h.strict.models.list({ limit: 1001 }), BadRequestError);
    await assert.rejects(h.strict.models.list({ after_id: 'claude-nonexistent-9' }), BadRequestError);
    const viaAlias = await h.strict.models.list({ limit: 1, after_id: HAIKU });
    const viaSnapshot = await h.strict.models.list({ limit: 1, after_id: 'claude-haiku-4-5-20251001' });
    assert.deepEqual(viaAlias.data, viaSnapshot.data);
  });

  it('takes injected faults on models_list and models_retrieve', async () => {
    await h.setFaults({
      http: [
        { endpoint: 'models_list', status: 500, times: 1 },
        { endpoint: 'models_retrieve', status: 500, times: 1 },
      ],
    });
    await assert.rejects(h.strict.models.list(), InternalServerError);
    await assert.rejects(h.strict.models.retrieve(HAIKU), InternalServerError);
    assert.equal((await h.strict.models.retrieve(HAIKU)).id, 'claude-haiku-4-5-20251001');
    await h.setFaults({});
  });

  it('dates every response on the virtual clock', async () => {
    const day = 24 * 3600;
    await h.advance(3 * day);
    const clock = (await (await h.admin('GET', '/_emulator/clock')).json()) as { nowMs: number };
    const { response } = await h.strict.models.list().withResponse();
    const date = Date.parse(response.headers.get('date') ?? '');
    assert.ok(Math.abs(date - clock.nowMs) < 3000, `date ${response.headers.get('date')} ≈ virtual now`);
    assert.ok(date - Date.now() > 3 * day * 1000 - 5000, 'ahead of the wall clock by the advance');

    const missing = await rawApi(h.url, '/v1/models/claude-nonexistent-9');
    assert.equal(missing.status, 404);
    assert.ok(Math.abs(Date.parse(missing.headers.get('date') ?? '') - clock.nowMs) < 3000, 'errors too');
  });
});
