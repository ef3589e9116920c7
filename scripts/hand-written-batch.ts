/**
 * The baseline of `npm run bench:compare`: what a competent engineer writes instead of claude-batch, using only the
 * official `@anthropic-ai/sdk`. It is a fair opponent, not a straw man: it streams the input, fills each batch to the
 * API's limits (100,000 requests or 256 MB), creates all batches before waiting on any, polls every second and
 * streams the results to the output file with backpressure.
 *
 *   ANTHROPIC_API_KEY=… node dist/scripts/hand-written-batch.js --input in.jsonl --output out.jsonl
 *     [--base-url URL] [--max-requests N (default 100000)]
 *
 * What it does not do, and claude-batch does: survive a crash or a restart (a killed script loses track of batches
 * it paid for), validate lines before paying, estimate or cap the cost, retry expired or errored requests, write a
 * report. The SDK's default retries stay on, so a create that times out after reaching the API can create a
 * second batch — the usual hand-written trade-off.
 *
 * Memory: `messages.batches.create({ requests })` takes the whole batch as an array, so one batch's requests (up to
 * ~256 MB of JSON, parsed, plus the SDK's serialized body) are in memory at a time. That is inherent to the SDK's
 * create call and realistic; the input file as a whole is never held.
 *
 * Fetch order: it waits until every batch has ended, then streams their results one after another. That is the
 * obvious loop (create, poll, fetch); fetching each batch as soon as it ends is what claude-batch does.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import type { BatchCreateParams, MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';

// The API's body limit is 256 MB; leave room for the envelope and for JSON.stringify's rendering of what we parsed.
const MAX_BYTES = 250_000_000;
const POLL_MS = 1000;

const { values } = parseArgs({
  options: {
    input: { type: 'string' },
    output: { type: 'string' },
    'base-url': { type: 'string' },
    // The API's maximum; bench:compare lowers it for quick runs so a small input still makes several batches.
    'max-requests': { type: 'string', default: '100000' },
  },
});
if (!values.input || !values.output) {
  console.error(
    'usage: hand-written-batch --input <requests.jsonl> --output <results.jsonl> [--base-url <url>] [--max-requests <n>]',
  );
  process.exit(2);
}
const MAX_REQUESTS = Number(values['max-requests']);
if (!Number.isInteger(MAX_REQUESTS) || MAX_REQUESTS < 1 || MAX_REQUESTS > 100_000) {
  console.error(`--max-requests must be a whole number from 1 to 100000, got ${values['max-requests']}`);
  process.exit(2);
}
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;

// The SDK reads ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL) from the environment itself.
const client = new Anthropic(values['base-url'] ? { baseURL: values['base-url'] } : {});

/** Reads the input line by line and creates a batch each time one is full; resolves with the batch ids in order. */
async function createBatches(file: string): Promise<string[]> {
  const ids: string[] = [];
  let requests: BatchCreateParams.Request[] = [];
  let bytes = 0;
  const flush = async () => {
    if (requests.length === 0) return;
    const batch = await client.messages.batches.create({ requests });
    console.log(`[${elapsed()}] created ${batch.id} with ${requests.length.toLocaleString('en-US')} requests`);
    ids.push(batch.id);
    // Drop the array before reading on, so only one batch's requests are ever held.
    requests = [];
    bytes = 0;
  };
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const size = Buffer.byteLength(line) + 1;
    if (requests.length >= MAX_REQUESTS || bytes + size > MAX_BYTES) await flush();
    requests.push(JSON.parse(line) as BatchCreateParams.Request);
    bytes += size;
  }
  await flush();
  return ids;
}

/** Polls every batch each second until all have ended. */
async function waitForAll(ids: string[]): Promise<void> {
  const open = new Set(ids);
  while (open.size > 0) {
    for (const id of [...open]) {
      const batch: MessageBatch = await client.messages.batches.retrieve(id);
      if (batch.processing_status === 'ended') {
        open.delete(id);
        console.log(`[${elapsed()}] ${id} ended`);
      }
    }
    if (open.size > 0) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Streams every batch's results into one JSONL file, honouring the file's backpressure. */
async function fetchAll(ids: string[], file: string): Promise<number> {
  const out = createWriteStream(file);
  let count = 0;
  for (const id of ids) {
    for await (const result of await client.messages.batches.results(id)) {
      if (!out.write(JSON.stringify(result) + '\n')) await once(out, 'drain');
      count++;
    }
    console.log(`[${elapsed()}] fetched ${id} (${count.toLocaleString('en-US')} results so far)`);
  }
  out.end();
  await once(out, 'close');
  return count;
}

const ids = await createBatches(values.input);
await waitForAll(ids);
const count = await fetchAll(ids, values.output);
console.log(`done: ${count.toLocaleString('en-US')} results from ${ids.length} batch(es) in ${elapsed()}`);
