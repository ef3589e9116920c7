import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../config/load.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../../client/ports.js';
import { batchJob } from '../../workflows/index.js';
import { startTestEmulator, TEST_KEY, type EmulatorHarness } from '../helpers/emulator.js';
import { jobDir, readReport, writeJobInput } from '../helpers/jobs.js';
import { spawnWorker, type Spawned } from '../helpers/processes.js';
import { startDevServer } from '../helpers/temporal.js';

/** `name{labels} value` lines of a Prometheus text exposition, by series. */
function parse(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)/.exec(line);
    if (m) series.set(m[1]!, Number(m[2]));
  }
  return series;
}

const value = (series: Map<string, number>, name: string) => {
  const v = series.get(name);
  assert.notEqual(v, undefined, `${name} is exported`);
  return v!;
};

describe('worker metrics: ours and the Temporal SDK’s on one Prometheus endpoint', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  let worker: Spawned | undefined;
  let metricsUrl: string;
  const root = jobDir();

  before(async () => {
    env = await startDevServer();
    em = await startTestEmulator();
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    worker = await spawnWorker({
      temporalAddress: env.address,
      taskQueue: 'metrics-test',
      apiKey: TEST_KEY,
      anthropicUrl: em.url,
      root,
      env: { CLAUDE_BATCH_METRICS_PORT: String(port), CLAUDE_BATCH_RECONCILE_SETTLE: '1s' },
    });
  });
  after(async () => {
    await worker?.kill();
    await em?.close();
    await env?.teardown();
  });

  it('counts what the job report says: batches, results by outcome and error type, dollars', async () => {
    assert.equal((await worker!.waitFor(/metrics: (\S+)/))[1], metricsUrl);
    const before = parse(await (await fetch(metricsUrl)).text());
    assert.equal(before.get('claude_batch_batches_created_total'), 0);

    // Requests refused as invalid are final (no retry round), so every request has exactly one result.
    await em.setFaults({ outcomes: { invalid_request_error: 0.15 } });
    const input = writeJobInput(root, 300, 'm');
    const output = path.join(root, 'out.jsonl');
    const handle = await env.client.workflow.start(batchJob, {
      taskQueue: 'metrics-test',
      workflowId: 'metrics-job',
      args: [{ input, output, chunk: { maxRequests: 100 }, poll: { initial: '1s', max: '2s' } } as never],
    });
    await handle.result();
    const report = readReport(output);
    const stats = await em.stats();

    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    const m = parse(text);

    assert.equal(value(m, 'claude_batch_batches_created_total'), 3);
    assert.equal(stats.batches.created, 3);
    assert.equal(value(m, 'claude_batch_batches_adopted_total'), 0);
    const invalid = report.outcomes['errored:invalid_request_error'] ?? 0;
    assert.ok(invalid > 0 && report.outcomes.succeeded! > 0, JSON.stringify(report.outcomes));
    assert.equal(value(m, 'claude_batch_requests_total{outcome="succeeded",error_type=""}'), report.outcomes.succeeded);
    assert.equal(
      value(m, 'claude_batch_requests_total{outcome="errored",error_type="invalid_request_error"}'),
      invalid,
    );
    assert.equal(value(m, 'claude_batch_result_lines_fetched_total'), 300);
    assert.ok(report.actual.costUsd > 0);
    assert.ok(Math.abs(value(m, 'claude_batch_billed_usd_total') - report.actual.costUsd) < 1e-6);
    assert.ok(
      Math.abs(value(m, 'claude_batch_billed_usd_total') - stats.billed.batch.usd) < 1e-6,
      'what the API billed',
    );
    assert.ok(Math.abs(value(m, 'claude_batch_estimated_usd_total') - report.estimate!.batchUsd) < 1e-9);
    assert.ok(value(m, 'claude_batch_poll_lag_seconds_count') >= 3, 'at least one poll per batch');
    assert.equal(value(m, 'claude_batch_submissions_waiting'), 0);
    assert.equal(value(m, 'claude_batch_expiry_warnings_total'), 0);

    // The SDK's own, from the runtime's exporter, in the same scrape.
    const sdk = [...m.keys()].filter((k) => k.startsWith('temporal_'));
    assert.ok(
      sdk.some((k) => k.startsWith('temporal_workflow_completed')),
      sdk.slice(0, 20).join('\n'),
    );
    assert.ok(
      sdk.some((k) => k.startsWith('temporal_activity_execution_latency')),
      'activity latencies',
    );
    assert.ok(m.has('process_resident_memory_bytes'), "the worker process's own");
    // One family, one TYPE line: a scrape that repeats one is refused by Prometheus.
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    assert.equal(new Set(types.map((l) => l.split(' ')[2])).size, types.length);

    assert.equal((await fetch(metricsUrl.replace('/metrics', '/other'))).status, 404);

    // The Grafana dashboard charts only what a worker exports (failure counters of the SDK appear once one fails).
    const dashboard = readFileSync(path.join(packageRoot, 'deploy', 'grafana', 'claude-batch.json'), 'utf8');
    const charted = new Set(dashboard.match(/\b(?:claude_batch|temporal|process)_\w+/g));
    const exported = new Set([...m.keys()].map((k) => k.replace(/\{.*/, '')));
    for (const name of charted)
      if (!name.endsWith('_failure')) assert.ok(exported.has(name), `the dashboard's ${name} is exported`);
  });
});
