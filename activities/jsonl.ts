import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Transform, type Readable, type Writable } from 'node:stream';

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
