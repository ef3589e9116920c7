import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { uniform } from './outcomes.js';

/** Lines read concurrently per chunk sent: enough to keep the disk busy, few enough to keep memory flat. */
const LINES_PER_CHUNK = 256;

/**
 * A results file streamed with its lines in a seeded random order (the `shuffleResults` fault). The real API does
 * not guarantee result order, so a client that relies on it, or resumes a cut-off download by skipping the lines it
 * already has, must fail here. Memory: one offset per line (8 bytes) and one index per line (4 bytes), about 1.2 MB
 * for 100,000 lines; the lines themselves are read from disk as they are sent.
 */
export function shuffledResults(file: string, seed: (string | number)[]): Readable {
  return Readable.from(shuffledChunks(file, seed), { objectMode: false });
}

async function* shuffledChunks(file: string, seed: (string | number)[]): AsyncGenerator<Buffer> {
  const starts = await lineStarts(file);
  const lineCount = starts.length - 1;
  const order = permutation(lineCount, seed);
  const handle = await open(file, 'r');
  try {
    for (let i = 0; i < lineCount; i += LINES_PER_CHUNK) {
      const lines = Array.from(order.subarray(i, i + LINES_PER_CHUNK), (line) =>
        readLine(handle, starts[line]!, starts[line + 1]!),
      );
      yield Buffer.concat(await Promise.all(lines));
    }
  } finally {
    await handle.close();
  }
}

/** Byte offset of the start of every line, then the file's size (so line i is [starts[i], starts[i+1])). */
async function lineStarts(file: string): Promise<Float64Array> {
  let starts = new Float64Array(1024);
  let count = 1; // starts[0] = 0
  let offset = 0;
  const push = (at: number) => {
    if (count === starts.length) {
      const grown = new Float64Array(starts.length * 2);
      grown.set(starts);
      starts = grown;
    }
    starts[count++] = at;
  };
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, nl + 1)) push(offset + nl + 1);
    offset += chunk.length;
  }
  // A last line without a newline still counts; an empty file has no lines.
  if (starts[count - 1] !== offset) push(offset);
  return starts.subarray(0, count);
}

async function readLine(handle: FileHandle, start: number, end: number): Promise<Buffer> {
  const buffer = Buffer.alloc(end - start);
  for (let filled = 0; filled < buffer.length;) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
    if (bytesRead === 0) throw new Error('results file shrank while it was being sent');
    filled += bytesRead;
  }
  // Every line goes out newline-terminated, also one that was last in the file without one.
  return buffer.at(-1) === 10 ? buffer : Buffer.concat([buffer, Buffer.from('\n')]);
}

/** Fisher–Yates over 0..n-1 with a PRNG seeded from `seed` (mulberry32: fast for 100,000 draws). */
export function permutation(n: number, seed: (string | number)[]): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let state = Math.floor(uniform(...seed) * 0x1_0000_0000);
  const next = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const swap = order[i]!;
    order[i] = order[j]!;
    order[j] = swap;
  }
  return order;
}
