import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadPriceTable } from '../../config/load.js';
import { batchJob } from '../../workflows/index.js';
import { collectPrice } from '../../client/job-options.js';
import { failureMessage, failureType } from '../../client/jobs.js';
import { type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, readReport, writeJobInput } from '../helpers/jobs.js';
import { startJobStack, type JobStack } from '../helpers/temporal.js';

describe('a model without a price is refused before anything is submitted, never costed at $0', () => {
  let stack: JobStack;
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  let taskQueue: string;
  before(async () => {
    // A worker whose price table lacks the model the jobs use (the API knows it: the Models API lists it).
    const table = loadPriceTable();
    const { ['claude-haiku-4-5']: _dropped, ...models } = table.models;
    const pricesFile = path.join(jobDir(), 'prices-without-haiku-4-5.json');
    writeFileSync(pricesFile, JSON.stringify({ ...table, models }));
    stack = await startJobStack({ timeScale: 3600 }, () => ({ pricesFile }));
    ({ env, em } = stack);
    taskQueue = stack.config.taskQueue;
  });
  after(() => stack?.stop());

  it('refuses the job with UnpricedModel: no batch created', async () => {
    const dir = jobDir();
    const err = await env.client.workflow
      .execute(batchJob, {
        taskQueue,
        workflowId: 'unpriced',
        args: [{ input: writeJobInput(dir, 5, 'unpriced'), output: path.join(dir, 'out.jsonl') }],
      })
      .catch((e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError, String(err));
    // How the CLI reads it: the innermost failure's type and message.
    assert.equal(failureType(err), 'UnpricedModel');
    assert.match(failureMessage(err), /No price for claude-haiku-4-5/);
    assert.equal((await em.stats()).batches.created, 0, 'nothing was submitted');
  });

  it("runs with the user's own price, and the report's cost is the emulator's bill", async () => {
    const dir = jobDir();
    const output = path.join(dir, 'out.jsonl');
    // What `--price claude-haiku-4-5=1,5` puts in the job.
    const prices = collectPrice('claude-haiku-4-5=1,5');
    await env.client.workflow.execute(batchJob, {
      taskQueue,
      workflowId: 'own-price',
      args: [{ input: writeJobInput(dir, 12, 'own'), output, prices, poll: { initial: '1s', max: '1s' } }],
    });
    assertExactOutput(readOutput(output), idsOf(12, 'own'));
    const report = readReport(output);
    const billed = (await em.stats()).billed.batch.usd;
    assert.ok(billed > 0);
    assert.equal(report.actual.costUsd, billed);
  });

  it('--price is parsed with clear errors', () => {
    assert.deepEqual(collectPrice('m-1=4,20,5,8,0.2'), {
      'm-1': { input: 4, output: 20, cacheWrite5m: 5, cacheWrite1h: 8, cacheRead: 0.2 },
    });
    assert.throws(() => collectPrice('m-1=4'), /<model>=<input>,<output>/);
    assert.throws(() => collectPrice('m-1=a,b'), /claude-opus-5-5=4,20,5,8,0.2/);
  });
});
