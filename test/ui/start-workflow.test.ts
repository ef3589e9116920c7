/**
 * What the README promises a user: open the Temporal UI, fill its "Start Workflow" form (Workflow Type `batchJob`,
 * Task Queue `claude-batch`, one JSON input), and watch the job complete. Real dev server with its UI, the
 * emulator over HTTP, a worker, headless Chromium driven by playwright-core.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Browser, Page } from 'playwright-core';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { assertExactOutput, idsOf, jobDir, readOutput, writeJobInput } from '../helpers/jobs.js';
import { startDevServerWithUi, runTestWorker, testWorkerConfig } from '../helpers/temporal.js';
import { launchChromium, localPage, screenshot } from '../helpers/browser.js';

const TASK_QUEUE = 'claude-batch';
const WORKFLOW_ID = 'tickets-from-ui';
const REQUESTS = 20;

/** Polls `check` (from Node) until it holds. */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function parsesTo(text: string | null, expected: unknown): boolean {
  try {
    return JSON.stringify(JSON.parse(text ?? '')) === JSON.stringify(expected);
  } catch {
    return false;
  }
}

describe('the Temporal UI "Start Workflow" form starts a batch job', () => {
  let env: TestWorkflowEnvironment;
  let uiUrl: string;
  let em: EmulatorHarness;
  let worker: { stop(): Promise<void> } | undefined;
  let browser: Browser;
  let page: Page;

  before(async () => {
    [{ env, uiUrl }, em, browser] = await Promise.all([
      startDevServerWithUi(),
      // Batches end as soon as they are created: the first poll (right after the submit) finds them ended, so the
      // job's default poll interval (30 s) never comes into play.
      startTestEmulator({ processing: { baseLatencyMs: 0, perRequestMs: 0, spread: 0, cancelLatencyMs: 0 } }),
      launchChromium(),
    ]);
    // The dev server is this test's own, so the default task queue is free to use.
    worker = await runTestWorker(env, testWorkerConfig(em.url, { taskQueue: TASK_QUEUE }));
    page = await localPage(browser, uiUrl);
    page.setDefaultTimeout(20_000);
  });
  after(async () => {
    await browser?.close();
    await worker?.stop();
    await em?.close();
    await env?.teardown();
  });

  it(
    'fills Workflow ID, Task Queue, Workflow Type and the JSON input; the job completes',
    { timeout: 90_000 },
    async () => {
      const dir = jobDir();
      const input = writeJobInput(dir, REQUESTS, 'ui');
      const output = path.join(dir, 'results.jsonl');
      const jobInput = { input, output };
      try {
        // The workflow list's "Start Workflow" button leads to this form.
        await page.goto(`${uiUrl}/namespaces/default/workflows`);
        await page.getByRole('link', { name: 'Start Workflow' }).click();
        await page.waitForURL(/\/namespaces\/default\/workflows\/start-workflow/);

        await page.getByTestId('workflowId').fill(WORKFLOW_ID);
        await page.getByTestId('taskQueue').fill(TASK_QUEUE);
        await page.getByTestId('workflowType').fill('batchJob');
        // Leaving the task queue field makes the form look up its pollers: our worker.
        await page.getByText('Task Queue is Active').waitFor();

        // The input is a CodeMirror editor; json/plain is the default encoding.
        const data = page.locator('.cm-content[aria-label="Data"]');
        await data.fill(JSON.stringify(jobInput));
        // Leaving the editor reformats the JSON, which grows the editor and moves the button: blur first, then check
        // the form holds our input, so the click lands on a button that stays put.
        await data.blur();
        await waitUntil('the form to hold the job input', async () => parsesTo(await data.textContent(), jobInput));
        assert.ok(await page.getByLabel('json/plain').isChecked(), 'the payload goes as json/plain');

        await page.getByRole('button', { name: 'Start Workflow', exact: true }).click();
        // The success toast links to the new run.
        await page.getByRole('link', { name: 'Workflow started successfully' }).click();
        await page.waitForURL(new RegExp(`/namespaces/default/workflows/${WORKFLOW_ID}/[0-9a-f-]+/`));

        // The page follows the run live; wait for a final status, then require it to be Completed.
        const status = page.getByTestId('execution-status').first();
        await status
          .filter({ hasText: /Completed|Failed|Canceled|Terminated|Timed ?Out|Continued ?As ?New/i })
          .waitFor({ timeout: 45_000 });
        assert.equal((await status.textContent())?.trim().toLowerCase(), 'completed');
        await page.getByText(input).first().waitFor();
        await screenshot(page, 'ui-start-workflow');
      } catch (err) {
        if (page) await screenshot(page, 'ui-start-workflow-failure').catch(() => undefined);
        throw err;
      }

      const handle = env.client.workflow.getHandle(WORKFLOW_ID);
      const description = await handle.describe();
      assert.equal(description.status.name, 'COMPLETED');
      assert.equal(description.type, 'batchJob');
      assert.equal(description.taskQueue, TASK_QUEUE);
      const result = (await handle.result()) as { lines: number };
      assert.equal(result.lines, REQUESTS);
      assertExactOutput(readOutput(output), idsOf(REQUESTS, 'ui'));
    },
  );
});
