import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { ActivityDeps } from '../../activities/deps.js';
import { prepareActivities } from '../../activities/prepare.js';
import { submitActivities } from '../../activities/submit.js';
import { activityDeps } from '../../worker/create-worker.js';
import type { PreparedJob, SubmittedBatch } from '../../shared/job-types.js';
import { collect, startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { testWorkerConfig } from '../helpers/temporal.js';

const BETA = 'output-300k-2026-03-24';

/** The batch-only 300K output beta: validation allows what the create's header allows, and the create sends it. */
describe('max_tokens up to 300,000 with the output-300k batch beta', () => {
  let em: EmulatorHarness;
  let root: string;
  let deps: ActivityDeps;
  before(async () => {
    em = await startTestEmulator();
    root = mkdtempSync(path.join(tmpdir(), 'cb-beta-'));
    deps = activityDeps(testWorkerConfig(em.url, { dataDir: path.join(root, 'data'), allowedRoots: [root] }));
  });
  after(async () => {
    await em?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const input = (model: string, maxTokens: number) => {
    const file = path.join(root, `${model}-${maxTokens}.jsonl`);
    const line = {
      custom_id: 'long-1',
      params: { model, max_tokens: maxTokens, messages: [{ role: 'user', content: 'Write a long report.' }] },
    };
    writeFileSync(file, JSON.stringify(line) + '\n');
    return file;
  };
  const prepare = (jobId: string, file: string, betas?: string[]): Promise<PreparedJob> =>
    new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(prepareActivities(deps).prepareJob, {
      jobId,
      input: file,
      chunk: { maxRequests: 100, maxBytes: 1_000_000 },
      onInvalid: 'reject' as const,
      ...(betas ? { betas } : {}),
    });

  it('without the beta, 200,000 is refused for Opus 5.5 with the rule that says so', async () => {
    const prepared = await prepare('no-beta', input('claude-opus-5-5', 200_000));
    assert.equal(prepared.invalid.lines, 1);
    assert.match(JSON.stringify(prepared.invalid.first), /must be at most 128000 for claude-opus-5-5/);
  });

  it('with the beta, the line is valid and the batch is created with the header (the emulator refuses it otherwise)', async () => {
    const prepared = await prepare('with-beta', input('claude-opus-5-5', 200_000), [BETA]);
    assert.equal(prepared.invalid.lines, 0);
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    const submitted: SubmittedBatch = await env.run(submitActivities(deps).submitBatch, {
      jobId: 'with-beta',
      jobDir: prepared.jobDir,
      chunk: prepared.chunks[0]!,
    });
    assert.ok(submitted.batchId);
    // The same request without the header comes back errored: the header is what made it valid.
    const plain = await em.client.messages.batches.create({
      requests: [
        {
          custom_id: 'long-2',
          params: { model: 'claude-opus-5-5', max_tokens: 200_000, messages: [{ role: 'user', content: 'x' }] },
        },
      ],
    });
    await em.advance(2 * 3600);
    const [ours] = await collect(await em.client.messages.batches.results(submitted.batchId));
    const [without] = await collect(await em.client.messages.batches.results(plain.id));
    assert.equal(ours?.result.type, 'succeeded');
    assert.equal(without?.result.type, 'errored');
    assert.match(JSON.stringify(without?.result), /max_tokens/);
  });

  it('the beta does not raise models that do not offer it (Haiku 4.5 stays at 64,000)', async () => {
    const prepared = await prepare('haiku-beta', input('claude-haiku-4-5', 100_000), [BETA]);
    assert.equal(prepared.invalid.lines, 1);
    assert.match(JSON.stringify(prepared.invalid.first), /at most 64000 for claude-haiku-4-5/);
  });
});
