import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnthropicError, BadRequestError, NotFoundError } from '@anthropic-ai/sdk';
import { collect, rawApi, requests, startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import type { EmulatorOptionsInput } from '../../emulator/options.js';

const HOUR = 3600;

async function withEmulator(options: Partial<EmulatorOptionsInput>, fn: (h: EmulatorHarness) => Promise<void>) {
  const h = await startTestEmulator(options);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

const hourly = { processing: { baseLatencyMs: 0, perRequestMs: HOUR * 1000, spread: 0, cancelLatencyMs: 1000 } };

describe('batch lifecycle on the virtual clock', () => {
  it('expires what is unfinished at expires_at (24 h) and ends the batch then', async () => {
    await withEmulator(hourly, async (h) => {
      const created = await h.client.messages.batches.create({ requests: requests(30, 'exp') });
      await h.advance(23 * HOUR);
      const running = await h.client.messages.batches.retrieve(created.id);
      assert.equal(running.processing_status, 'in_progress');
      assert.deepEqual(
        running.request_counts,
        { processing: 30, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
        'counts move only at the end',
      );
      await assert.rejects(h.client.messages.batches.results(created.id), (e: unknown) => {
        assert.ok(e instanceof AnthropicError);
        assert.match(String(e), /No batch `results_url`/);
        return true;
      });
      const early = await rawApi(h.url, `/v1/messages/batches/${created.id}/results`);
      assert.equal(early.status, 400);

      await h.advance(HOUR + 1);
      const ended = await h.client.messages.batches.retrieve(created.id);
      assert.equal(ended.processing_status, 'ended');
      assert.equal(ended.ended_at, ended.expires_at);
      assert.deepEqual(ended.request_counts, { processing: 0, succeeded: 24, errored: 0, canceled: 0, expired: 6 });
      const results = await collect(await h.client.messages.batches.results(created.id));
      assert.deepEqual(
        results
          .filter((r) => r.result.type === 'expired')
          .map((r) => r.custom_id)
          .sort(),
        ['exp-24', 'exp-25', 'exp-26', 'exp-27', 'exp-28', 'exp-29'],
      );
    });
  });

  it('moves request_counts while running only in the opt-in incremental mode', async () => {
    await withEmulator({ ...hourly, incrementalCounts: true }, async (h) => {
      const created = await h.client.messages.batches.create({ requests: requests(10, 'inc') });
      await h.advance(4 * HOUR + 10);
      const running = await h.client.messages.batches.retrieve(created.id);
      assert.equal(running.processing_status, 'in_progress');
      assert.deepEqual(running.request_counts, { processing: 6, succeeded: 4, errored: 0, canceled: 0, expired: 0 });
    });
  });

  it('archives results 29 days after created_at; the batch itself stays visible', async () => {
    await withEmulator({}, async (h) => {
      const created = await h.client.messages.batches.create({ requests: requests(2, 'arc') });
      await h.advance(60);
      assert.equal((await collect(await h.client.messages.batches.results(created.id))).length, 2);
      await h.advance(29 * 24 * HOUR - 120);
      assert.equal((await h.client.messages.batches.retrieve(created.id)).archived_at, null);
      await h.advance(120);
      const archived = await h.client.messages.batches.retrieve(created.id);
      assert.equal(Date.parse(archived.archived_at!) - Date.parse(archived.created_at), 29 * 24 * HOUR * 1000);
      await assert.rejects(async () => collect(await h.strict.messages.batches.results(created.id)), NotFoundError);
    });
  });

  it('deletes only ended batches', async () => {
    await withEmulator(hourly, async (h) => {
      const created = await h.client.messages.batches.create({ requests: requests(3, 'del') });
      await assert.rejects(h.strict.messages.batches.delete(created.id), (e: unknown) => {
        assert.ok(e instanceof BadRequestError);
        assert.match(e.apiMessage ?? '', /still being processed and cannot be deleted; cancel it/);
        return true;
      });
      await h.client.messages.batches.cancel(created.id);
      await assert.rejects(h.strict.messages.batches.delete(created.id), BadRequestError, 'not while canceling');
      await h.advance(2);
      await h.client.messages.batches.delete(created.id);
      await assert.rejects(h.strict.messages.batches.delete(created.id), NotFoundError);
      assert.deepEqual((await h.client.messages.batches.list()).data, []);
      const stats = await h.stats();
      assert.equal(stats.batches.created, 1, 'the ledger keeps deleted batches');
      assert.equal(stats.batches.deleted, 1);
    });
  });

  it('cancels idempotently while canceling, refuses to cancel an ended batch (configurable)', async () => {
    await withEmulator(hourly, async (h) => {
      const created = await h.client.messages.batches.create({ requests: requests(3, 'cc') });
      const first = await h.client.messages.batches.cancel(created.id);
      const second = await h.client.messages.batches.cancel(created.id);
      assert.equal(second.processing_status, 'canceling');
      assert.equal(second.cancel_initiated_at, first.cancel_initiated_at);
      await h.advance(2);
      const ended = await h.client.messages.batches.retrieve(created.id);
      assert.deepEqual(ended.request_counts, { processing: 0, succeeded: 0, errored: 0, canceled: 3, expired: 0 });
      await assert.rejects(h.strict.messages.batches.cancel(created.id), BadRequestError);
    });
    await withEmulator({ ...hourly, cancelEnded: 'unchanged' }, async (h) => {
      const created = await h.client.messages.batches.create({ requests: requests(1, 'cu') });
      await h.advance(2 * HOUR);
      const again = await h.client.messages.batches.cancel(created.id);
      assert.equal(again.processing_status, 'ended');
      assert.equal(again.cancel_initiated_at, null);
    });
  });

  it('runs the clock faster with timeScale (3600 = one hour per second)', async () => {
    await withEmulator(
      {
        timeScale: 3600,
        processing: { baseLatencyMs: 10 * 60_000, perRequestMs: 1000, spread: 0, cancelLatencyMs: 0 },
      },
      async (h) => {
        const created = await h.client.messages.batches.create({ requests: requests(5, 'fast') });
        const started = Date.now();
        let batch = created;
        while (batch.processing_status !== 'ended' && Date.now() - started < 5000) {
          await new Promise((r) => setTimeout(r, 50));
          batch = await h.client.messages.batches.retrieve(created.id);
        }
        assert.equal(batch.processing_status, 'ended');
        const wall = Date.now() - started;
        assert.ok(wall < 2000, `10 virtual minutes should take about 0.17 s, took ${wall} ms`);
        const virtual = Date.parse(batch.ended_at!) - Date.parse(batch.created_at);
        assert.ok(virtual >= 10 * 60_000 + 5000, 'the batch took its modelled virtual time');
      },
    );
  });

  it('takes a per-batch processing model from x-emulator-processing, and a default from the control endpoint', async () => {
    await withEmulator({}, async (h) => {
      const slow = await h.client.messages.batches.create(
        { requests: requests(2, 'slow') },
        { headers: { 'x-emulator-processing': JSON.stringify({ baseLatencyMs: 2 * HOUR * 1000 }) } },
      );
      const res = await h.admin('PUT', '/_emulator/processing', { baseLatencyMs: 5 * HOUR * 1000 });
      assert.equal(res.status, 200);
      const slower = await h.client.messages.batches.create({ requests: requests(2, 'slower') });
      await h.advance(HOUR);
      assert.equal((await h.client.messages.batches.retrieve(slow.id)).processing_status, 'in_progress');
      await h.advance(HOUR + 10);
      assert.equal((await h.client.messages.batches.retrieve(slow.id)).processing_status, 'ended');
      assert.equal((await h.client.messages.batches.retrieve(slower.id)).processing_status, 'in_progress');
      await h.advance(3 * HOUR);
      assert.equal((await h.client.messages.batches.retrieve(slower.id)).processing_status, 'ended');
      const bad = await h.client.messages.batches
        .create({ requests: requests(1, 'x') }, { headers: { 'x-emulator-processing': 'nope' }, maxRetries: 0 })
        .catch((e: unknown) => e);
      assert.ok(bad instanceof BadRequestError);
    });
  });

  it('advances the clock to a given instant and never backwards', async () => {
    await withEmulator({}, async (h) => {
      const clock = (await (await h.admin('GET', '/_emulator/clock')).json()) as { nowMs: number };
      const target = new Date(clock.nowMs + 48 * HOUR * 1000).toISOString();
      const moved = (await (await h.admin('POST', '/_emulator/clock/advance', { to: target })).json()) as {
        nowMs: number;
      };
      assert.ok(moved.nowMs >= Date.parse(target));
      const back = await h.admin('POST', '/_emulator/clock/advance', { to: new Date(clock.nowMs).toISOString() });
      assert.equal(back.status, 400);
    });
  });
});
