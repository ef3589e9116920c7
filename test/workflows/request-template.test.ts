import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { approvalFor, approvalRefusal, decide, notApproved } from '../../shared/approval.js';
import { initialState } from '../../shared/job-state.js';
import { formatUsd } from '../../shared/money.js';
import {
  generatedCustomId,
  placeholders,
  renderPrompt,
  requestFromItem,
  resolveFormat,
  unknownPlaceholders,
  withDefaults,
  type RequestTemplate,
} from '../../shared/request-template.js';
import { checkRequestLine } from '../../shared/request-rules.js';
import { expandUriTemplate, URI_TEMPLATE_FIELDS } from '../../shared/uri-template.js';

const template = (t: Partial<RequestTemplate> = {}): RequestTemplate => ({
  prompt: 'Classify: {item}',
  model: 'claude-haiku-4-5',
  maxTokens: 16,
  cacheSystem: true,
  ...t,
});

describe('input format', () => {
  it('keeps a format given, else reads the extension (case-insensitive): .csv, .txt/.lines, anything else batch', () => {
    assert.equal(resolveFormat('csv', 'file:///x/in.jsonl'), 'csv');
    assert.equal(resolveFormat('batch', '/x/in.txt'), 'batch');
    assert.equal(resolveFormat('lines', '/x/in.csv'), 'lines');
    assert.equal(resolveFormat('auto', '/x/tickets.CSV'), 'csv');
    assert.equal(resolveFormat('auto', 'file:///x/reviews.txt'), 'lines');
    assert.equal(resolveFormat('auto', '/x/items.lines'), 'lines');
    assert.equal(resolveFormat('auto', '/x/requests.jsonl'), 'batch');
    assert.equal(resolveFormat('auto', '/x/requests'), 'batch');
    assert.equal(resolveFormat('auto', '/x/in-{date}.csv'), 'csv', 'a {date} template keeps its extension');
  });
});

describe('prompt placeholders', () => {
  it('finds {item} and {<column>} (letters, digits, _ . - and spaces), and which ones the input cannot fill', () => {
    const prompt = 'Ticket {ticket id} from {customer.name}: {item} ({item}) {a-b_c}';
    assert.deepEqual(placeholders(prompt), ['ticket id', 'customer.name', 'item', 'item', 'a-b_c']);
    assert.deepEqual(unknownPlaceholders(prompt, ['ticket id', 'customer.name', 'a-b_c']), []);
    assert.deepEqual(unknownPlaceholders(prompt, ['ticket id']), ['customer.name', 'a-b_c']);
    assert.deepEqual(unknownPlaceholders('{item} only', []), [], '{item} is always there');
    assert.deepEqual(unknownPlaceholders('JSON like {"a": 1} or {} is not a placeholder', []), []);
  });

  it('renders known placeholders and leaves unknown ones as written', () => {
    assert.equal(renderPrompt('{item} / {lang} / {nope}', { item: 'hello', lang: 'en' }), 'hello / en / {nope}');
    assert.equal(renderPrompt('{item}{item}', { item: '$&' }), '$&$&', 'replacement patterns are not interpreted');
  });
});

describe('generated custom ids', () => {
  it('are item-<7-digit line number>: valid under the API pattern, unique, sortable', () => {
    assert.equal(generatedCustomId(1), 'item-0000001');
    assert.equal(generatedCustomId(1234567), 'item-1234567');
    assert.equal(generatedCustomId(12345678), 'item-12345678');
    const ids = [1, 2, 10, 100, 9999].map(generatedCustomId);
    assert.deepEqual([...ids].sort(), ids);
    for (const id of ids) assert.match(id, /^[a-zA-Z0-9_-]{1,64}$/);
  });
});

describe('requests from items', () => {
  it('builds a valid Message Batches request from a line', () => {
    const req = requestFromItem(template(), { item: 'the app crashes' }, 7);
    assert.deepEqual(req, {
      custom_id: 'item-0000007',
      params: {
        model: 'claude-haiku-4-5',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'Classify: the app crashes' }],
      },
    });
    assert.deepEqual(
      checkRequestLine(req, () => 64_000),
      [],
    );
  });

  it('takes the custom_id from the id column, and fills CSV columns into the prompt', () => {
    const t = template({ prompt: '[{lang}] {item}', idColumn: 'ticket' });
    const req = requestFromItem(t, { ticket: 'T-42', lang: 'de', text: 'kaputt', item: 'kaputt' }, 3);
    assert.equal(req.custom_id, 'T-42');
    assert.deepEqual(req.params.messages, [{ role: 'user', content: '[de] kaputt' }]);
    assert.equal(requestFromItem(t, { item: 'x' }, 4).custom_id, undefined, 'a missing id is left for validation');
  });

  it('marks the system prompt cacheable unless told not to', () => {
    const cached = requestFromItem(template({ system: 'Be brief.' }), { item: 'x' }, 1);
    assert.deepEqual(cached.params.system, [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }]);
    const plain = requestFromItem(template({ system: 'Be brief.', cacheSystem: false }), { item: 'x' }, 1);
    assert.equal(plain.params.system, 'Be brief.');
    assert.equal('system' in requestFromItem(template(), { item: 'x' }, 1).params, false, 'no system, no field');
  });
});

