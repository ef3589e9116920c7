import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { LineTooLongError, userLines } from '../../activities/jsonl.js';
import { apiClockAheadMs } from '../../shared/api-clock.js';
import { approvalFor } from '../../shared/approval.js';
import { classifyIoError } from '../../shared/io-failures.js';
import { parseJobInput } from '../../shared/job-input.js';
import { editDistance, suggestNames } from '../../shared/suggest.js';

const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });

async function collect(source: Readable, max = 1000): Promise<string[]> {
  const out: string[] = [];
  for await (const line of userLines(source, max)) out.push(line);
  return out;
}

describe('pre-flight decisions', () => {
  it('io failures: what a retry cannot heal is final, flaky I/O is retried', () => {
    for (const code of ['ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP']) {
      const f = classifyIoError(errno(code), 'input /x');
      assert.equal(f.retryable, false, code);
      assert.equal(f.type, `Input${code}`);
      assert.match(f.message, /^input \/x /);
    }
    assert.equal(classifyIoError(errno('EISDIR'), 'input /x').message, 'input /x is a folder, not a file (EISDIR)');
    for (const code of ['EIO', 'ESTALE', 'EMFILE', 'ENOSPC', 'ETIMEDOUT'])
      assert.equal(classifyIoError(errno(code), 'input /x').retryable, true, code);
    const deep = classifyIoError(new RangeError('Maximum call stack size exceeded'), 'input /x');
    assert.deepEqual([deep.retryable, deep.type], [false, 'InputTooComplex']);
    assert.equal(classifyIoError(new Error('socket hang up'), 'input /x').retryable, true);
  });

  it('model names: close matches, separators compared loosely, nothing for a name far from all', () => {
    const known = ['claude-haiku-4-5-20251001', 'claude-haiku-4-5', 'claude-sonnet-4-6', 'claude-opus-4-6'];
    assert.deepEqual(suggestNames('claude-haiku-4.5', known), ['claude-haiku-4-5'], 'the name people type');
    assert.deepEqual(suggestNames('Claude_Sonnet_4_6', known)[0], 'claude-sonnet-4-6');
    assert.deepEqual(suggestNames('claude-sonet-4-6', known)[0], 'claude-sonnet-4-6');
    assert.deepEqual(suggestNames('gpt-4o', known), []);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
  });

  it("the API's clock: ahead by the date header, in step within a few seconds, unknown without one", () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    assert.equal(apiClockAheadMs('Tue, 01 Dec 2026 14:00:00 GMT', now), 4 * 3600_000);
    assert.equal(apiClockAheadMs('Tue, 01 Dec 2026 10:00:01 GMT', now), 0, 'a real API is within a second');
    assert.equal(apiClockAheadMs('Tue, 01 Dec 2026 09:00:00 GMT', now), -3600_000);
    assert.equal(apiClockAheadMs(null, now), 0);
    assert.equal(apiClockAheadMs('not a date', now), 0);
  });

  it('approval given up front is recorded, and only matters above the threshold', () => {
    assert.deepEqual(approvalFor(5, 10, { preApproved: true }), {
      required: false,
      thresholdUsd: 10,
      state: 'not_needed',
    });
    assert.equal(approvalFor(50, 10).state, 'waiting');
    assert.equal(approvalFor(50, 10, { preApproved: false }).state, 'waiting');
    assert.deepEqual(approvalFor(50, 10, { preApproved: true, approvedBy: 'ana@host' }), {
      required: true,
      thresholdUsd: 10,
      state: 'approved',
      by: 'ana@host',
      reason: 'approved up front',
    });
    assert.match(approvalFor(50, 10, { preApproved: true }).by!, /approval\.preApproved/);
  });

  it('job input: new switches default off; a constant prompt and an unsupported scheme are named', () => {
    const ok = parseJobInput({ input: '/in.jsonl', output: '/out.jsonl' });
    assert.ok(ok.ok);
    assert.deepEqual([ok.value.overwrite, ok.value.allowEmpty, ok.value.approval.preApproved], [false, false, false]);

    const constant = parseJobInput({ input: '/in.txt', output: '/o.jsonl', template: { prompt: 'Say hi' } });
    assert.ok(!constant.ok);
    assert.match(constant.problems.join('\n'), /^template\.prompt: has no placeholder/m);
    const meant = parseJobInput({
      input: '/in.txt',
      output: '/o.jsonl',
      template: { prompt: 'Say hi', constantPrompt: true },
    });
    assert.ok(meant.ok);
    // A batch input does not use the prompt: nothing to refuse.
    assert.ok(parseJobInput({ input: '/in.jsonl', output: '/o.jsonl', template: { prompt: 'Say hi' } }).ok);

    const http = parseJobInput({ input: 'http://example.com/x.jsonl', output: '/o.jsonl' });
    assert.ok(!http.ok);
    assert.match(http.problems.join('\n'), /^input: the http:\/\/ scheme is not supported/m);
  });

  it('user lines: a BOM is dropped, CRLF accepted, a line longer than the limit fails with its number', async () => {
    assert.deepEqual(await collect(Readable.from([Buffer.from('\ufeff{"a":1}\r\n{"b":2}\r\n')])), [
      '{"a":1}',
      '{"b":2}',
    ]);
    assert.deepEqual(await collect(Readable.from([Buffer.from('x\ufeff\n')])), ['x\ufeff'], 'only a leading BOM');
    const long = Readable.from([Buffer.from('short\n'), Buffer.from('y'.repeat(600)), Buffer.from('y'.repeat(600))]);
    await assert.rejects(collect(long), (err: unknown) => err instanceof LineTooLongError && err.lineNo === 2);
    // Exactly at the limit is fine, across chunk boundaries too.
    const edge = Readable.from([Buffer.from('z'.repeat(500)), Buffer.from('z'.repeat(500) + '\nok\n')]);
    assert.deepEqual(
      (await collect(edge)).map((l) => l.length),
      [1000, 2],
    );
  });
});
