import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { LineTooLongError, userLineBlocks, userLines } from '../../activities/jsonl.js';

/** What userLines gave when it was readline over the stream (crlfDelay: Infinity), its first line's BOM dropped. */
async function readlineLines(chunks: Buffer[]): Promise<string[]> {
  const out: string[] = [];
  for await (const line of createInterface({ input: Readable.from(chunks), crlfDelay: Infinity }))
    out.push(out.length === 0 && line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);
  return out;
}

async function collect(chunks: (Buffer | string)[], max = 1_000_000): Promise<string[]> {
  const out: string[] = [];
  for await (const line of userLines(Readable.from(chunks), max)) out.push(line);
  return out;
}

/** Random bytes from pieces that make line breaks and UTF-8 hard: CR, LF, BOMs, multi-byte and broken sequences. */
function randomInput(random: () => number): Buffer {
  const pieces = [
    'a',
    'xyz',
    '\n',
    '\r',
    '\r\n',
    '\ufeff',
    'é',
    '€',
    '😀',
    ' ',
    '{"k":1}',
    Buffer.from([0xe2]),
    Buffer.from([0xe2, 0x82]),
    Buffer.from([0xff]),
    Buffer.from([0xf0, 0x9f]),
  ].map((p) => (typeof p === 'string' ? Buffer.from(p) : p));
  const n = Math.floor(random() * 40);
  return Buffer.concat(Array.from({ length: n }, () => pieces[Math.floor(random() * pieces.length)]!));
}

/** Cuts bytes into chunks at random places (inside a CRLF or a UTF-8 sequence too). */
function randomChunks(bytes: Buffer, random: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = 1 + Math.floor(random() * 8);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

describe('userLines: the lines readline gives, a block at a time', () => {
  it('the same lines as readline, for random bytes cut into random chunks', async () => {
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    for (let round = 0; round < 3000; round++) {
      const bytes = randomInput(random);
      const chunks = randomChunks(bytes, random);
      assert.deepEqual(await collect(chunks), await readlineLines(chunks), JSON.stringify(bytes.toString('latin1')));
    }
  });

  it('lone CR, CRLF across chunks, an incomplete last character, string chunks', async () => {
    assert.deepEqual(await collect([Buffer.from('a\r\r\nb\rc\r')]), ['a', '', 'b', 'c']);
    assert.deepEqual(await collect([Buffer.from('ab\r'), Buffer.from('\ncd\r'), Buffer.from('ef')]), [
      'ab',
      'cd',
      'ef',
    ]);
    assert.deepEqual(await collect([Buffer.from('{"a":1}\n{"b":2}'), Buffer.from([0xe2])]), ['{"a":1}', '{"b":2}']);
    assert.deepEqual(await collect([Buffer.from([0x61, 0xe2]), Buffer.from([0x82, 0xac, 0x0a])]), ['a€']);
    assert.deepEqual(await collect(['x\ny\n', 'z']), ['x', 'y', 'z']);
    assert.deepEqual(await collect([Buffer.from('a\n\n')]), ['a', '']);
  });

  it('blocks: each read gives its complete lines at once', async () => {
    const blocks: string[][] = [];
    const source = Readable.from([Buffer.from('a\nb\nc'), Buffer.from('d\ne\n'), Buffer.from('f')]);
    for await (const block of userLineBlocks(source, 100)) blocks.push(block);
    assert.deepEqual(blocks, [['a', 'b'], ['cd', 'e'], ['f']]);
  });

  it('a line longer than the limit fails with its number, in any chunk', async () => {
    const long = [Buffer.from('ok\nshort\r\n'), Buffer.from('y'.repeat(60)), Buffer.from('y'.repeat(41) + '\n')];
    await assert.rejects(collect(long, 100), (err: unknown) => err instanceof LineTooLongError && err.lineNo === 3);
    assert.deepEqual(
      (await collect([Buffer.from('z'.repeat(60)), Buffer.from('z'.repeat(40) + '\nok')], 100)).map((l) => l.length),
      [100, 2],
    );
    await assert.rejects(
      collect([Buffer.from('a\n' + 'b'.repeat(101))], 100),
      (err: unknown) => err instanceof LineTooLongError && err.lineNo === 2,
    );
  });
});
