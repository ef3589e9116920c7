import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic, { BadRequestError, NotFoundError } from '@anthropic-ai/sdk';
import { apiKeyIdOf } from '../../emulator/api-keys.js';
import { permutation } from '../../emulator/shuffled-results.js';
import { emulatorOptionsFrom } from '../../client/commands/emulator.js';
import { collect, rawApi, requests, startTestEmulator, TEST_KEY, type EmulatorHarness } from '../helpers/emulator.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withEmulator(fn: (h: EmulatorHarness) => Promise<void>) {
  const h = await startTestEmulator();
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

const clientFor = (h: EmulatorHarness, apiKey: string) => new Anthropic({ apiKey, baseURL: h.url, maxRetries: 0 });
const listedIds = async (client: Anthropic) => (await collect(client.messages.batches.list())).map((b) => b.id);
const resultIds = async (client: Anthropic, id: string) =>
  (await collect(await client.messages.batches.results(id))).map((r) => r.custom_id);

describe('consistency faults', () => {
  it('leaves a fresh batch out of list for listLagMs, independently of the retrieve lag', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ listLagMs: 400 });
      const created = await h.strict.messages.batches.create({ requests: requests(2, 'lag') });
      assert.deepEqual(await listedIds(h.strict), [], 'just created, not listed yet');
      assert.equal((await h.strict.messages.batches.retrieve(created.id)).id, created.id, 'retrieve has no lag');
      const cursor = await rawApi(h.url, `/v1/messages/batches?after_id=${created.id}`);
      assert.equal(cursor.status, 400, 'as a cursor, too, the batch is not there yet');
      await sleep(450);
      assert.deepEqual(await listedIds(h.strict), [created.id]);

      await h.setFaults({ notFoundAfterCreateMs: 400 });
      const other = await h.strict.messages.batches.create({ requests: requests(2, 'nf') });
      assert.deepEqual(await listedIds(h.strict), [other.id, created.id], 'listed at once without list lag');
      await assert.rejects(h.strict.messages.batches.retrieve(other.id), NotFoundError);
    });
  });

  it('returns the same lines in a different order on each download with shuffleResults', async () => {
    await withEmulator(async (h) => {
      const created = await h.client.messages.batches.create({ requests: requests(300, 'mix') });
      await h.advance(60);
      const stored = await resultIds(h.strict, created.id);
      await h.setFaults({ shuffleResults: true });
      const first = await resultIds(h.strict, created.id);
      const second = await resultIds(h.strict, created.id);
      const expected = requests(300, 'mix')
        .map((r) => r.custom_id)
        .sort();
      assert.deepEqual([...first].sort(), expected, 'every line exactly once');
      assert.deepEqual([...second].sort(), expected);
      assert.notDeepEqual(first, second, 'two downloads, two orders');
      assert.notDeepEqual(first, stored);

      // With the stream cut off too, a client that resumes by skipping the lines it already has loses results.
      await h.setFaults({ shuffleResults: true, resultsCutoff: { afterLines: 100 } });
      const partial: string[] = [];
      await assert.rejects(async () => {
        for await (const r of await h.strict.messages.batches.results(created.id)) partial.push(r.custom_id);
      });
      assert.equal(partial.length, 100);
      const resumed = (await resultIds(h.strict, created.id)).slice(100);
      assert.ok(new Set([...partial, ...resumed]).size < 300, 'skip-and-resume misses lines');
    });
  });

  it('shuffles with a seeded permutation of line indices', () => {
    const order = permutation(100_000, [1, 'msgbatch_01x', 0]);
    assert.equal(new Set(order).size, 100_000);
    assert.ok(order.every((i) => i < 100_000));
    assert.deepEqual(permutation(50, [1, 'b', 3]), permutation(50, [1, 'b', 3]), 'same seed, same order');
    assert.notDeepEqual(permutation(50, [1, 'b', 3]), permutation(50, [1, 'b', 4]));
    assert.deepEqual([...permutation(0, [1])], []);
  });

  it('runs a foreign client that creates same-size batches, billed and marked foreign', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ foreignClient: { everyCreates: 1 } });
      const ours = await h.strict.messages.batches.create({ requests: requests(5, 'ours') });
      const listed = await collect(h.strict.messages.batches.list());
      assert.equal(listed.length, 2, 'the foreign batch exists before our create is answered');
      const [foreign] = listed.filter((b) => b.id !== ours.id);
      assert.ok(foreign);
      assert.equal(listed[0]?.id, foreign.id, 'newest first: the foreign batch is on top');
      assert.equal(foreign.request_counts.processing, 5, 'same request count as ours');
      assert.ok(Math.abs(Date.parse(foreign.created_at) - Date.parse(ours.created_at)) < 5000);

      await h.advance(60);
      assert.deepEqual(
        (await resultIds(h.strict, foreign.id)).sort(),
        [0, 1, 2, 3, 4].map((i) => `foreign-${i}`),
      );
      const stats = await h.stats();
      assert.equal(stats.batches.created, 2);
      assert.equal(stats.batches.foreign, 1);
      const entry = stats.batches.list.find((b) => b.id === foreign.id);
      assert.equal(entry?.foreign, true);
      assert.equal(entry?.apiKeyId, 'key_foreign');
      assert.equal(entry?.billed?.succeeded, 5);
      assert.ok((entry?.billed?.usd ?? 0) > 0);
      assert.equal(stats.batches.list.find((b) => b.id === ours.id)?.foreign, false);
      assert.equal(stats.billed.batch.foreignUsd, entry?.billed?.usd);
      assert.equal(stats.billed.batch.succeeded, 10, 'both batches billed');
    });
  });

  it('spaces foreign creates by everyCreates, delays them by delayMs and stops after times', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ foreignClient: { everyCreates: 2, requests: 3, delayMs: 300, times: 1 } });
      await h.strict.messages.batches.create({ requests: requests(1, 'a') });
      await h.strict.messages.batches.create({ requests: requests(1, 'b') });
      assert.equal((await h.stats()).batches.foreign, 0, 'delayed on the wall clock');
      const faults = (await (await h.admin('GET', '/_emulator/faults')).json()) as { foreignClient: unknown };
      assert.equal(faults.foreignClient, null, 'spent');
      await sleep(400);
      const stats = await h.stats();
      assert.equal(stats.batches.foreign, 1);
      assert.equal(stats.batches.list.find((b) => b.foreign)?.requests, 3);
      for (const p of ['c', 'd']) await h.strict.messages.batches.create({ requests: requests(1, p) });
      await sleep(400);
      assert.equal((await h.stats()).batches.foreign, 1, 'times: 1');
    });
  });

  it('scopes batches to the workspace of the API key', async () => {
    await withEmulator(async (h) => {
      const keyB = 'sk-ant-test-key-workspace-b';
      const keyDefault = 'sk-ant-test-key-unmapped';
      // One key by itself, one by its key_… id from stats.
      await h.setFaults({ workspaces: { [TEST_KEY]: 'wrkspc_A', [apiKeyIdOf(keyB)]: 'wrkspc_B' } });
      const a = h.strict;
      const b = clientFor(h, keyB);
      const batch = await a.messages.batches.create({ requests: requests(2, 'ws') });

      assert.deepEqual(await listedIds(b), [], 'absent from the other workspace list');
      assert.deepEqual(await listedIds(clientFor(h, keyDefault)), [], 'an unmapped key is in the default workspace');
      await assert.rejects(b.messages.batches.retrieve(batch.id), NotFoundError);
      await assert.rejects(b.messages.batches.cancel(batch.id), NotFoundError);
      await assert.rejects(b.messages.batches.delete(batch.id), NotFoundError);
      await assert.rejects(b.messages.batches.list({ after_id: batch.id }), BadRequestError, 'unknown as a cursor');
      await h.advance(60);
      const raw = await rawApi(h.url, `/v1/messages/batches/${batch.id}/results`, { headers: { 'x-api-key': keyB } });
      assert.equal(raw.status, 404);
      assert.equal(((await raw.json()) as { error: { type: string } }).error.type, 'not_found_error');
      await assert.rejects(b.messages.batches.results(batch.id), NotFoundError);

      // Its own workspace sees it whole; another key of workspace A would too.
      assert.deepEqual(await listedIds(a), [batch.id]);
      assert.equal((await resultIds(a, batch.id)).length, 2);
      const own = await b.messages.batches.create({ requests: requests(1, 'b') });
      assert.deepEqual(await listedIds(b), [own.id]);
      assert.deepEqual(await listedIds(a), [batch.id]);
      assert.deepEqual((await h.stats()).batches.byWorkspace, { wrkspc_A: 1, wrkspc_B: 1 });
    });
  });

  it('puts foreign batches in the workspace of the create that triggered them', async () => {
    await withEmulator(async (h) => {
      const keyB = 'sk-ant-test-key-workspace-b';
      await h.setFaults({ workspaces: { [keyB]: 'wrkspc_B' }, foreignClient: {} });
      const b = clientFor(h, keyB);
      const created = await b.messages.batches.create({ requests: requests(4, 'b') });
      assert.deepEqual(await listedIds(h.strict), [], 'neither ours nor the foreign one in the default workspace');
      const inB = await collect(b.messages.batches.list());
      assert.equal(inB.length, 2);
      assert.ok(inB.every((x) => x.request_counts.processing === 4));
      assert.ok(inB.some((x) => x.id === created.id));
      assert.deepEqual((await h.stats()).batches.byWorkspace, { wrkspc_B: 2 });
    });
  });

  it('is off by default and validated by the control endpoint', async () => {
    await withEmulator(async (h) => {
      const defaults = (await (await h.admin('GET', '/_emulator/faults')).json()) as Record<string, unknown>;
      assert.equal(defaults.listLagMs, 0);
      assert.equal(defaults.shuffleResults, false);
      assert.equal(defaults.foreignClient, null);
      assert.deepEqual(defaults.workspaces, {});
      for (const bad of [
        { listLagMs: -1 },
        { foreignClient: { everyCreates: 0 } },
        { foreignClient: { customIdPrefix: 'no spaces' } },
        { workspaces: { [TEST_KEY]: '' } },
      ])
        assert.equal((await h.admin('PUT', '/_emulator/faults', bad)).status, 400, JSON.stringify(bad));
      const res = await h.admin('PATCH', '/_emulator/faults', { foreignClient: { times: 2 } });
      const patched = (await res.json()) as { foreignClient: Record<string, unknown> };
      assert.deepEqual(patched.foreignClient, {
        everyCreates: 1,
        times: 2,
        delayMs: 0,
        model: 'claude-haiku-4-5',
        customIdPrefix: 'foreign',
      });
    });
  });

  it('maps the CLI flags to the faults', () => {
    const options = emulatorOptionsFrom({
      port: 0,
      host: '127.0.0.1',
      dataDir: '.data/x',
      timeScale: 1,
      apiKey: [],
      errorRate: [],
      listLag: 1500,
      shuffleResults: true,
      foreignClient: 3,
      workspace: [
        ['sk-a', 'wrkspc_A'],
        ['key_0123456789ab', 'wrkspc_B'],
      ],
    });
    assert.deepEqual(
      { ...options.faults, outcomes: undefined },
      {
        outcomes: undefined,
        listLagMs: 1500,
        shuffleResults: true,
        foreignClient: { everyCreates: 3 },
        workspaces: { 'sk-a': 'wrkspc_A', key_0123456789ab: 'wrkspc_B' },
      },
    );
    assert.deepEqual(
      emulatorOptionsFrom({
        port: 0,
        host: 'h',
        dataDir: 'd',
        timeScale: 1,
        apiKey: [],
        errorRate: [],
        foreignClient: true,
      }).faults?.foreignClient,
      {},
    );
  });
});
