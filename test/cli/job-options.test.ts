import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { UserError } from '../../client/cli-errors.js';
import { addJobOptions, jobInputFromFlags, localUri, type JobFlags } from '../../client/job-options.js';
import { parseJobInput } from '../../shared/job-input.js';

/** The flags as commander hands them to an action: parsed from a command line. */
function flags(argv: string[]): JobFlags {
  const cmd = addJobOptions(new Command('run').exitOverride().configureOutput({ writeErr: () => {} }));
  cmd.parse(argv, { from: 'user' });
  return cmd.opts<JobFlags>();
}

const io = (input = '/data/in.jsonl') => ({ input, output: '/data/out.jsonl' });
const fromArgs = (argv: string[], input?: string) => jobInputFromFlags(io(input), flags(argv));

/** Asserts a UserError whose message matches, and returns it. */
function refused(fn: () => unknown, message: RegExp): UserError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UserError, `expected a UserError, got ${String(caught)}`);
  assert.match(caught.message, message);
  assert.ok(caught.hint, 'with a hint');
  return caught;
}

describe('job input from flags', () => {
  it('is just input and output without flags, so the workflow fills in its own defaults', () => {
    assert.deepEqual(fromArgs([]), io());
  });

  it('maps every flag to its place in the job input, which the workflow accepts', () => {
    const input = fromArgs([
      '--chunk-size',
      '5000',
      '--approve-above',
      '2.5',
      '--approval-timeout',
      '1h',
      '--on-invalid',
      'skip',
      '--max-rounds',
      '0',
      '--max-queued',
      '500000',
      '--poll-initial',
      '1s',
      '--poll-max',
      '2s',
      '--expiry-warning',
      '2h',
      '--output-ratio',
      '0.25',
      '--webhook',
      'https://hooks.example.com/x',
      '--model',
      'claude-sonnet-4-5',
      '--max-tokens',
      '64',
      '--system',
      'Be brief.',
    ]);
    assert.deepEqual(input, {
      ...io(),
      template: { model: 'claude-sonnet-4-5', maxTokens: 64, system: 'Be brief.' },
      chunk: { maxRequests: 5000 },
      approval: { thresholdUsd: 2.5, timeout: '1h' },
      onInvalid: 'skip',
      retry: { maxRounds: 0 },
      admission: { maxQueuedRequests: 500000 },
      poll: { initial: '1s', max: '2s' },
      expiryWarning: '2h',
      estimate: { outputRatio: 0.25 },
      notify: { webhook: 'https://hooks.example.com/x' },
    });
    assert.equal(parseJobInput(input).ok, true);
    assert.equal('taskQueue' in input, false, 'the task queue is where the job runs, not part of its input');
  });

  it('takes only the flags given: one poll bound, or a threshold without a timeout', () => {
    assert.deepEqual(fromArgs(['--poll-initial', '5s']), { ...io(), poll: { initial: '5s' } });
    assert.deepEqual(fromArgs(['--approve-above', '0']), { ...io(), approval: { thresholdUsd: 0 } });
  });

  it('builds the template of a lines or CSV input, with the format when it is forced', () => {
    assert.deepEqual(fromArgs(['--prompt', 'Label: {item}'], '/data/reviews.txt'), {
      ...io('/data/reviews.txt'),
      template: { prompt: 'Label: {item}' },
    });
    assert.deepEqual(
      fromArgs(
        [
          '--format',
          'csv',
          '--prompt',
          '[{lang}] {item}',
          '--column',
          'text',
          '--id-column',
          'id',
          '--no-cache-system',
        ],
        '/data/export.dat',
      ),
      {
        ...io('/data/export.dat'),
        format: 'csv',
        template: { prompt: '[{lang}] {item}', cacheSystem: false, column: 'text', idColumn: 'id' },
      },
    );
  });

  it('reads the system prompt from a file, trimmed', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cb-flags-'));
    const file = path.join(dir, 'system.md');
    writeFileSync(file, '\nYou label tickets.\n\n');
    assert.deepEqual(fromArgs(['--system-file', file]).template, { system: 'You label tickets.' });
    assert.throws(
      () => fromArgs(['--system-file', path.join(dir, 'missing.md')]),
      (err: unknown) => err instanceof UserError && /system prompt file .*missing\.md does not exist/.test(err.message),
    );
  });

  it('refuses values the workflow would refuse, listing each problem', () => {
    const err = refused(
      () => fromArgs(['--chunk-size', '200000', '--approval-timeout', 'soon']),
      /^invalid job options:/,
    );
    assert.match(err.message, /chunk\.maxRequests: must be ≤ 100000/);
    assert.match(err.message, /approval\.timeout: .*duration/);
    refused(() => fromArgs(['--poll-initial', '1m', '--poll-max', '10s']), /poll\.initial must not exceed poll\.max/);
    refused(() => fromArgs(['--webhook', 'not a url']), /notify\.webhook/);
  });

  it('names an unreadable duration once, without a second complaint about the order of the poll bounds', () => {
    const err = refused(() => fromArgs(['--poll-initial', 'banana', '--poll-max', '2s']), /poll\.initial/);
    assert.doesNotMatch(err.message, /must not exceed/);
  });

  it('refuses placeholders a lines input cannot fill, with the format given or read from the extension', () => {
    refused(
      () => fromArgs(['--format', 'lines', '--prompt', '{item} in {lang}']),
      /unknown placeholder\(s\): \{lang\}/,
    );
    refused(
      () => fromArgs(['--prompt', '{item} in {lang}'], '/data/reviews.txt'),
      /unknown placeholder\(s\): \{lang\}/,
    );
    // A CSV's columns are known only once its header is read (on the worker).
    assert.ok(fromArgs(['--prompt', '{item} in {lang}'], '/data/tickets.csv'));
  });

  it('refuses flags the input format would ignore', () => {
    refused(() => fromArgs(['--prompt', 'Label: {item}']), /--prompt applies to lines and CSV input; .* batch JSONL/);
    refused(() => fromArgs(['--column', 'text'], '/data/reviews.txt'), /--column and --id-column apply to CSV input/);
    refused(() => fromArgs(['--id-column', 'id']), /--column and --id-column apply to CSV input/);
    // Forcing a format makes them apply.
    assert.ok(fromArgs(['--format', 'lines', '--prompt', 'Label: {item}']));
    assert.ok(fromArgs(['--format', 'csv', '--column', 'text']));
  });

  it('rejects bad flag values while parsing, before any job input exists', () => {
    for (const argv of [
      ['--chunk-size', '0'],
      ['--chunk-size', '1.5'],
      ['--approve-above', '-1'],
      ['--max-rounds', 'x'],
      ['--output-ratio', '2'],
      ['--format', 'xml'],
      ['--on-invalid', 'maybe'],
    ])
      assert.throws(() => flags(argv), /invalid|Allowed choices/, argv.join(' '));
  });
});

