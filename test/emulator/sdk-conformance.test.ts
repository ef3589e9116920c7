import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic, {
  AuthenticationError,
  BadRequestError,
  ContentTooLargeError,
  InternalServerError,
  NotFoundError,
  OverloadedError,
  RateLimitError,
} from '@anthropic-ai/sdk';
import {
  collect,
  HAIKU,
  rawApi,
  request,
  requests,
  startTestEmulator,
  TEST_KEY,
  type EmulatorHarness,
} from '../helpers/emulator.js';

const BATCH_FIELDS = [
  'id',
  'type',
  'processing_status',
  'request_counts',
  'ended_at',
  'created_at',
  'expires_at',
  'archived_at',
  'cancel_initiated_at',
  'results_url',
].sort();

describe('official TypeScript SDK against the emulator', () => {
  let h: EmulatorHarness;
  before(async () => {
    h = await startTestEmulator();
  });
  after(() => h.close());

  it('creates, retrieves, ends, streams results and deletes a batch', async () => {
    const created = await h.client.messages.batches.create({ requests: requests(3, 'life') });
    assert.match(created.id, /^msgbatch_01[0-9A-Za-z]{22}$/);
    assert.deepEqual(Object.keys(created).sort(), BATCH_FIELDS);
    assert.equal(created.type, 'message_batch');
    assert.equal(created.processing_status, 'in_progress');
    assert.deepEqual(created.request_counts, { processing: 3, succeeded: 0, errored: 0, canceled: 0, expired: 0 });
    assert.equal(created.results_url, null);
    assert.equal(created.ended_at, null);
    assert.match(created.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(Date.parse(created.expires_at) - Date.parse(created.created_at), 24 * 3600_000);

    const { data: running, request_id } = await h.client.messages.batches.retrieve(created.id).withResponse();
    assert.match(request_id ?? '', /^req_/);
    assert.equal(running.processing_status, 'in_progress');

    await h.advance(60);
    const ended = await h.client.messages.batches.retrieve(created.id);
    assert.equal(ended.processing_status, 'ended');
    assert.deepEqual(ended.request_counts, { processing: 0, succeeded: 3, errored: 0, canceled: 0, expired: 0 });
    assert.equal(ended.results_url, `${h.url}/v1/messages/batches/${created.id}/results`);
    assert.ok(ended.ended_at && Date.parse(ended.ended_at) >= Date.parse(created.created_at));

    const results = await collect(await h.client.messages.batches.results(created.id));
    assert.deepEqual(results.map((r) => r.custom_id).sort(), ['life-0', 'life-1', 'life-2']);
    for (const r of results) {
      assert.equal(r.result.type, 'succeeded');
      if (r.result.type !== 'succeeded') continue;
      assert.equal(r.result.message.role, 'assistant');
      assert.equal(r.result.message.usage.service_tier, 'batch');
      assert.ok(r.result.message.usage.output_tokens > 0);
    }

    const deleted = await h.client.messages.batches.delete(created.id);
    assert.deepEqual(deleted, { id: created.id, type: 'message_batch_deleted' });
    await assert.rejects(h.strict.messages.batches.retrieve(created.id), NotFoundError);
  });

  it('paginates newest first, forwards with after_id and backwards with before_id', async () => {
    const p = await startTestEmulator();
    try {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++)
        ids.push((await p.client.messages.batches.create({ requests: requests(1, `p${i}`) })).id);
      const newestFirst = [...ids].reverse();

      const all: string[] = [];
      for await (const b of p.client.messages.batches.list({ limit: 3 })) all.push(b.id);
      assert.deepEqual(all, newestFirst);

      const first = await p.client.messages.batches.list({ limit: 3 });
      assert.deepEqual(
        first.data.map((b) => b.id),
        newestFirst.slice(0, 3),
      );
      assert.equal(first.has_more, true);
      assert.equal(first.first_id, newestFirst[0]);
      assert.equal(first.last_id, newestFirst[2]);
      const second = await p.client.messages.batches.list({ limit: 3, after_id: first.last_id! });
      assert.deepEqual(
        second.data.map((b) => b.id),
        newestFirst.slice(3, 6),
      );
      const third = await second.getNextPage();
      assert.deepEqual(
        third.data.map((b) => b.id),
        newestFirst.slice(6),
      );
      assert.equal(third.has_more, false);

      // Walking back from the oldest towards newer batches: the SDK follows first_id with before_id.
      const back: string[] = [];
      for await (const b of p.client.messages.batches.list({ limit: 2, before_id: newestFirst[6]! })) back.push(b.id);
      assert.deepEqual(back.sort(), newestFirst.slice(0, 6).sort());
      const page = await p.client.messages.batches.list({ limit: 2, before_id: newestFirst[4]! });
      assert.deepEqual(
        page.data.map((b) => b.id),
        newestFirst.slice(2, 4),
      );
      assert.equal(page.has_more, true);

      const empty = await p.client.messages.batches.list({ limit: 5, after_id: newestFirst[6]! });
      assert.deepEqual({ ...empty.data, has_more: empty.has_more }, { has_more: false });
    } finally {
      await p.close();
    }
  });

  it('streams results of 10,000 requests, one line per request', async () => {
    const created = await h.client.messages.batches.create({ requests: requests(10_000, 'big') });
    await h.advance(120);
    const seen = new Set<string>();
    let succeeded = 0;
    for await (const r of await h.client.messages.batches.results(created.id)) {
      assert.ok(!seen.has(r.custom_id), `duplicate ${r.custom_id}`);
      seen.add(r.custom_id);
      if (r.result.type === 'succeeded') succeeded++;
    }
    assert.equal(seen.size, 10_000);
    assert.equal(succeeded, 10_000);
  });

  it('cancels: canceling with cancel_initiated_at, then ended with processed requests kept and the rest canceled', async () => {
    const c = await startTestEmulator({
      processing: { baseLatencyMs: 10_000, perRequestMs: 1000, spread: 0, cancelLatencyMs: 2000 },
    });
    try {
      const created = await c.client.messages.batches.create({ requests: requests(20, 'cx') });
      await c.advance(15); // request i finishes at 10 s + (i + 1) s: five are done
      const canceling = await c.client.messages.batches.cancel(created.id);
      assert.equal(canceling.processing_status, 'canceling');
      assert.ok(canceling.cancel_initiated_at);
      assert.deepEqual(canceling.request_counts, { processing: 20, succeeded: 0, errored: 0, canceled: 0, expired: 0 });
      await c.advance(3);
      const ended = await c.client.messages.batches.retrieve(created.id);
      assert.equal(ended.processing_status, 'ended');
      const counts = ended.request_counts;
      assert.equal(counts.succeeded + counts.canceled, 20);
      assert.equal(counts.succeeded, 7, 'the two requests finishing within the 2 s cancel latency still complete');
      const results = await collect(await c.client.messages.batches.results(created.id));
      assert.equal(results.filter((r) => r.result.type === 'canceled').length, counts.canceled);
      assert.equal(results.length, 20);
    } finally {
      await c.close();
    }
  });

  it('counts tokens exactly as usage bills them', async () => {
    const params = {
      model: HAIKU,
      system: 'You are a careful support agent.',
      messages: [{ role: 'user' as const, content: 'My order 1234 has not arrived. What can I do?' }],
    };
    const { input_tokens } = await h.client.messages.countTokens(params);
    const created = await h.client.messages.batches.create({
      requests: [{ custom_id: 'count', params: { ...params, max_tokens: 100 } }],
    });
    await h.advance(60);
    const [line] = await collect(await h.client.messages.batches.results(created.id));
    assert.ok(line && line.result.type === 'succeeded');
    const u = line.result.message.usage;
    assert.equal(
      u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0),
      input_tokens,
    );
  });

  it('serves the beta namespace the same way', async () => {
    const created = await h.client.beta.messages.batches.create({
      requests: [request('beta-1')],
      betas: ['message-batches-2024-09-24'],
    });
    assert.equal(created.type, 'message_batch');
    const again = await h.client.beta.messages.batches.retrieve(created.id, { betas: ['message-batches-2024-09-24'] });
    assert.equal(again.id, created.id);
    const legacy = await rawApi(h.url, `/v1/messages/batches/${created.id}?beta=true`);
    assert.equal(legacy.status, 200);
    const counted = await h.client.beta.messages.countTokens({
      model: HAIKU,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.ok(counted.input_tokens > 0);
  });

  it('answers the synchronous Messages API with standard-tier usage', async () => {
    const message = await h.client.messages.create({
      model: HAIKU,
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    assert.equal(message.type, 'message');
    assert.equal(message.usage.service_tier, 'standard');
    const again = await h.client.messages.create({
      model: HAIKU,
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    assert.deepEqual(again.content, message.content, 'the same request gets the same answer');
  });

  it('maps each error status to the SDK error class', async () => {
    const locked = await startTestEmulator({ apiKeys: ['the-only-key'], maxBatchBytes: 2000 });
    try {
      const wrongKey = new Anthropic({ apiKey: 'another-key', baseURL: locked.url, maxRetries: 0 });
      await assert.rejects(wrongKey.messages.batches.list(), (e: unknown) => {
        assert.ok(e instanceof AuthenticationError);
        assert.equal(e.type, 'authentication_error');
        assert.match(e.requestID ?? '', /^req_/);
        return true;
      });
      const right = new Anthropic({ apiKey: 'the-only-key', baseURL: locked.url, maxRetries: 0 });
      await assert.rejects(right.messages.batches.create({ requests: requests(40) }), ContentTooLargeError);
      await assert.rejects(right.messages.batches.create({ requests: [request('bad id')] }), BadRequestError);
      await assert.rejects(right.messages.batches.retrieve('msgbatch_01nosuchbatch0000000000000'), NotFoundError);
      await assert.rejects(right.messages.batches.list({}, { path: '/_stainless_unknown_path' }), NotFoundError);
      for (const [status, cls] of [
        [429, RateLimitError],
        [500, InternalServerError],
        [529, OverloadedError],
      ] as const) {
        await locked.setFaults({ http: [{ endpoint: 'list', status, times: 1 }] });
        await assert.rejects(right.messages.batches.list(), (e: unknown) => {
          assert.ok(e instanceof cls, `${status} → ${cls.name}`);
          assert.equal((e as InternalServerError).status, status);
          return true;
        });
      }
    } finally {
      await locked.close();
    }
  });

  it('lets SDK retries succeed through injected 429 and 529, creating exactly one batch', async () => {
    const r = await startTestEmulator();
    try {
      await r.setFaults({
        http: [
          { endpoint: 'create', status: 429, retryAfterMs: 10, times: 1 },
          { endpoint: 'create', status: 529, retryAfterMs: 10, times: 1 },
        ],
      });
      const created = await r.client.messages.batches.create({ requests: requests(2, 'retry') });
      assert.equal(created.processing_status, 'in_progress');
      assert.equal((await r.stats()).batches.created, 1);
      const faults = (await (await r.admin('GET', '/_emulator/faults')).json()) as { http: unknown[] };
      assert.deepEqual(faults.http, [], 'both injected faults fired');
    } finally {
      await r.close();
    }
  });

  it('accepts x-api-key and Authorization: Bearer, and requires anthropic-version', async () => {
    const viaKey = await rawApi(h.url, '/v1/messages/batches?limit=1');
    assert.equal(viaKey.status, 200);
    const viaBearer = await fetch(`${h.url}/v1/messages/batches?limit=1`, {
      headers: { authorization: `Bearer ${TEST_KEY}`, 'anthropic-version': '2026-10-21' },
    });
    assert.equal(viaBearer.status, 200);
    assert.match(viaBearer.headers.get('content-type') ?? '', /application\/json/);
    const noVersion = await fetch(`${h.url}/v1/messages/batches`, { headers: { 'x-api-key': TEST_KEY } });
    assert.equal(noVersion.status, 400);
    const body = (await noVersion.json()) as {
      type: string;
      error: { type: string; message: string };
      request_id: string;
    };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.message, 'anthropic-version: header is required');
    assert.equal(body.request_id, noVersion.headers.get('request-id'));
    const noKey = await fetch(`${h.url}/v1/messages/batches`, { headers: { 'anthropic-version': '2023-06-01' } });
    assert.equal(noKey.status, 401);
    assert.equal(((await noKey.json()) as { error: { type: string } }).error.type, 'authentication_error');
  });

  it('sends results as application/x-jsonl with \\n line ends and no blank lines', async () => {
    const created = await h.client.messages.batches.create({ requests: requests(5, 'wire') });
    await h.advance(60);
    const res = await rawApi(h.url, `/v1/messages/batches/${created.id}/results`);
    assert.equal(res.headers.get('content-type'), 'application/x-jsonl');
    const text = await res.text();
    assert.ok(!text.includes('\r'));
    const lines = text.split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    assert.equal(lines.length, 5);
    for (const line of lines) assert.ok(line.length > 0 && JSON.parse(line).custom_id);
  });

  it('answers unknown routes and ids with the 404 envelope', async () => {
    const res = await rawApi(h.url, '/v1/nothing/here');
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: { type: string } };
    assert.equal(body.error.type, 'not_found_error');
    for (const route of ['', '/results', '/cancel']) {
      const r = await rawApi(h.url, `/v1/messages/batches/msgbatch_01unknown${route}`, {
        method: route === '/cancel' ? 'POST' : 'GET',
      });
      assert.equal(r.status, 404, route);
    }
  });
});
