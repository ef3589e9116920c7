import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BadRequestError } from '@anthropic-ai/sdk';
import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { collect, rawApi, startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';

const BETA = 'output-300k-2026-03-24';
/** The models whose pages list "Max output (Batch API, beta): 300K tokens" (updates of 2026-12). */
const WITH_BETA = ['claude-opus-5', 'claude-opus-5-5', 'claude-sonnet-5', 'claude-sonnet-5-5', 'claude-haiku-5-5'];
/** Others keep their cap even with the header: [model, its cap]. */
const WITHOUT_BETA: [string, number][] = [
  ['claude-fable-5-1', 128_000],
  ['claude-opus-4-8', 128_000],
  ['claude-haiku-4-5', 64_000],
];

const request = (customId: string, model: string, maxTokens: number) => ({
  custom_id: customId,
  params: { model, max_tokens: maxTokens, messages: [{ role: 'user' as const, content: 'Say hello' }] },
});

function byId(lines: MessageBatchIndividualResponse[]) {
  return new Map(lines.map((l) => [l.custom_id, l.result]));
}

const errorOf = (result: MessageBatchIndividualResponse['result'] | undefined) =>
  result?.type === 'errored' ? result.error.error : null;

describe('the 300K batch output beta', () => {
  let h: EmulatorHarness;
  before(async () => {
    h = await startTestEmulator();
  });
  after(() => h.close());

  async function resultsOf(batchId: string) {
    await h.advance(600);
    return byId(await collect(await h.client.messages.batches.results(batchId)));
  }

  it('lets the five models of the beta ask for up to 300,000 tokens when the create carries the header', async () => {
    const requests = [
      ...WITH_BETA.flatMap((m) => [request(`${m}-300k`, m, 300_000), request(`${m}-over`, m, 300_001)]),
      ...WITHOUT_BETA.map(([m]) => request(`${m}-300k`, m, 300_000)),
    ];
    const created = await h.client.beta.messages.batches.create({ requests, betas: [BETA] });
    const results = await resultsOf(created.id);
    for (const m of WITH_BETA) {
      assert.equal(results.get(`${m}-300k`)?.type, 'succeeded', `${m} at 300,000`);
      const over = errorOf(results.get(`${m}-over`));
      assert.equal(over?.type, 'invalid_request_error', `${m} at 300,001`);
      assert.match(over?.message ?? '', /^max_tokens: 300001 > 300000, which is the maximum allowed/);
    }
    for (const [m, cap] of WITHOUT_BETA) {
      const refused = errorOf(results.get(`${m}-300k`));
      assert.equal(refused?.type, 'invalid_request_error', `${m} has no 300K beta`);
      assert.match(refused?.message ?? '', new RegExp(`^max_tokens: 300000 > ${cap},`));
    }
    const stats = await h.stats();
    const billed = stats.batches.list.find((b) => b.id === created.id)?.billed;
    assert.equal(billed?.succeeded, WITH_BETA.length, 'errored requests are not billed');
  });

  it('keeps the normal caps without the header, or with other betas only', async () => {
    const requests = WITH_BETA.flatMap((m) => [request(`${m}-300k`, m, 300_000), request(`${m}-128k`, m, 128_000)]);
    const plain = await h.client.messages.batches.create({ requests });
    const otherBeta = await h.client.beta.messages.batches.create({ requests, betas: ['message-batches-2024-09-24'] });
    for (const id of [plain.id, otherBeta.id]) {
      const results = await resultsOf(id);
      for (const m of WITH_BETA) {
        assert.equal(results.get(`${m}-128k`)?.type, 'succeeded', `${m} at its own cap`);
        assert.match(errorOf(results.get(`${m}-300k`))?.message ?? '', /^max_tokens: 300000 > 128000,/, m);
      }
    }
  });

  it('reads the beta from a comma-separated header among others', async () => {
    const res = await rawApi(h.url, '/v1/messages/batches', {
      method: 'POST',
      headers: { 'anthropic-beta': `message-batches-2024-09-24, ${BETA}` },
      body: JSON.stringify({ requests: [request('opus', 'claude-opus-5-5', 300_000)] }),
    });
    assert.equal(res.status, 200);
    const { id } = (await res.json()) as { id: string };
    assert.equal((await resultsOf(id)).get('opus')?.type, 'succeeded');
  });

  it('does not raise the cap of synchronous messages, header or not', async () => {
    await assert.rejects(
      h.strict.messages.create(
        { model: 'claude-opus-5', max_tokens: 300_000, messages: [{ role: 'user', content: 'Say hello' }] },
        // An explicit timeout: the SDK refuses a long non-streaming call without one, before sending it.
        { headers: { 'anthropic-beta': BETA }, timeout: 60_000 },
      ),
      (err: unknown) => {
        assert.ok(err instanceof BadRequestError);
        assert.match(err.message, /max_tokens: 300000 > 128000/);
        return true;
      },
    );
  });

  it('remembers the beta of a batch across a restart', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'cb-emulator-beta-'));
    try {
      const first = await startTestEmulator({ dataDir });
      const created = await first.client.beta.messages.batches.create({
        requests: [request('sonnet', 'claude-sonnet-5-5', 250_000)],
        betas: [BETA],
      });
      await first.close();
      const second = await startTestEmulator({ dataDir });
      try {
        await second.advance(600);
        const results = byId(await collect(await second.client.messages.batches.results(created.id)));
        assert.equal(results.get('sonnet')?.type, 'succeeded');
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
