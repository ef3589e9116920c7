import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { BlobStore } from '../storage/blob-store.js';

/** Lines of a stream (any line ending), read lazily. */
export function lines(input: Readable): AsyncIterable<string> {
  return createInterface({ input, crlfDelay: Infinity });
}

/** Writes respecting backpressure. */
export async function writeLine(out: Writable, line: string): Promise<void> {
  if (!out.write(line + '\n')) await once(out, 'drain');
}

/** A user's line longer than the limit: reading on would hold it all in memory. */
export class LineTooLongError extends Error {
  constructor(
    readonly lineNo: number,
    readonly maxBytes: number,
  ) {
    super(`line ${lineNo} is longer than ${maxBytes.toLocaleString('en-US')} bytes (the most one batch can hold)`);
  }
}

/**
 * Lines of a user's file: a UTF-8 byte order mark is dropped (editors on Windows write one), CRLF is accepted, and
 * a line longer than `maxLineBytes` fails the read with `LineTooLongError` instead of filling the worker's memory.
 */
export async function* userLines(input: Readable, maxLineBytes: number): AsyncGenerator<string> {
  for await (const block of userLineBlocks(input, maxLineBytes)) yield* block;
}

/**
 * `userLines`, the lines of each block read at once: a job's pass awaits once per block, not once per line (every
 * promise costs, more so under an activity's AsyncLocalStorage). The lines are those readline gives — a line ends
 * at LF, CRLF or a lone CR — found by scanning the bytes for LF (which no UTF-8 sequence contains), so that a
 * line's length is known in bytes without measuring it again.
 */
export async function* userLineBlocks(input: Readable, maxLineBytes: number): AsyncGenerator<string[]> {
  const split = new LineSplitter(maxLineBytes);
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const block = split.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (block.length > 0) yield block;
  }
  const last = split.end();
  if (last.length > 0) yield last;
}

/** Splits a user's bytes into lines, as readline does (crlfDelay: Infinity), guarding each line's length. */
class LineSplitter {
  /** The line begun in earlier chunks, and its bytes so far. */
  private carry: Buffer[] = [];
  private carried = 0;
  private lineNo = 1;
  private first = true;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer): string[] {
    const out: string[] = [];
    let from = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
      this.guard(nl - from);
      const text =
        this.carried === 0
          ? chunk.toString('utf8', from, nl)
          : Buffer.concat([...this.carry, chunk.subarray(from, nl)]).toString('utf8');
      this.carry = [];
      this.carried = 0;
      this.lineNo++;
      from = nl + 1;
      this.emit(text, out);
    }
    if (from < chunk.length) {
      this.guard(chunk.length - from);
      this.carry.push(chunk.subarray(from));
      this.carried += chunk.length - from;
    }
    return out;
  }

  /** The last line, when the file does not end with a line break. */
  end(): string[] {
    const out: string[] = [];
    // As readline: an incomplete UTF-8 sequence at the very end is left out (its decoder is never flushed).
    const text = this.carried > 0 ? new StringDecoder('utf8').write(Buffer.concat(this.carry)) : '';
    if (text !== '') this.emit(text, out);
    this.carry = [];
    this.carried = 0;
    return out;
  }

  private guard(more: number): void {
    if (this.carried + more > this.maxLineBytes) throw new LineTooLongError(this.lineNo, this.maxLineBytes);
  }

  /** The lines of text up to a LF (or the end): CR before the LF is part of the break, any other CR ends a line. */
  private emit(text: string, out: string[]): void {
    if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
    if (this.first) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (text.indexOf('\r') === -1) out.push(text);
    else out.push(...text.split('\r'));
  }
}

/**
 * Writes lines to a stream that must never take the process down: a write stream failing with no 'error' listener
 * is an uncaught exception, so the first error is recorded here and thrown by the next `line()` or `close()`.
 * `close()` and `discard()` resolve only once the file is closed, so the file can then be moved or removed safely
 * (removing it while the stream is still opening or writing would let it reappear).
 */
export class LineWriter {
  private failure: Error | null = null;
  private readonly closed: Promise<void>;

  constructor(readonly stream: Writable) {
    stream.on('error', (err: Error) => {
      this.failure ??= err;
    });
    this.closed = stream.closed ? Promise.resolve() : new Promise((resolve) => stream.once('close', () => resolve()));
  }

  /** The stream's first error, if it had one. */
  get error(): Error | null {
    return this.failure;
  }

  /** Writes one line, respecting backpressure. */
  async line(text: string): Promise<void> {
    this.throwIfFailed();
    if (this.stream.destroyed) throw new Error('write stream was closed');
    if (this.stream.write(text + '\n')) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('close', done);
    });
    this.throwIfFailed();
  }

  /** Flushes and closes; throws the stream's error if it had one. */
  async close(): Promise<void> {
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
    await this.closed;
    this.throwIfFailed();
  }

  /** Closes without caring about what was written (before removing the file); never throws. */
  async discard(): Promise<void> {
    this.stream.destroy();
    await this.closed;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

/**
 * Writes lines to `uri` as one atomic file: committed once all are written, aborted (nothing visible) if writing
 * or producing them fails. `onLine` runs after each line (a heartbeat, a tally).
 */
export async function writeLines(
  store: BlobStore,
  uri: string,
  source: Iterable<string> | AsyncIterable<string>,
  onLine?: (line: string) => void | Promise<void>,
): Promise<void> {
  const file = await store.write(uri);
  const out = new LineWriter(file.stream);
  try {
    for await (const line of source) {
      await out.line(line);
      await onLine?.(line);
    }
    await out.close();
  } catch (err) {
    await out.discard();
    await file.abort();
    throw err;
  }
  await file.commit();
}
