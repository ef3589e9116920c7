import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { apiKeyIdOf } from '../../emulator/api-keys.js';
import { collect, HAIKU, startTestEmulator, TEST_KEY, type EmulatorHarness } from '../helpers/emulator.js';

const SONNET = 'claude-sonnet-4-5';

/**
 * USD per million tokens at standard rates, typed in here from the pricing page rather than read from either
 * price file, so that this test checks the emulator's bill and not its price list against itself.
 */
const RATES: Record<string, { input: number; output: number; write5m: number; write1h: number; read: number }> = {
  'claude-haiku-4-5-20251001': { input: 1, output: 5, write5m: 1.25, write1h: 2, read: 0.1 },
  'claude-sonnet-4-5-20250929': { input: 3, output: 15, write5m: 3.75, write1h: 6, read: 0.3 },
};

function costByHand(message: Anthropic.Messages.Message, share: number): number {
  const r = RATES[message.model];
  if (!r) throw new Error(`no rates typed in for ${message.model}`);
  const u = message.usage;
  const perMillion =
    u.input_tokens * r.input +
    (u.cache_creation?.ephemeral_5m_input_tokens ?? 0) * r.write5m +
    (u.cache_creation?.ephemeral_1h_input_tokens ?? 0) * r.write1h +
    (u.cache_read_input_tokens ?? 0) * r.read +
    u.output_tokens * r.output;
  return (perMillion / 1_000_000) * share;
}

interface ClassBreakdown {
  usdByClass: Record<'input' | 'output' | 'cacheWrite5m' | 'cacheWrite1h' | 'cacheRead', number>;
}
const sumOfClasses = (b: ClassBreakdown) => Object.values(b.usdByClass).reduce((x, y) => x + y, 0);
const longContext = (words: number) => 'Policy clause on refunds and returns. '.repeat(words / 6);

function succeeded(line: MessageBatchIndividualResponse) {
  assert.equal(line.result.type, 'succeeded', JSON.stringify(line.result));
  if (line.result.type !== 'succeeded') throw new Error('unreachable');
  return line.result.message;
}

async function runBatch(
  h: EmulatorHarness,
  reqs: Anthropic.Messages.Batches.BatchCreateParams.Request[],
  seconds = 600,
) {
  const created = await h.client.messages.batches.create({ requests: reqs });
  await h.advance(seconds);
  const lines = await collect(await h.client.messages.batches.results(created.id));
  return new Map(lines.map((l) => [l.custom_id, l]));
}

