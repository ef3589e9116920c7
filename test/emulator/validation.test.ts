import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { collect, HAIKU, rawApi, request, startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';

interface ErrorBody {
  type: string;
  error: { type: string; message: string };
  request_id: string;
}

const PATTERN_MESSAGE = "String should match pattern '^[a-zA-Z0-9_-]{1,64}$'";
const msg = (content = 'hi') => [{ role: 'user', content }];
const params = (extra: Record<string, unknown> = {}) => ({ model: HAIKU, max_tokens: 10, messages: msg(), ...extra });

/** Create bodies the API rejects as a whole, and the exact message it answers with. */
const REJECTED: [string, string, string][] = [
  ['invalid JSON', '{"requests": [', 'There was an error parsing the body of your request'],
  ['a JSON array', '[1, 2]', 'Input should be a valid dictionary or object to extract fields from'],
  ['no requests', '{}', 'requests: Field required'],
  ['requests not a list', '{"requests": {"a": 1}}', 'requests: Input should be a valid list'],
  ['empty requests', '{"requests": []}', 'requests: List should have at least 1 item after validation, not 0'],
  [
    'an extra top-level field',
    JSON.stringify({ requests: [request('a')], priority: 1 }),
    'priority: Extra inputs are not permitted',
  ],
  [
    'a request that is not an object',
    '{"requests": [7]}',
    'requests.0: Input should be a valid dictionary or object to extract fields from',
  ],
  [
    'an extra field in a request',
    JSON.stringify({ requests: [{ ...request('a'), meta: 1 }] }),
    'requests.0.meta: Extra inputs are not permitted',
  ],
  ['a missing custom_id', JSON.stringify({ requests: [{ params: params() }] }), 'requests.0.custom_id: Field required'],
  [
    'a numeric custom_id',
    JSON.stringify({ requests: [{ custom_id: 5, params: params() }] }),
    'requests.0.custom_id: Input should be a valid string',
  ],
  [
    'an empty custom_id',
    JSON.stringify({ requests: [request('ok'), { custom_id: '', params: params() }] }),
    'requests.1.custom_id: String should have at least 1 character',
  ],
  [
    'a 65-character custom_id',
    JSON.stringify({ requests: [request('x'.repeat(65))] }),
    'requests.0.custom_id: String should have at most 64 characters',
  ],
  [
    'a custom_id with a colon',
    JSON.stringify({ requests: [request('a'), request('b'), request('c'), request('ticket:4')] }),
    `requests.3.custom_id: ${PATTERN_MESSAGE}`,
  ],
  [
    'a custom_id with a space',
    JSON.stringify({ requests: [request('two words')] }),
    `requests.0.custom_id: ${PATTERN_MESSAGE}`,
  ],
  [
    'a duplicate custom_id',
    JSON.stringify({ requests: [request('same'), request('other'), request('same')] }),
    "requests.2.custom_id: Duplicate custom_id 'same' (also used by requests.0)",
  ],
  ['missing params', JSON.stringify({ requests: [{ custom_id: 'a' }] }), 'requests.0.params: Field required'],
  [
    'params not an object',
    JSON.stringify({ requests: [{ custom_id: 'a', params: 'x' }] }),
    'requests.0.params: Input should be a valid dictionary',
  ],
  [
    'stream: true',
    JSON.stringify({ requests: [{ custom_id: 'a', params: params({ stream: true }) }] }),
    'requests.0.params.stream: streaming is not supported in Message Batches',
  ],
  [
    'max_tokens: 0',
    JSON.stringify({ requests: [{ custom_id: 'a', params: params({ max_tokens: 0 }) }] }),
    'requests.0.params.max_tokens: Input should be greater than or equal to 1',
  ],
  [
    'fast mode',
    JSON.stringify({ requests: [{ custom_id: 'a', params: params({ speed: 'fast' }) }] }),
    'requests.0.params.speed: fast mode is not available in Message Batches',
  ],
  [
    'threads (store)',
    JSON.stringify({ requests: [{ custom_id: 'a', params: params({ store: true }) }] }),
    "requests.0.params.store: 'store' is not supported in Message Batches",
  ],
  [
    'previous_thread_event_id',
    JSON.stringify({ requests: [{ custom_id: 'a', params: params({ previous_thread_event_id: 'e' }) }] }),
    "requests.0.params.previous_thread_event_id: 'previous_thread_event_id' is not supported in Message Batches",
  ],
  [
    'cache_hint',
    JSON.stringify({ requests: [{ custom_id: 'a', params: params({ cache_hint: 'x' }) }] }),
    "requests.0.params.cache_hint: 'cache_hint' is not supported in Message Batches",
  ],
  [
    'context_hint',
    JSON.stringify({ requests: [{ custom_id: 'a', params: params({ context_hint: 'x' }) }] }),
    "requests.0.params.context_hint: 'context_hint' is not supported in Message Batches",
  ],
  [
    'a research preview',
    JSON.stringify({ requests: [{ custom_id: 'a', params: params({ research_preview_2026_02: 'active' }) }] }),
    'requests.0.params.research_preview_2026_02: research previews are not available in Message Batches',
  ],
];

/** Model-level problems: the batch is created, and the request ends as an `errored` line. */
const ERRORED: [string, Record<string, unknown>, string][] = [
  ['an unknown model', params({ model: 'claude-nonexistent-9' }), 'model: claude-nonexistent-9'],
  [
    'a retired model',
    params({ model: 'claude-opus-4-1' }),
    'model: claude-opus-4-1 has been retired and is no longer available',
  ],
  [
    'max_tokens above the model cap',
    params({ max_tokens: 100_000 }),
    'max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-haiku-4-5-20251001',
  ],
  ['no max_tokens', { model: HAIKU, messages: msg() }, 'max_tokens: Field required'],
  ['no messages', { model: HAIKU, max_tokens: 10 }, 'messages: Field required'],
  ['an empty messages list', params({ messages: [] }), 'messages: at least one message is required'],
  [
    'a bad role',
    params({ messages: [{ role: 'system', content: 'x' }] }),
    "messages.0.role: Input should be 'user' or 'assistant'",
  ],
  ['a message without content', params({ messages: [{ role: 'user' }] }), 'messages.0.content: Field required'],
  [
    'an empty text block',
    params({ messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }),
    'messages: text content blocks must be non-empty',
  ],
  [
    'an unknown block type',
    params({ messages: [{ role: 'user', content: [{ type: 'video' }] }] }),
    "messages.0.content.0: Input tag 'video' found using 'type'",
  ],
  [
    'five cache breakpoints',
    params({
      system: Array.from({ length: 5 }, (_, i) => ({
        type: 'text',
        text: `s${i}`,
        cache_control: { type: 'ephemeral' },
      })),
    }),
    'A maximum of 4 blocks with cache_control may be provided. Found 5.',
  ],
  [
    'a thinking budget above max_tokens',
    params({ thinking: { type: 'enabled', budget_tokens: 50 } }),
    '`max_tokens` must be greater than `thinking.budget_tokens`',
  ],
];

describe('create-time validation, as the real API does it', () => {
  let h: EmulatorHarness;
  before(async () => {
    h = await startTestEmulator({ maxRequestsPerBatch: 5, maxBatchBytes: 50_000 });
  });
  after(() => h.close());

  const create = (body: string | ReadableStream) =>
    rawApi(h.url, '/v1/messages/batches', {
      method: 'POST',
      body,
      ...(typeof body === 'string' ? {} : { duplex: 'half' }),
    } as RequestInit);

  for (const [name, body, message] of REJECTED) {
    it(`rejects ${name} with 400 invalid_request_error`, async () => {
      const res = await create(body);
      assert.equal(res.status, 400);
      const err = (await res.json()) as ErrorBody;
      assert.equal(err.type, 'error');
      assert.equal(err.error.type, 'invalid_request_error');
      assert.ok(err.error.message.startsWith(message), `${err.error.message}\n  should start with\n${message}`);
      assert.equal(err.request_id, res.headers.get('request-id'));
    });
  }

  it('rejects more requests than the limit, counting them all', async () => {
    const res = await create(JSON.stringify({ requests: Array.from({ length: 7 }, (_, i) => request(`n${i}`)) }));
    assert.equal(res.status, 400);
    assert.equal(
      ((await res.json()) as ErrorBody).error.message,
      'requests: List should have at most 5 items after validation, not 7',
    );
  });

  it('rejects a body above the size limit with 413 request_too_large (declared length)', async () => {
    const res = await create(JSON.stringify({ requests: [request('big', 'x'.repeat(60_000))] }));
    assert.equal(res.status, 413);
    const err = (await res.json()) as ErrorBody;
    assert.equal(err.error.type, 'request_too_large');
    assert.equal(err.error.message, 'Request exceeds the maximum allowed number of bytes (50000).');
  });

  it('rejects a chunked body once it grows past the size limit with 413', async () => {
    const chunk = new TextEncoder().encode(JSON.stringify(request('c', 'y'.repeat(9_000))));
    let sent = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"requests":['));
        else if (sent < 8) controller.enqueue(new Uint8Array([...new TextEncoder().encode(','), ...chunk]));
        else {
          controller.enqueue(new TextEncoder().encode(']}'));
          controller.close();
        }
        sent++;
      },
    });
    const res = await create(stream);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as ErrorBody).error.type, 'request_too_large');
  });

  it('creates nothing when it rejects, and leaves no partial files', async () => {
    const stats = await h.stats();
    assert.equal(stats.batches.created, 0);
    assert.deepEqual(readdirSync(path.join(h.dataDir, 'incoming')), []);
  });

  it('accepts stream: false, sampling params and a trailing newline after the body', async () => {
    const body = JSON.stringify({
      requests: [{ custom_id: 'ok_1-A', params: params({ stream: false, temperature: 0.2, top_p: 0.9, top_k: 5 }) }],
    });
    const res = await create(body + '\n');
    assert.equal(res.status, 200, await res.clone().text());
  });

  it('turns model-level problems into errored result lines and processes the rest', async () => {
    const m = await startTestEmulator();
    try {
      const reqs = [
        ...ERRORED.map(([, p], i) => ({ custom_id: `bad-${i}`, params: p })),
        { custom_id: 'good', params: params() },
      ];
      const created = await m.client.messages.batches.create({ requests: reqs as never });
      assert.equal(created.request_counts.processing, ERRORED.length + 1);
      await m.advance(60);
      const byId = new Map(
        (await collect(await m.client.messages.batches.results(created.id))).map((r) => [r.custom_id, r.result]),
      );
      assert.equal(byId.get('good')?.type, 'succeeded');
      ERRORED.forEach(([name, , message], i) => {
        const result = byId.get(`bad-${i}`);
        assert.ok(result?.type === 'errored', name);
        assert.equal(result.error.type, 'error');
        assert.equal(result.error.error.type, 'invalid_request_error', name);
        assert.ok(result.error.error.message.startsWith(message), `${name}: ${result.error.error.message}`);
      });
      const batch = await m.client.messages.batches.retrieve(created.id);
      assert.deepEqual(batch.request_counts, {
        processing: 0,
        succeeded: 1,
        errored: ERRORED.length,
        canceled: 0,
        expired: 0,
      });
    } finally {
      await m.close();
    }
  });

  it('answers model problems of synchronous calls with 404 / 400', async () => {
    const unknown = await rawApi(h.url, '/v1/messages/count_tokens', {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-nope', messages: msg() }),
    });
    assert.equal(unknown.status, 404);
    assert.deepEqual(((await unknown.json()) as ErrorBody).error, {
      type: 'not_found_error',
      message: 'model: claude-nope',
    });
    const noMessages = await rawApi(h.url, '/v1/messages/count_tokens', {
      method: 'POST',
      body: JSON.stringify({ model: HAIKU }),
    });
    assert.equal(noMessages.status, 400);
    assert.equal(((await noMessages.json()) as ErrorBody).error.message, 'messages: Field required');
    const tooMany = await rawApi(h.url, '/v1/messages', {
      method: 'POST',
      body: JSON.stringify(params({ max_tokens: 70_000 })),
    });
    assert.equal(tooMany.status, 400);
    assert.match(((await tooMany.json()) as ErrorBody).error.message, /^max_tokens: 70000 > 64000/);
  });

  it('validates list parameters', async () => {
    const cases: [string, string][] = [
      ['limit=0', 'limit: Input should be greater than or equal to 1'],
      ['limit=1001', 'limit: Input should be less than or equal to 1000'],
      ['limit=abc', 'limit: Input should be a valid integer, unable to parse string as an integer'],
      ['before_id=a&after_id=b', 'before_id and after_id cannot both be set'],
      ['after_id=msgbatch_01missing', "after_id: no message batch with id 'msgbatch_01missing'"],
    ];
    for (const [query, message] of cases) {
      const res = await rawApi(h.url, `/v1/messages/batches?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(((await res.json()) as ErrorBody).error.message, message);
    }
    assert.equal((await rawApi(h.url, '/v1/messages/batches?limit=1000')).status, 200);
  });
});
