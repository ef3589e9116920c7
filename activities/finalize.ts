import { once } from 'node:events';
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { addTokens, batchCostUsd, mergeTokens, roundUsd, usdOfNano, ZERO_TOKENS } from '../shared/pricing.js';
import { jobPrices } from './job-prices.js';
import type { ChunkOutcome, Estimate, InvalidLine, JobReportSummary, SubmittedBatch } from '../shared/job-types.js';
import { reportMarkdown, type JobReport } from '../shared/report.js';
import { erroredResult, outcomeOf, type ResultLine } from '../shared/results.js';
import type { ActivityDeps } from './deps.js';
import { lines } from './jsonl.js';
import { customIdOfLine, lineBatches } from './line-batches.js';

export interface FinalizeArgs {
  jobId: string;
  jobDir: string;
  input: string;
  output: string;
  report?: string | undefined;
  /** Rounds that submitted at least one batch (0 … roundsRun − 1). */
  roundsRun: number;
  canceled: boolean;
  /** Chunks never submitted (the job was canceled first): their requests are answered `canceled`. */
  unsubmitted: { uri: string }[];
  /** Chunks the budget kept from being submitted: their requests are answered `errored` / `budget_exceeded`. */
  heldBack?: { uri: string }[];
  budgetStopped?: string;
  /** Chunks whose child failed: their requests are answered `errored` with the failure. */
  failed: { uri: string; error: string }[];
  prepared: {
    lines: number;
    requests: number;
    invalidLines: number;
    invalidReport: string | null;
    invalidProblems?: number | undefined;
    invalidFirst?: InvalidLine[] | undefined;
  };
  estimate: Estimate | null;
  startedAt: number;
  notes: string[];
}

export function reportBase(output: string, report: string | undefined): string {
  return report ?? `${output.replace(/\.jsonl?$/i, '')}.report`;
}

/**
 * Writes the output — exactly one line per submitted request, its final outcome in the results-line format — and
 * the report (JSON and Markdown). A request retried in round r+1 takes its line from there; memory holds only the
 * ids retried from one chunk at a time (a chunk's results name only its own requests), so at most a batch's worth.
 */

