import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Transform, type Readable, type Writable } from 'node:stream';
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
  let run = 0;
  let lineNo = 1;
  const guard = new Transform({
    transform(chunk: Buffer, _enc, done) {
      for (let from = 0; ;) {
        const nl = chunk.indexOf(10, from);
        run += (nl === -1 ? chunk.length : nl) - from;
        if (run > maxLineBytes) return done(new LineTooLongError(lineNo, maxLineBytes));
        if (nl === -1) break;
        run = 0;
        lineNo++;
        from = nl + 1;
      }
      done(null, chunk);
    },
  });
  input.on('error', (err) => guard.destroy(err));
  let first = true;
  for await (const line of lines(input.pipe(guard))) {
    yield first && line.charCodeAt(0) === 0xfeff ? line.slice(1) : line;
    first = false;
  }
}

/**
 * The lines of a stream that end in "\n", each with its size in bytes (newline included). What follows the last
 * newline — the half line a dying writer left behind — is not yielded, and the sizes tell where to truncate.
 */
export async function* terminatedLines(input: Readable): AsyncGenerator<{ line: string; bytes: number }> {
  let carry: Buffer[] = [];
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let from = 0;
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, from)) {
      const piece = carry.length > 0 ? Buffer.concat([...carry, buf.subarray(from, nl)]) : buf.subarray(from, nl);
      carry = [];
      from = nl + 1;
      yield { line: piece.toString('utf8'), bytes: piece.length + 1 };
    }
    if (from < buf.length) carry.push(buf.subarray(from));
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
