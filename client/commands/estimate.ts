import { Command } from 'commander';
import type { estimateJob, EstimateJobResult } from '../../workflows/estimate-job.js';
import { connectClient } from '../connection.js';
import { addRequestOptions, jobInputFromFlags, requireLocalFile, type JobFlags } from '../job-options.js';
import { failureMessage, failureType, hasWorkers } from '../jobs.js';
import { commandName } from '../command-name.js';
import { failureHint } from '../failure-hints.js';
import { usd } from '../progress/render.js';
import { pctBound, tokenClasses } from '../../shared/money.js';
import { UserError } from '../cli-errors.js';
import { newJobId } from './run.js';

export function estimateLines(r: EstimateJobResult): string[] {
  const lines = [
    `${r.input}: ${r.lines.toLocaleString('en-US')} lines, ${r.requests.toLocaleString('en-US')} valid requests in ${r.chunks} batch(es); models: ${r.models.join(', ') || '—'}`,
  ];
  if (r.invalid.lines > 0) {
    lines.push(`${r.invalid.lines} invalid line(s), ${r.invalid.problems} problem(s):`);
    for (const p of r.invalid.first) lines.push(`  line ${p.line}, ${p.field}: ${p.rule}`);
    if (r.invalid.problems > r.invalid.first.length)
      lines.push(`  … every problem is listed in ${r.invalid.reportUri}`);
  }
  const e = r.estimate;
  if (e) {
    lines.push(
      `estimate: ${usd(e.batchUsd)} at batch prices; ${usd(e.standardUsd)} at synchronous prices (saves ${usd(e.standardUsd - e.batchUsd)})`,
      ...(e.worst
        ? [
            `  worst case: ${usd(e.worst.batchUsd)} at batch prices (no cache hits, every answer at max_tokens); the approval threshold is compared with it`,
          ]
        : []),
      ...(e.expectedRange
        ? [`  95% range of the expected cost: ${usd(e.expectedRange.lowUsd)}–${usd(e.expectedRange.highUsd)}`]
        : []),
      `  expected tokens: ${tokenClasses(e.tokens)} (output at ${Math.round(100 * e.outputRatio)}% of max_tokens, ${e.pilot ? `measured by a pilot of ${e.pilot.answered}` : 'assumed; a run of a large job measures it with a pilot answered synchronously first (`--no-pilot` skips it)'})`,
      ...(e.worst ? [`  worst-case tokens: ${tokenClasses(e.worst.tokens)}`] : []),
      ...(e.cacheAssumption ? [`  caching: ${e.cacheAssumption}`] : []),
      `  input tokens ${e.method === 'sample' ? `from a random sample of ${e.sampleSize} requests, ±${pctBound(e.inputErrorBound)}% (95%)` : 'counted for every request'}; price table of ${e.priceTableAsOf}`,
    );
    if (e.unknownModels.length > 0) lines.push(`  not priced (unknown models): ${e.unknownModels.join(', ')}`);
    if (e.priceTableWarning) lines.push(`warning: ${e.priceTableWarning}`);
    lines.push(
      r.approvalRequired
        ? `a run would wait for approval (its worst case is above ${usd(r.thresholdUsd)}); \`run --yes\` approves it up front`
        : `a run would start without approval (worst case within ${usd(r.thresholdUsd)})`,
    );
  }
  for (const w of r.warnings ?? []) lines.push(`warning: ${w}`);
  if (r.requests === 0)
    lines.push(
      r.lines === 0
        ? `nothing to submit: ${r.input} has no requests (empty, only blank lines, or a CSV header without rows)`
        : `nothing to submit: none of the ${r.lines.toLocaleString('en-US')} line(s) is a valid request`,
    );
  lines.push('nothing was submitted.');
  return lines;
}

export function estimateCommand(): Command {
  return addRequestOptions(
    new Command('estimate')
      .description(
        'Dry run: validate the input and estimate its cost on a worker (which counts tokens); submits nothing',
      )
      .argument('<input>', 'requests: Anthropic batch JSONL, one item per line (.txt), or CSV')
      .option('--json', 'print the result as JSON', false),
  ).action(async (inputFile: string, f: JobFlags & { json: boolean }) => {
    const input = requireLocalFile(inputFile, 'input file');
    const jobInput = jobInputFromFlags({ input, output: `${input}.estimate.jsonl` }, f);
    const client = await connectClient();
    if (!(await hasWorkers(client, f.taskQueue)))
      throw new UserError(
        `no worker polls task queue '${f.taskQueue}': the estimate runs on a worker (it holds the API key)`,
        `start one with \`${commandName()} worker\` or \`${commandName()} dev\``,
      );
    let result: EstimateJobResult;
    try {
      result = await client.workflow.execute<typeof estimateJob>('estimateJob', {
        workflowId: `estimate-${newJobId(inputFile)}`,
        taskQueue: f.taskQueue,
        args: [jobInput],
        staticSummary: `claude-batch estimate (dry run) of ${inputFile}`,
      });
    } catch (err) {
      throw new UserError(
        `the estimate failed: ${failureMessage(err)}`,
        failureHint(failureType(err)) ?? 'nothing was submitted; fix the input or flags and estimate again',
      );
    }
    if (f.json) console.log(JSON.stringify(result, null, 2));
    else for (const line of estimateLines(result)) console.log(line);
    process.exitCode = result.invalid.lines > 0 || result.requests === 0 ? 1 : 0;
    await client.connection.close();
  });
}