describe('answers, usage, prompt caching and the billing ledger', () => {
  let h: EmulatorHarness;
  before(async () => {
    h = await startTestEmulator();
  });
  after(() => h.close());

  it('writes a 1h cache on first use and reads it in later requests with the same prefix', async () => {
    const system = [
      {
        type: 'text' as const,
        text: longContext(24_000),
        cache_control: { type: 'ephemeral' as const, ttl: '1h' as const },
      },
    ];
    const prefix = (
      await h.client.messages.countTokens({ model: HAIKU, system, messages: [{ role: 'user', content: 'q' }] })
    ).input_tokens;
    assert.ok(prefix > 4096, 'above Haiku 4.5 minimum cacheable length');
    const reqs = Array.from({ length: 5 }, (_, i) => ({
      custom_id: `c-${i}`,
      params: {
        model: HAIKU,
        max_tokens: 30,
        system,
        messages: [{ role: 'user' as const, content: `Question ${i}?` }],
      },
    }));
    const results = await runBatch(h, reqs);
    const usages = reqs.map((r) => succeeded(results.get(r.custom_id)!).usage);
    const [first, ...rest] = usages;
    assert.ok(first!.cache_creation!.ephemeral_1h_input_tokens > 4096);
    assert.equal(first!.cache_creation!.ephemeral_5m_input_tokens, 0);
    assert.equal(first!.cache_read_input_tokens, 0);
    assert.equal(first!.cache_creation_input_tokens, first!.cache_creation!.ephemeral_1h_input_tokens);
    for (const u of rest) {
      assert.equal(u.cache_read_input_tokens, first!.cache_creation!.ephemeral_1h_input_tokens);
      assert.equal(u.cache_creation_input_tokens, 0);
      assert.ok(u.input_tokens > 0 && u.input_tokens < 20);
    }
  });

  it('lets a 5m cache entry lapse when requests are further apart than its TTL', async () => {
    const slow = await startTestEmulator({
      processing: { baseLatencyMs: 0, perRequestMs: 6 * 60_000, spread: 0, cancelLatencyMs: 0 },
    });
    try {
      const system = [
        { type: 'text' as const, text: longContext(12_000), cache_control: { type: 'ephemeral' as const } },
      ];
      const reqs = Array.from({ length: 3 }, (_, i) => ({
        custom_id: `t-${i}`,
        params: { model: SONNET, max_tokens: 10, system, messages: [{ role: 'user' as const, content: `Q${i}` }] },
      }));
      const results = await runBatch(slow, reqs, 3600);
      for (const r of reqs) {
        const u = succeeded(results.get(r.custom_id)!).usage;
        assert.ok(u.cache_creation!.ephemeral_5m_input_tokens > 1024, 'rewritten every time: 6 min apart > 5 min TTL');
        assert.equal(u.cache_read_input_tokens, 0);
      }
    } finally {
      await slow.close();
    }
  });

  it('does not cache prompts below the model minimum', async () => {
    const system = [
      { type: 'text' as const, text: 'Short system prompt.', cache_control: { type: 'ephemeral' as const } },
    ];
    const params = { model: HAIKU, max_tokens: 10, system, messages: [{ role: 'user' as const, content: 'hi' }] };
    const first = await h.client.messages.create(params);
    const second = await h.client.messages.create(params);
    for (const m of [first, second]) {
      assert.equal(m.usage.cache_creation_input_tokens, 0);
      assert.equal(m.usage.cache_read_input_tokens, 0);
    }
  });

  it('caches across synchronous calls too', async () => {
    const system = [
      { type: 'text' as const, text: longContext(30_000), cache_control: { type: 'ephemeral' as const } },
    ];
    const params = { model: HAIKU, max_tokens: 10, system, messages: [{ role: 'user' as const, content: 'sync?' }] };
    const first = await h.client.messages.create(params);
    const second = await h.client.messages.create(params);
    assert.ok((first.usage.cache_creation_input_tokens ?? 0) > 4096);
    assert.equal(second.usage.cache_read_input_tokens, first.usage.cache_creation_input_tokens);
  });

  it('stops at max_tokens and answers deterministically (labels for classification prompts)', async () => {
    const labels = ['positive', 'negative', 'neutral'];
    const classify = (id: string, text: string) => ({
      custom_id: id,
      params: {
        model: HAIKU,
        max_tokens: 5,
        system: `Classify the review. Answer with one of: ${labels.join(', ')}.`,
        messages: [{ role: 'user' as const, content: text }],
      },
    });
    const long = {
      custom_id: 'long',
      params: {
        model: HAIKU,
        max_tokens: 3,
        messages: [{ role: 'user' as const, content: 'Write a long essay about rivers' }],
      },
    };
    const reqs = [classify('a', 'Great product'), classify('b', 'Terrible support'), long];
    const one = await runBatch(h, reqs);
    const two = await runBatch(h, reqs);
    for (const id of ['a', 'b']) {
      const m = succeeded(one.get(id)!);
      const text = m.content[0]?.type === 'text' ? m.content[0].text : '';
      assert.ok(labels.includes(text), `answer "${text}" is one of the labels`);
      assert.deepEqual(succeeded(two.get(id)!).content, m.content, 'same request, same answer');
      assert.equal(m.stop_reason, 'end_turn');
    }
    const cut = succeeded(one.get('long')!);
    assert.equal(cut.stop_reason, 'max_tokens');
    assert.equal(cut.usage.output_tokens, 3);
  });

  it('bills succeeded requests at batch prices; the bill equals the cost worked out from the results', async () => {
    const b = await startTestEmulator();
    try {
      const system = [
        {
          type: 'text' as const,
          text: longContext(24_000),
          cache_control: { type: 'ephemeral' as const, ttl: '1h' as const },
        },
      ];
      const reqs = Array.from({ length: 40 }, (_, i) => ({
        custom_id: `bill-${i}`,
        params: {
          model: i % 2 ? HAIKU : SONNET,
          max_tokens: i === 3 ? 999_999 : 40, // one errored request: not billed
          system,
          messages: [{ role: 'user' as const, content: `Summarize ticket ${i}` }],
        },
      }));
      const results = await runBatch(b, reqs);
      let usd = 0;
      for (const line of results.values())
        if (line.result.type === 'succeeded') usd += costByHand(line.result.message, 0.5);
      const second = new Anthropic({ apiKey: 'sk-ant-second-key', baseURL: b.url });
      await second.messages.batches.create({ requests: reqs.slice(0, 2) });
      const sync = await second.messages.create({
        model: HAIKU,
        max_tokens: 10,
        messages: [{ role: 'user', content: 'sync' }],
      });

      const stats = await b.stats();
      assert.equal(stats.billed.batch.succeeded, 39);
      assert.ok(Math.abs(stats.billed.batch.usd - usd) <= 1e-9, `${stats.billed.batch.usd} vs ${usd}`);
      const billed = stats.billed as unknown as { batch: ClassBreakdown; sync: ClassBreakdown };
      assert.ok(Math.abs(sumOfClasses(billed.batch) - stats.billed.batch.usd) <= 5e-9, 'the classes add up');
      assert.ok(billed.batch.usdByClass.cacheRead > 0 && billed.batch.usdByClass.cacheWrite1h > 0);
      assert.deepEqual(stats.batches.byApiKey, { [apiKeyIdOf(TEST_KEY)]: 1, [apiKeyIdOf('sk-ant-second-key')]: 1 });
      assert.deepEqual(
        stats.batches.list.map((x) => x.requests),
        [40, 2],
      );
      assert.equal(stats.requests.submitted, 42);
      assert.equal(stats.billed.sync.requests, 1);
      const syncUsd = costByHand(sync, 1);
      assert.ok(syncUsd > 0);
      assert.ok(Math.abs(stats.billed.sync.usd - syncUsd) <= 1e-9, `${stats.billed.sync.usd} vs ${syncUsd}`);
      assert.ok(!JSON.stringify(stats).includes('sk-ant-second-key'), 'keys appear only as ids');
    } finally {
      await b.close();
    }
  });
});
