import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { APIConnectionError, NotFoundError, RateLimitError } from '@anthropic-ai/sdk';
import { ENDPOINTS, type Endpoint } from '../../emulator/faults.js';
import { collect, HAIKU, rawApi, requests, startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';

interface ErrorBody {
  error: { type: string; message: string };
}

async function withEmulator(fn: (h: EmulatorHarness) => Promise<void>, options = {}) {
  const h = await startTestEmulator(options);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/** One call per endpoint, made raw so the injected answer is seen as is. */
async function callEndpoint(h: EmulatorHarness, endpoint: Endpoint, batchId: string): Promise<Response> {
  const post = (route: string, body?: unknown) =>
    rawApi(h.url, route, { method: 'POST', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  switch (endpoint) {
    case 'create':
      return post('/v1/messages/batches', { requests: requests(1, 'f') });
    case 'retrieve':
      return rawApi(h.url, `/v1/messages/batches/${batchId}`);
    case 'list':
      return rawApi(h.url, '/v1/messages/batches');
    case 'cancel':
      return post(`/v1/messages/batches/${batchId}/cancel`);
    case 'delete':
      return rawApi(h.url, `/v1/messages/batches/${batchId}`, { method: 'DELETE' });
    case 'results':
      return rawApi(h.url, `/v1/messages/batches/${batchId}/results`);
    case 'count_tokens':
      return post('/v1/messages/count_tokens', { model: HAIKU, messages: [{ role: 'user', content: 'x' }] });
    case 'messages':
      return post('/v1/messages', { model: HAIKU, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    case 'models_list':
      return rawApi(h.url, '/v1/models');
    case 'models_retrieve':
      return rawApi(h.url, `/v1/models/${HAIKU}`);
  }
}

describe('fault injection', () => {
  it('ends requests as errored or expired at the configured rates', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({
        seed: 7,
        outcomes: { overloaded_error: 0.2, api_error: 0.1, invalid_request_error: 0.1, expired: 0.1 },
      });
      const created = await h.client.messages.batches.create({ requests: requests(2000, 'o') });
      await h.advance(3600);
      const early = await h.client.messages.batches.retrieve(created.id);
      assert.equal(early.processing_status, 'in_progress', 'requests that never finish hold the batch until expiry');
      await h.advance(24 * 3600);
      const batch = await h.client.messages.batches.retrieve(created.id);
      assert.equal(batch.processing_status, 'ended');
      assert.equal(batch.ended_at, batch.expires_at);
      const results = await collect(await h.client.messages.batches.results(created.id));
      assert.equal(results.length, 2000);
      const tally: Record<string, number> = {};
      const messages: Record<string, string> = {};
      for (const { result } of results) {
        const key = result.type === 'errored' ? result.error.error.type : result.type;
        tally[key] = (tally[key] ?? 0) + 1;
        if (result.type === 'errored') messages[key] = result.error.error.message;
      }
      const near = (key: string, share: number) =>
        assert.ok(Math.abs((tally[key] ?? 0) - share * 2000) < 60, `${key}: ${tally[key]} ≈ ${share * 2000}`);
      near('overloaded_error', 0.2);
      near('api_error', 0.1);
      near('invalid_request_error', 0.1);
      near('expired', 0.1);
      near('succeeded', 0.5);
      assert.deepEqual(messages, {
        overloaded_error: 'Overloaded',
        api_error: 'Internal server error',
        invalid_request_error: 'Injected fault: request rejected by the emulator',
      });
      assert.deepEqual(batch.request_counts, {
        processing: 0,
        succeeded: tally.succeeded,
        errored: tally.overloaded_error! + tally.api_error! + tally.invalid_request_error!,
        canceled: 0,
        expired: tally.expired,
      });
    });
  });

  it('injects a status with the error envelope on every endpoint', async () => {
    await withEmulator(async (h) => {
      const batch = await h.client.messages.batches.create({ requests: requests(1, 'e') });
      await h.advance(60);
      for (const endpoint of ENDPOINTS) {
        await h.setFaults({ http: [{ endpoint, status: 500, times: 1 }] });
        const res = await callEndpoint(h, endpoint, batch.id);
        assert.equal(res.status, 500, endpoint);
        assert.deepEqual(((await res.json()) as ErrorBody).error, {
          type: 'api_error',
          message: 'Internal server error',
        });
        const after = await callEndpoint(h, endpoint === 'delete' ? 'retrieve' : endpoint, batch.id);
        assert.ok(after.status < 500, `${endpoint} recovers once the fault is spent`);
      }
    });
  });

  it('sends 429 with retry-after, 529 overloaded, and the retry headers the SDKs obey', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ http: [{ endpoint: 'list', status: 429, times: 1 }] });
      let res = await callEndpoint(h, 'list', '');
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal(((await res.json()) as ErrorBody).error.type, 'rate_limit_error');

      await h.setFaults({
        http: [{ endpoint: 'list', status: 429, retryAfter: 7, retryAfterMs: 6500, shouldRetry: false, times: 1 }],
      });
      res = await callEndpoint(h, 'list', '');
      assert.equal(res.headers.get('retry-after'), '7');
      assert.equal(res.headers.get('retry-after-ms'), '6500');
      assert.equal(res.headers.get('x-should-retry'), 'false');

      await h.setFaults({ http: [{ endpoint: 'list', status: 529, times: 1 }] });
      res = await callEndpoint(h, 'list', '');
      assert.equal(res.status, 529);
      assert.deepEqual(((await res.json()) as ErrorBody).error, { type: 'overloaded_error', message: 'Overloaded' });
    });
  });

  it('resets connections and slows responses', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ http: [{ endpoint: 'list', reset: true, times: 1 }] });
      await assert.rejects(callEndpoint(h, 'list', ''), TypeError);
      await h.setFaults({ http: [{ endpoint: 'list', reset: true, times: 1 }] });
      const page = await h.client.messages.batches.list();
      assert.deepEqual(page.data, [], 'the SDK retries through a reset');

      await h.setFaults({ http: [{ endpoint: 'retrieve', delayMs: 400 }] });
      const started = Date.now();
      const res = await callEndpoint(h, 'retrieve', 'msgbatch_01none');
      assert.ok(Date.now() - started >= 400);
      assert.equal(res.status, 404, 'a slow response then proceeds normally');
    });
  });

  it('delays the answer after the request was carried out (the create exists while its caller waits)', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ http: [{ endpoint: 'create', delayAfterMs: 600, times: 1 }] });
      const pending = h.client.messages.batches.create({ requests: requests(2, 'late') });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await h.stats()).batches.created, 1, 'created before the answer is sent');
      const started = Date.now();
      const created = await pending;
      assert.ok(Date.now() - started >= 200);
      assert.equal(created.request_counts.processing, 2);
    });
  });

  it('throttles results streams to a number of lines per second', async () => {
    await withEmulator(async (h) => {
      const created = await h.client.messages.batches.create({ requests: requests(300, 'slow') });
      await h.advance(60);
      await h.setFaults({ resultsLinesPerSecond: 1000 });
      const started = Date.now();
      assert.equal((await collect(await h.client.messages.batches.results(created.id))).length, 300);
      assert.ok(Date.now() - started >= 250, `300 lines at 1,000/s took ${Date.now() - started} ms`);
    });
  });

  it('fires probabilistic rules by their probability', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ http: [{ endpoint: 'list', status: 500, probability: 0 }] });
      for (let i = 0; i < 20; i++) assert.equal((await callEndpoint(h, 'list', '')).status, 200);
      await h.setFaults({ http: [{ endpoint: 'list', status: 500, probability: 1 }] });
      for (let i = 0; i < 5; i++) assert.equal((await callEndpoint(h, 'list', '')).status, 500);
    });
  });

  it('creates the batch but loses the response (the duplicate-submission trap)', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ createResponseLost: 1 });
      await assert.rejects(h.strict.messages.batches.create({ requests: requests(3, 'lost') }), APIConnectionError);
      const listed = await h.client.messages.batches.list();
      assert.equal(listed.data.length, 1, 'the batch exists although the caller never heard of it');
      assert.equal(listed.data[0]?.request_counts.processing, 3);

      // A naive client that just retries pays twice.
      await h.setFaults({ createResponseLost: 1 });
      await h.client.messages.batches.create({ requests: requests(3, 'lost') });
      assert.equal((await h.stats()).batches.created, 3);
    });
  });

  it('answers 404 for a fresh batch for a while after create', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ notFoundAfterCreateMs: 300 });
      const created = await h.client.messages.batches.create({ requests: requests(1, 'nf') });
      await assert.rejects(h.strict.messages.batches.retrieve(created.id), NotFoundError);
      await new Promise((r) => setTimeout(r, 350));
      assert.equal((await h.strict.messages.batches.retrieve(created.id)).id, created.id);
    });
  });

  it('cuts a results stream off midway, once', async () => {
    await withEmulator(async (h) => {
      const created = await h.client.messages.batches.create({ requests: requests(200, 'cut') });
      await h.advance(60);
      await h.setFaults({ resultsCutoff: { afterLines: 10 } });
      const seen: string[] = [];
      await assert.rejects(async () => {
        for await (const r of await h.strict.messages.batches.results(created.id)) seen.push(r.custom_id);
      });
      assert.equal(seen.length, 10);
      const complete = await collect(await h.strict.messages.batches.results(created.id));
      assert.equal(complete.length, 200);
    });
  });

  it('limits the org-wide processing queue with 429', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ queueLimit: 10 });
      await h.client.messages.batches.create({ requests: requests(8, 'q1') });
      await assert.rejects(h.strict.messages.batches.create({ requests: requests(5, 'q2') }), (e: unknown) => {
        assert.ok(e instanceof RateLimitError);
        assert.equal(e.headers?.get('retry-after'), '60');
        assert.match(e.apiMessage ?? '', /processing queue would exceed your organization's limit of 10/);
        return true;
      });
      assert.equal((await h.stats()).queue.waitingRequests, 8);
      await h.advance(60);
      await h.strict.messages.batches.create({ requests: requests(5, 'q2') });
    });
  });

  it('limits requests per minute per API key with 429', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ rpm: 3 });
      for (let i = 0; i < 3; i++) assert.equal((await callEndpoint(h, 'list', '')).status, 200);
      const res = await callEndpoint(h, 'list', '');
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
      assert.match(((await res.json()) as ErrorBody).error.message, /rate limit of 3 requests per minute/);
    });
  });

  it('is configured through a control endpoint that replaces, merges and clears', async () => {
    await withEmulator(async (h) => {
      await h.setFaults({ outcomes: { api_error: 0.5 }, queueLimit: 5 });
      let res = await h.admin('PATCH', '/_emulator/faults', { outcomes: { expired: 0.1 }, rpm: 100 });
      assert.equal(res.status, 200);
      const merged = (await res.json()) as { outcomes: Record<string, number>; queueLimit: number; rpm: number };
      assert.deepEqual(merged.outcomes, { api_error: 0.5, expired: 0.1 });
      assert.equal(merged.queueLimit, 5);
      assert.equal(merged.rpm, 100);
      res = await h.admin('PUT', '/_emulator/faults', { http: [{ endpoint: 'nowhere', status: 500 }] });
      assert.equal(res.status, 400);
      res = await h.admin('DELETE', '/_emulator/faults');
      const cleared = (await res.json()) as { outcomes: Record<string, number>; queueLimit: null };
      assert.deepEqual(cleared.outcomes, {});
      assert.equal(cleared.queueLimit, null);
    });
  });
});