describe('local paths', () => {
  it('makes paths absolute, keeps file:// and s3:// URIs and names an unsupported scheme', () => {
    assert.equal(localUri('in.jsonl'), path.resolve('in.jsonl'));
    assert.equal(localUri('/abs/in.jsonl'), '/abs/in.jsonl');
    assert.equal(localUri('file:///abs/in.jsonl'), 'file:///abs/in.jsonl');
    assert.equal(localUri('s3://bucket/in.jsonl'), 's3://bucket/in.jsonl');
    assert.throws(() => localUri('gs://bucket/in.jsonl'), /the gs:\/\/ scheme is not supported/);
    assert.throws(
      () => localUri('HTTPS://example.com/in.jsonl'),
      (err: UserError) => /the https:\/\/ scheme is not supported/.test(err.message) && /download/.test(err.hint!),
    );
  });
});

describe('flags per command', () => {
  it('estimate lists only what shapes and prices the requests; run and schedule create add the run-only flags', async () => {
    const { estimateCommand } = await import('../../client/commands/estimate.js');
    const { runCommand } = await import('../../client/commands/run.js');
    const names = (cmd: Command) => cmd.options.map((o) => o.long);
    const estimate = names(estimateCommand());
    const run = names(runCommand());
    for (const only of [
      '--poll-initial',
      '--poll-max',
      '--expiry-warning',
      '--webhook',
      '--max-rounds',
      '--on-invalid',
    ])
      assert.ok(!estimate.includes(only) && run.includes(only), only);
    for (const only of ['--yes', '--overwrite', '--allow-empty', '--approval-timeout'])
      assert.ok(!estimate.includes(only) && run.includes(only), only);
    for (const both of ['--format', '--prompt', '--constant-prompt', '--model', '--chunk-size', '--approve-above'])
      assert.ok(estimate.includes(both) && run.includes(both), both);
  });

  it('--yes, --overwrite and --allow-empty travel in the job input (so detached and scheduled jobs honour them)', () => {
    const raw = fromArgs(['--yes', '--overwrite', '--allow-empty']);
    assert.equal(raw.approval?.preApproved, true);
    assert.match(raw.approval?.approvedBy ?? '', /\(claude-batch cli\)$/);
    assert.equal(raw.overwrite, true);
    assert.equal(raw.allowEmpty, true);
    const plain = fromArgs([]);
    assert.equal(plain.approval, undefined);
    assert.equal(plain.overwrite, undefined);
  });

  it('a lines/CSV prompt without a placeholder is refused here, before a job exists, unless --constant-prompt', () => {
    const e = refused(() => fromArgs(['--prompt', 'Say hi'], '/data/in.txt'), /has no placeholder/);
    assert.match(e.hint ?? '', /--constant-prompt/);
    assert.equal(fromArgs(['--prompt', 'Say hi', '--constant-prompt'], '/data/in.txt').template?.constantPrompt, true);
  });
});
