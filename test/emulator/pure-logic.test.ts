import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { answerFor } from '../../emulator/answers.js';
import { VirtualClock } from '../../emulator/clock.js';
import { drawOutcome, Outcome, uniform } from '../../emulator/outcomes.js';
import { completionTime, endOf, finishedBy, planSchedule } from '../../emulator/processing.js';
import { countInputTokens, promptSegments, textTokens } from '../../emulator/tokenizer.js';
import { PromptCache } from '../../emulator/prompt-cache.js';

const model = { baseLatencyMs: 1000, perRequestMs: 10, spread: 0, cancelLatencyMs: 500 };

describe('processing schedule', () => {
  it('finishes request i at created + base + (i+1) × per-request, and counts finished requests in O(1)', () => {
    const s = planSchedule(model, 0, 100, 0, 0.5);
    assert.equal(completionTime(s, 0), 1010);
    assert.equal(completionTime(s, 99), 2000);
    assert.equal(finishedBy(s, 1009), 0);
    assert.equal(finishedBy(s, 1010), 1);
    assert.equal(finishedBy(s, 1500), 50);
    assert.equal(finishedBy(s, 99_999), 100);
    assert.deepEqual(endOf(s), { endsAt: 2000, reason: 'completed' });
  });

  it('spreads the duration of a batch by the drawn factor', () => {
    const spread = { ...model, spread: 0.5 };
    assert.equal(planSchedule(spread, 0, 10, 0, 0).firstDoneAt, 505);
    assert.equal(planSchedule(spread, 0, 10, 0, 1).firstDoneAt, 1515);
  });

  it('ends at expiry when requests never finish, and at cancel + latency when canceled', () => {
    const stuck = planSchedule(model, 0, 100, 3, 0.5);
    assert.deepEqual(endOf(stuck), { endsAt: 24 * 3600_000, reason: 'expired' });
    const canceled = { ...planSchedule(model, 0, 100, 0, 0.5), cancelInitiatedAt: 1200 };
    assert.deepEqual(endOf(canceled), { endsAt: 1700, reason: 'canceled' });
    const lateCancel = { ...planSchedule(model, 0, 100, 0, 0.5), cancelInitiatedAt: 1900 };
    assert.deepEqual(endOf(lateCancel), { endsAt: 2000, reason: 'completed' }, 'done before the cancel takes effect');
  });
});

describe('virtual clock', () => {
  it('runs timeScale times faster than the wall clock, advances, and persists its anchor', () => {
    let wall = 1_000;
    const saved: unknown[] = [];
    const clock = new VirtualClock(
      { realAt: 1_000, virtualAt: 50_000, timeScale: 60 },
      (s) => saved.push(s),
      () => wall,
    );
    wall = 2_000;
    assert.equal(clock.now(), 50_000 + 60_000);
    clock.advance(5_000);
    assert.equal(clock.now(), 115_000);
    assert.equal(clock.wallDelayUntil(115_000 + 6_000), 100);
    clock.setTimeScale(1);
    wall = 3_000;
    assert.equal(clock.now(), 116_000);
    assert.equal(saved.length, 2);
    assert.throws(() => clock.advance(-1), RangeError);
  });
});

describe('injected outcomes', () => {
  it('draws deterministically, at the configured rates, freshly per batch', () => {
    const rates = { overloaded_error: 0.25, api_error: 0, invalid_request_error: 0, expired: 0.25 };
    const draws = Array.from({ length: 4000 }, (_, i) => drawOutcome(rates, 1, 'b1', `id-${i}`));
    const share = (code: number) => draws.filter((d) => d === code).length / draws.length;
    assert.ok(Math.abs(share(Outcome.overloaded) - 0.25) < 0.03);
    assert.ok(Math.abs(share(Outcome.stuck) - 0.25) < 0.03);
    assert.ok(Math.abs(share(Outcome.ok) - 0.5) < 0.03);
    assert.equal(drawOutcome(rates, 1, 'b1', 'id-7'), draws[7]);
    const otherBatch = Array.from({ length: 4000 }, (_, i) => drawOutcome(rates, 1, 'b2', `id-${i}`));
    assert.notDeepEqual(otherBatch, draws);
    assert.ok(uniform('a') >= 0 && uniform('a') < 1);
  });
});

describe('tokenizer', () => {
  it('counts 4 UTF-8 bytes per token plus documented framing', () => {
    assert.equal(textTokens(''), 0);
    assert.equal(textTokens('abcd'), 1);
    assert.equal(textTokens('abcde'), 2);
    assert.equal(textTokens('é'.repeat(4)), 2);
    // 3 (request) + 3 (system) + 5 ("You are a scientist") + 4 (message) + 4 ("Hello, Claude")
    const params = { system: 'You are a scientist', messages: [{ role: 'user', content: 'Hello, Claude' }] };
    assert.equal(countInputTokens(params), 19);
    assert.equal(
      promptSegments(params).reduce((s, x) => s + x.tokens, 0),
      19,
    );
  });

  it('caches the longest cached prefix and writes up to the last breakpoint', () => {
    const cache = new PromptCache();
    const big = 'x'.repeat(8000);
    const params = (q: string) => ({
      system: [{ type: 'text', text: big, cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: q, cache_control: { type: 'ephemeral', ttl: '1h' } }] },
      ],
    });
    const first = cache.apply('m', promptSegments(params('question one')), 0, 1000);
    assert.deepEqual(first, { readTokens: 0, write5mTokens: 2006, write1hTokens: 7 });
    const other = cache.apply('m', promptSegments(params('another question')), 1000, 1000);
    assert.deepEqual(other, { readTokens: 2006, write5mTokens: 0, write1hTokens: 4 + 4 });
    const expired = cache.apply('m', promptSegments(params('later')), 1000 + 6 * 60_000, 1000);
    assert.equal(expired.readTokens, 0, 'the 5m entry lapsed');
  });
});

describe('label answers', () => {
  const answer = (content: string) => {
    const block = answerFor({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content }] })
      .content[0];
    return block?.type === 'text' ? block.text : null;
  };
  it('answers with one of the labels when the list ends with a full stop or a colon before the item', () => {
    const labels = ['positive', 'negative', 'neutral'];
    for (const item of ['great product, love it', 'broke after a day. Never again', 'meh: it is fine'])
      for (const prompt of [
        `Classify the sentiment. Answer with one of: positive, negative, neutral. Review: ${item}`,
        `Sentiment, answer with one of: positive, negative, neutral: ${item}`,
      ])
        assert.ok(labels.includes(answer(prompt) ?? ''), `${prompt} → ${answer(prompt)}`);
  });
});
