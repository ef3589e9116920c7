/**
 * npm run demo — until the durable workflow lands, a scripted batch against the embedded emulator through the
 * official SDK: 500 support tickets with a shared cached system prompt, polled to the end, results tallied, and
 * the emulator's bill compared with the synchronous price.
 */
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { loadPriceTable, packageRoot } from '../config/load.js';
import { startEmulator } from '../emulator/server.js';
import { costOf } from '../shared/pricing.js';
import { ticketRequest } from '../examples/support-tickets.js';

const TICKETS = 500;

async function main() {
  const emulator = await startEmulator({
    port: 0,
    dataDir: path.join(packageRoot, '.data', 'demo', `emulator-${Date.now()}`),
    timeScale: 120,
  });
  console.log(`Emulator of the Message Batches API at ${emulator.url} (virtual time runs 120x)`);
  const client = new Anthropic({ apiKey: 'sk-ant-demo', baseURL: emulator.url });
  try {
    const batch = await client.messages.batches.create({
      requests: Array.from({ length: TICKETS }, (_, i) => ticketRequest(i)),
    });
    console.log(`Submitted ${batch.id} with ${TICKETS} requests; expires at ${batch.expires_at}`);
    let current = batch;
    while (current.processing_status !== 'ended') {
      await new Promise((r) => setTimeout(r, 250));
      current = await client.messages.batches.retrieve(batch.id);
      console.log(`  ${current.processing_status} (virtual ${new Date(emulator.context.clock.now()).toISOString()})`);
    }
    const labels: Record<string, number> = {};
    for await (const line of await client.messages.batches.results(batch.id)) {
      if (line.result.type !== 'succeeded') continue;
      const first = line.result.message.content[0];
      const label = first?.type === 'text' ? first.text : '?';
      labels[label] = (labels[label] ?? 0) + 1;
    }
    const stats = emulator.context.ledger.stats();
    const prices = loadPriceTable();
    const standardUsd = Object.entries(stats.billed.batch.tokens).reduce(
      (sum, [model, tokens]) => sum + (costOf(prices, model, tokens, 'standard') ?? 0),
      0,
    );
    console.log(`\nEnded: ${JSON.stringify(current.request_counts)}`);
    console.log(`Labels: ${JSON.stringify(labels)}`);
    console.log(`Billed (batch prices, price table of ${prices.asOf}): $${stats.billed.batch.usd.toFixed(4)}`);
    console.log(`Same tokens at synchronous prices:                 $${standardUsd.toFixed(4)}`);
    console.log(`Tokens: ${JSON.stringify(stats.billed.batch.tokens)}`);
  } finally {
    await emulator.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
