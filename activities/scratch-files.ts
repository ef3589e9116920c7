import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lines } from './jsonl.js';

/**
 * Scratch files on the worker's own disk (never the blob store, which may be S3): what an activity spills to keep
 * its memory flat, written in large blocks, read back in order, and removed with their folder when it is done.
 */

/** A fresh folder under the worker's temp dir (or `base`); the caller removes it with `removeScratch`. */
export async function makeScratchDir(name: string, base?: string): Promise<string> {
  return mkdtemp(path.join(base ?? tmpdir(), `claude-batch-${name}-`));
}

export async function removeScratch(dir: string | null): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

const BLOCK = 64 * 1024;

/** ASCII lines appended to a local file, one write per ~64 KB. */
export class TextSpill {
  private parts: string[] = [];
  private pending = 0;
  /** Lines added so far. */
  count = 0;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(file: string): Promise<TextSpill> {
    return new TextSpill(file, await open(file, 'w'));
  }

  /** Returns a promise only when the block had to be written (await it before the next add). */
  add(line: string): Promise<void> | undefined {
    this.parts.push(line);
    this.pending += line.length + 1;
    this.count++;
    return this.pending >= BLOCK ? this.flush() : undefined;
  }

  /** Flushes and closes (again: nothing). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.handle.close();
    }
  }

  private async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = this.parts.join('\n') + '\n';
    this.parts = [];
    this.pending = 0;
    await this.handle.write(text, null, 'latin1');
  }
}

/** The lines of an ASCII scratch file, in order. */
export function readTextSpill(file: string): AsyncIterable<string> {
  return lines(createReadStream(file, { highWaterMark: BLOCK }));
}

const PER_BLOCK = BLOCK / 8;

/** Numbers (float64, so any line number fits) appended to a local file, one write per 64 KB. */
export class NumberSpill {
  private readonly block = new Float64Array(PER_BLOCK);
  private filled = 0;
  /** Numbers added so far. */
  count = 0;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(file: string): Promise<NumberSpill> {
    return new NumberSpill(file, await open(file, 'w'));
  }

  async add(value: number): Promise<void> {
    this.block[this.filled++] = value;
    this.count++;
    if (this.filled === PER_BLOCK) await this.flush();
  }

  /** Flushes and closes (again: nothing). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.handle.close();
    }
  }

  private async flush(): Promise<void> {
    if (this.filled === 0) return;
    await this.handle.write(new Uint8Array(this.block.buffer, 0, this.filled * 8));
    this.filled = 0;
  }
}

/** The numbers of a `NumberSpill` file, in order. */
export async function* readNumberSpill(file: string): AsyncGenerator<number> {
  const handle = await open(file, 'r');
  try {
    const block = new Float64Array(PER_BLOCK);
    const bytes = new Uint8Array(block.buffer);
    let have = 0;
    for (;;) {
      const { bytesRead } = await handle.read(bytes, have, BLOCK - have, null);
      if (bytesRead === 0) break;
      have += bytesRead;
      const whole = Math.floor(have / 8);
      for (let i = 0; i < whole; i++) yield block[i]!;
      const rest = have - whole * 8;
      if (rest > 0) bytes.copyWithin(0, whole * 8, have);
      have = rest;
    }
    if (have !== 0) throw new Error(`${file}: ${have} stray bytes at the end`);
  } finally {
    await handle.close();
  }
}

/** `count` numbers of a `NumberSpill` file from the `from`-th one. */
export async function readNumbersAt(file: string, from: number, count: number): Promise<Float64Array> {
  const out = new Float64Array(count);
  const bytes = new Uint8Array(out.buffer);
  const handle = await open(file, 'r');
  try {
    for (let done = 0; done < bytes.length;) {
      const { bytesRead } = await handle.read(bytes, done, bytes.length - done, from * 8 + done);
      if (bytesRead === 0) throw new Error(`${file}: ends before number ${from + count}`);
      done += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return out;
}
