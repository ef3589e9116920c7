import { Command } from 'commander';
import Table from 'cli-table3';
import type { JobMemo } from '../jobs.js';
import { ENDED_PHASES } from '../../shared/job-state.js';
import { connectClient } from '../connection.js';
import { usd } from '../progress/render.js';
import { nonNegativeInt } from '../parse-options.js';
import { commandName } from '../command-name.js';
import { GRPC, grpcAnswer, UserError } from '../cli-errors.js';

export interface JobRow {
  id: string;
  status: string;
  started: string;
  requests: number | null;
  estimateUsd: number | null;
  costUsd: number | null;
  output: string | null;
}

/** The job's own word for how it stands (rejected, canceled…), unless Temporal knows better (e.g. terminated). */
export function shownStatus(execution: string, phase: string | undefined): string {
  if (execution === 'RUNNING') return phase ?? 'running';
  if (phase && ENDED_PHASES.includes(phase)) return phase;
  return execution.toLowerCase();
}

/** The server refuses a query it cannot parse with INVALID_ARGUMENT; its text says where (our part is fixed). */
function refusedQuery(err: unknown, query: string | undefined): UserError | null {
  const answer = grpcAnswer(err);
  if (!query || answer?.code !== GRPC.INVALID_ARGUMENT) return null;
  return new UserError(
    `the Temporal server refused --query "${query}": ${answer.details}`,
    `--query takes a Temporal visibility query (SQL-like: compare a search attribute with a value, strings in single quotes; combine with AND, OR), e.g. --query "BatchJobStatus = 'awaiting_approval'"`,
  );
}

const money = (n: number | null | undefined) => (n == null ? '—' : usd(n));

export function listCommand(): Command {
  return new Command('list')
    .description('Recent jobs with their status and cost, from Temporal visibility')
    .option('-n, --limit <n>', 'how many', nonNegativeInt, 20)
    .option('--query <visibility query>', 'extra filter, e.g. "BatchJobStatus = \'awaiting_approval\'"')
    .option('--json', 'print JSON', false)
    .action(async (o: { limit: number; query?: string; json: boolean }) => {
      const client = await connectClient();
      const rows: JobRow[] = [];
      const query = `WorkflowType = 'batchJob'${o.query ? ` AND (${o.query})` : ''}`;
      try {
        for await (const wf of client.workflow.list({ query })) {
          if (rows.length >= o.limit) break;
          const memo = (wf.memo ?? {}) as JobMemo;
          const execution = wf.status.name;
          rows.push({
            id: wf.workflowId,
            status: shownStatus(execution, memo.phase),
            started: wf.startTime.toISOString().slice(0, 19).replace('T', ' '),
            requests: memo.requests ?? null,
            estimateUsd: memo.estimateUsd ?? null,
            costUsd: memo.costUsd ?? null,
            output: memo.output ?? null,
          });
        }
      } catch (err) {
        throw refusedQuery(err, o.query) ?? err;
      } finally {
        await client.connection.close();
      }
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      if (rows.length === 0)
        return console.log(`no batch jobs yet; start one with \`${commandName()} run <input> --out <file>\``);
      const table = new Table({
        head: ['job', 'status', 'started (UTC)', 'requests', 'estimate', 'cost'],
        style: { head: [], border: [] },
        chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
      });
      for (const r of rows)
        table.push([
          r.id,
          r.status,
          r.started,
          r.requests?.toLocaleString('en-US') ?? '—',
          money(r.estimateUsd),
          money(r.costUsd),
        ]);
      console.log(table.toString());
    });
}