describe('defaults for batch lines', () => {
  const line = { custom_id: 'a', params: { messages: [{ role: 'user', content: 'hi' }] } };

  it('fills model, max_tokens and system where the line has none', () => {
    assert.deepEqual(withDefaults(template({ system: 'S', cacheSystem: false }), line), {
      custom_id: 'a',
      params: { model: 'claude-haiku-4-5', max_tokens: 16, system: 'S', messages: line.params.messages },
    });
  });

  it("never overrides the line's own params", () => {
    const own = {
      custom_id: 'a',
      params: { model: 'claude-sonnet-4-5', max_tokens: 5, system: 'mine', temperature: 0 },
    };
    assert.deepEqual(withDefaults(template({ system: 'S' }), own), own);
  });

  it('leaves lines it cannot complete to validation, and everything alone without a template', () => {
    assert.equal(withDefaults(undefined, line), line);
    for (const odd of [null, 'text', 42, { custom_id: 'a' }, { custom_id: 'a', params: [1] }, { params: null }])
      assert.deepEqual(withDefaults(template(), odd), odd);
  });
});

describe('URI templates', () => {
  const at = new Date('2026-03-07T02:05:09.123Z');

  it('expands {date}, {time}, {datetime} (UTC) and {jobId}, every occurrence', () => {
    assert.equal(
      expandUriTemplate('file:///r/{date}/out-{time}.jsonl', at, 'job'),
      'file:///r/2026-03-07/out-020509.jsonl',
    );
    assert.equal(expandUriTemplate('/r/{datetime}.jsonl', at, 'job'), '/r/2026-03-07T020509Z.jsonl');
    assert.equal(expandUriTemplate('/r/{date}-{date}', at, 'j'), '/r/2026-03-07-2026-03-07');
    assert.deepEqual([...URI_TEMPLATE_FIELDS], ['{date}', '{time}', '{datetime}', '{jobId}']);
  });

  it('makes a job id safe for a file name (a Schedule names its jobs <schedule>-<RFC 3339 time>)', () => {
    assert.equal(
      expandUriTemplate('/r/{jobId}.jsonl', at, 'nightly-2026-03-07T02:00:00Z'),
      '/r/nightly-2026-03-07T02_00_00Z.jsonl',
    );
    assert.equal(expandUriTemplate('/r/{jobId}', at, 'a/b c..d'), '/r/a_b_c..d');
  });

  it('leaves a URI without placeholders, and unknown braces, as they are', () => {
    assert.equal(expandUriTemplate('/r/out.jsonl', at, 'j'), '/r/out.jsonl');
    assert.equal(expandUriTemplate('/r/{month}.jsonl', at, 'j'), '/r/{month}.jsonl');
  });
});

describe('formatUsd', () => {
  it('shows cents for dollars, four decimals under a dollar, two significant digits under a cent', () => {
    assert.equal(formatUsd(0), '$0');
    assert.equal(formatUsd(1234.5), '$1234.50');
    assert.equal(formatUsd(10), '$10.00');
    assert.equal(formatUsd(1), '$1.00');
    assert.equal(formatUsd(0.5), '$0.5000');
    assert.equal(formatUsd(0.01), '$0.0100');
    assert.equal(formatUsd(0.000105), '$0.00011');
    assert.equal(formatUsd(0.0000123), '$0.000012');
  });
});

describe('approval', () => {
  it('is required only above the threshold', () => {
    assert.deepEqual(approvalFor(10.01, 10), { required: true, thresholdUsd: 10, state: 'waiting' });
    assert.deepEqual(approvalFor(10, 10), { required: false, thresholdUsd: 10, state: 'not_needed' });
    assert.equal(approvalFor(0.0001, 0).required, true, 'threshold 0: any cost waits');
    assert.equal(approvalFor(0, 0).required, false, 'nothing to pay, nothing to approve');
  });

  it('refuses a decision unless the job waits for one, saying why', () => {
    const state = initialState(0);
    assert.match(approvalRefusal(state)!, /not waiting for approval \(approval: not decided yet, phase: validating\)/);
    state.approval = approvalFor(20, 10);
    state.phase = 'awaiting_approval';
    assert.equal(approvalRefusal(state), null);
    state.approval = decide(state.approval, 'approved', { by: 'ana' });
    state.phase = 'running';
    assert.match(approvalRefusal(state)!, /\(approval: approved, phase: running\)/);
    assert.match(approvalRefusal({ ...state, approval: approvalFor(1, 10) })!, /approval: not_needed/);
  });

  it('records who decided and why, and only what was given', () => {
    const waiting = approvalFor(20, 10);
    assert.deepEqual(decide(waiting, 'approved', { by: 'ana', reason: 'budgeted' }), {
      ...waiting,
      state: 'approved',
      by: 'ana',
      reason: 'budgeted',
    });
    assert.deepEqual(decide(waiting, 'rejected', undefined), { ...waiting, state: 'rejected' });
    assert.deepEqual(decide(waiting, 'rejected', { by: '', reason: '' }), { ...waiting, state: 'rejected' });
  });

  it('fails a rejected or timed-out job with a message that says nothing was submitted', () => {
    const waiting = approvalFor(20, 10);
    assert.equal(notApproved(waiting, '24h'), null);
    assert.equal(notApproved(decide(waiting, 'approved', { by: 'ana' }), '24h'), null);
    assert.equal(notApproved(approvalFor(1, 10), '24h'), null);
    assert.deepEqual(notApproved(decide(waiting, 'rejected', { by: 'bo', reason: 'too much' }), '24h'), {
      message: 'Job rejected by bo: too much. Nothing was submitted.',
      type: 'JobRejected',
    });
    assert.deepEqual(notApproved(decide(waiting, 'rejected', undefined), '24h'), {
      message: 'Job rejected. Nothing was submitted.',
      type: 'JobRejected',
    });
    assert.deepEqual(notApproved({ ...waiting, state: 'timed_out' }, '2h'), {
      message: 'Job not approved within 2h. Nothing was submitted.',
      type: 'ApprovalTimedOut',
    });
  });
});
