import { Command } from 'commander';
import Table from 'cli-table3';
import { loadPriceTable } from '../../config/load.js';
import { priceTableAgeDays, type ModelPrice, type Rates } from '../../shared/pricing.js';

/** Rates have at most three decimals: show them all ($0.125), and cents otherwise ($2.50). */
const money = (n: number) => `$${n.toFixed(3).endsWith('0') ? n.toFixed(2) : n.toFixed(3)}`;
const cells = (r: Rates, discount: number) => [
  money(r.input),
  money(r.output),
  money(r.cacheWrite5m),
  money(r.cacheWrite1h),
  money(r.cacheRead),
  `${money(r.input * discount)} / ${money(r.output * discount)}`,
];

/** `claude-batch prices`: the price table jobs are costed with, its date and sources, and whether it is stale. */
export function pricesCommand(): Command {
  return new Command('prices')
    .description('The price table estimates and reports use (USD per million tokens), its date and sources')
    .option('--file <prices.json>', 'another price table (default: CLAUDE_BATCH_PRICES, else the bundled one)')
    .option('--max-age <days>', 'warn when the table is older than this many days', (v) => Number(v), 90)
    .option('--json', 'print the table as JSON', false)
    .action((o: { file?: string; maxAge: number; json: boolean }) => {
      const file = o.file ?? process.env.CLAUDE_BATCH_PRICES;
      const table = file ? loadPriceTable(file) : loadPriceTable();
      if (o.json) {
        console.log(JSON.stringify(table, null, 2));
        return;
      }
      const out = new Table({
        head: ['model', 'input', 'output', '5m cache write', '1h cache write', 'cache read', 'batch in / out'],
        style: { head: [], border: [] },
        chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
      });
      const row = (name: string, p: ModelPrice) => {
        out.push([name, ...cells(p, table.batchDiscount)]);
        for (const t of p.tiers ?? [])
          out.push([`  prompt > ${t.promptTokensAbove.toLocaleString('en-US')}`, ...cells(t, table.batchDiscount)]);
      };
      for (const [name, p] of Object.entries(table.models)) row(name, p);
      console.log(out.toString());
      console.log(
        `batch = ${Math.round(table.batchDiscount * 100)}% of every rate; a tier applies to every token of a request whose prompt (input + cache) is above its threshold.`,
      );
      console.log(`as of ${table.asOf}; sources:`);
      for (const s of table.sources) console.log(`  ${s}`);
      const age = priceTableAgeDays(table, Date.now());
      if (age > o.maxAge)
        console.log(
          `warning: this table is ${age} days old; check Anthropic's pricing page (https://platform.claude.com/docs/en/about-claude/pricing)`,
        );
    });
}