export function finalizeActivities(deps: ActivityDeps) {
  const { store } = deps;
  const notOurs = (uri: string) =>
    ApplicationFailure.nonRetryable(
      `${uri} has a line without a custom_id; not writing the output`,
      'OutputIncomplete',
    );

  async function outcomesOf(jobDir: string, round: number): Promise<ChunkOutcome[]> {
    const dir = store.join(jobDir, 'rounds', String(round), 'outcomes');
    const names = (await store.list(dir)).filter((n) => n.endsWith('.json')).sort();
    return Promise.all(names.map((n) => store.readJson<ChunkOutcome>(store.join(dir, n))));
  }

  async function retriedIds(outcomes: ChunkOutcome[]): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const o of outcomes)
      if (o.retryUri)
        for await (const id of lines(store.read(o.retryUri))) {
          if (id) ids.add(id);
          if (ids.size % 1000 === 0) heartbeat({ retried: ids.size });
        }
    return ids;
  }

  return {
    async finalizeJob(args: FinalizeArgs): Promise<JobReportSummary> {
      const rounds: ChunkOutcome[][] = [];
      for (let r = 0; r < args.roundsRun; r++) rounds.push(await outcomesOf(args.jobDir, r));
      const outputUri = store.resolve(args.output);
      const out = await store.write(outputUri);
      const outcomes: Record<string, number> = {};
      let written = 0;
      let beatAt = 0;
      const count = (key: string, by: number) => {
        const n = (outcomes[key] ?? 0) + by;
        if (n === 0) delete outcomes[key];
        else outcomes[key] = n;
      };
      /** Writes text of `n` whole lines, respecting backpressure. */
      const put = async (text: string | Buffer, n: number) => {
        if (!out.stream.write(text)) await once(out.stream, 'drain');
        written += n;
        // A big output takes minutes: heartbeats let a dead worker's finalize move to another within seconds.
        if (written - beatAt >= 1000) {
          beatAt = written;
          heartbeat({ written });
        }
      };
      const emit = async (line: string, result: ResultLine['result']) => {
        await put(line + '\n', 1);
        count(outcomeOf(result), 1);
      };
      try {
        for (let r = 0; r < rounds.length; r++) {
          const last = r === rounds.length - 1;
          for (const o of rounds[r]!) {
            // Retried ids of this chunk: superseded by a later round's line, or, in the last round, a request to
            // retry that has no result line (the API never returned one) is answered here: no later round will.
            const retried = o.retryUri ? await retriedIds([o]) : new Set<string>();
            const superseded = last ? new Set<string>() : retried;
            const unanswered = last ? retried : new Set<string>();
            if (o.resultsUri && superseded.size === 0 && unanswered.size === 0)
              await copyWhole(o.resultsUri, o, put, count);
            else if (o.resultsUri)
              for await (const batch of lineBatches(store.read(o.resultsUri))) {
                const keep: string[] = [];
                for (const raw of batch) {
                  const id = customIdOfLine(raw);
                  if (id === null) throw notOurs(o.resultsUri);
                  unanswered.delete(id);
                  if (superseded.has(id)) continue;
                  keep.push(raw);
                  count(outcomeOf((JSON.parse(raw) as ResultLine).result), 1);
                }
                if (keep.length > 0) await put(keep.join('\n') + '\n', keep.length);
              }
            const result = erroredResult('job_error', `batch ${o.batchId ?? '?'} never returned a result for it`);
            for (const custom_id of unanswered) await emit(JSON.stringify({ custom_id, result }), result);
          }
        }
        /** Every request of chunks that have no results: each answered with the same result. */
        const answerAll = async (chunks: { uri: string }[], result: ResultLine['result']) => {
          for (const chunk of chunks)
            for await (const batch of lineBatches(store.read(chunk.uri)))
              for (const raw of batch) {
                const custom_id = customIdOfLine(raw);
                if (custom_id === null) throw notOurs(chunk.uri);
                await emit(JSON.stringify({ custom_id, result }), result);
              }
        };
        await answerAll(args.unsubmitted, { type: 'canceled' });
        await answerAll(
          args.heldBack ?? [],
          erroredResult('budget_exceeded', `not submitted: ${args.budgetStopped ?? 'the budget'}`),
        );
        for (const chunk of args.failed) await answerAll([chunk], erroredResult('job_error', chunk.error));
        if (written !== args.prepared.requests)
          throw ApplicationFailure.nonRetryable(
            `the output would have ${written} lines for ${args.prepared.requests} requests; not writing it`,
            'OutputIncomplete',
          );
        await out.commit();
      } catch (err) {
        await out.abort();
        throw err;
      }

      const all = rounds.flat();
      const tokens = mergeTokens(all.map((o) => o.tokens));
      const prices = await jobPrices(deps, args.jobDir);
      // Summed exactly and rounded once, as the bill is; outcomes of older builds carry only their rounded figures.
      // Batches at batch rates, answers of the Messages API (pilot, deadline) at standard rates, each summed apart.
      const exact = all.every((o) => o.standardNanoUsd !== undefined);
      const nanoOf = (list: ChunkOutcome[]) => list.reduce((sum, o) => sum + (o.standardNanoUsd ?? 0), 0);
      const sync = all.filter((o) => o.via === 'sync');
      const batchNano = nanoOf(all.filter((o) => o.via !== 'sync'));
      const syncUsd = usdOfNano(prices, nanoOf(sync), 'standard');
      const costUsd = exact
        ? roundUsd(usdOfNano(prices, batchNano, 'batch') + syncUsd)
        : roundUsd(all.reduce((sum, o) => sum + o.costUsd, 0));
      const standardUsd = exact
        ? usdOfNano(prices, batchNano + nanoOf(sync), 'standard')
        : roundUsd(all.reduce((sum, o) => sum + (o.standardUsd ?? batchCostUsd(prices, o.tokens, 'standard')), 0));
      const unpriced = [...new Set(all.flatMap((o) => o.unpricedModels ?? []))].sort();
      const finishedAt = Date.now();
      const report: JobReport = {
        jobId: args.jobId,
        status: args.canceled ? 'canceled' : 'completed',
        input: args.input,
        output: outputUri,
        requests: {
          inputLines: args.prepared.lines,
          submitted: args.prepared.requests,
          invalidLines: args.prepared.invalidLines,
          invalidReport: args.prepared.invalidReport,
          ...(args.prepared.invalidFirst
            ? { invalidProblems: args.prepared.invalidProblems, invalidFirst: args.prepared.invalidFirst }
            : {}),
        },
        outcomes,
        rounds: await Promise.all(
          rounds.map(async (round, r) => ({
            round: r,
            retried: round.reduce((sum, o) => sum + o.retryable, 0),
            batches: await Promise.all(
              round.map(async (o) => ({
                chunkId: o.chunkId,
                batchId: o.batchId,
                ...(o.via ? { via: o.via } : {}),
                requests: o.requests,
                outcomes: o.outcomes,
                costUsd: o.costUsd,
                adopted: await wasAdopted(args.jobDir, r, o.chunkId),
              })),
            ),
          })),
        ),
        estimate: args.estimate,
        actual: {
          tokens: Object.values(tokens).reduce(addTokens, ZERO_TOKENS),
          costUsd,
          standardUsd,
          savingsUsd: roundUsd(standardUsd - costUsd),
          ...(sync.length
            ? {
                synchronous: {
                  requests: sync.reduce((n, o) => n + Object.values(o.outcomes).reduce((a, b) => a + b, 0), 0),
                  costUsd: syncUsd,
                },
              }
            : {}),
        },
        priceTable: { asOf: deps.prices.asOf },
        timing: {
          startedAt: new Date(args.startedAt).toISOString(),
          finishedAt: new Date(finishedAt).toISOString(),
          durationMs: finishedAt - args.startedAt,
        },
        notes: [
          ...args.notes,
          ...(unpriced.length
            ? [
                `No price for ${unpriced.join(', ')} (named by the API's results): those requests are not in the cost above. Give a price for the job or update the price table.`,
              ]
            : []),
        ],
      };
      const base = store.resolve(reportBase(args.output, args.report));
      await store.writeJson(`${base}.json`, report);
      const md = await store.write(`${base}.md`);
      md.stream.write(reportMarkdown(report));
      await md.commit();
      return {
        outputUri,
        reportJsonUri: `${base}.json`,
        reportMarkdownUri: `${base}.md`,
        lines: written,
        outcomes,
        costUsd,
        standardUsd,
        ...(report.actual.synchronous ? { synchronous: report.actual.synchronous } : {}),
      };
    },
  };

  /**
   * A results file none of whose lines is superseded, copied as bytes: its outcomes are the ones its fetch tallied
   * while storing it. Its lines are counted on the way, and must be as many as that tally.
   */
  async function copyWhole(
    uri: string,
    o: ChunkOutcome,
    put: (block: Buffer, lines: number) => Promise<void>,
    count: (key: string, by: number) => void,
  ): Promise<void> {
    let lines = 0;
    let last = 10;
    for await (const block of store.read(uri) as AsyncIterable<Buffer>) {
      let n = 0;
      for (let at = block.indexOf(10); at !== -1; at = block.indexOf(10, at + 1)) n++;
      if (block.length > 0) last = block[block.length - 1]!;
      lines += n;
      await put(block, n);
    }
    const tallied = Object.values(o.outcomes).reduce((a, b) => a + b, 0);
    if (last !== 10 || lines !== tallied)
      throw ApplicationFailure.nonRetryable(
        `the results file of chunk ${o.chunkId} has ${lines} whole lines where its fetch stored ${tallied}; not writing the output`,
        'OutputIncomplete',
      );
    for (const [key, n] of Object.entries(o.outcomes)) count(key, n);
  }

  async function wasAdopted(jobDir: string, round: number, chunkId: string): Promise<boolean> {
    const uri = store.join(jobDir, 'rounds', String(round), 'submit', `${chunkId}.batch.json`);
    return (await store.exists(uri)) && (await store.readJson<SubmittedBatch>(uri)).adopted;
  }
}
