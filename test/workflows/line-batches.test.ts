import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { customIdOfLine, leadingCustomId, lineBatches } from '../../activities/line-batches.js';
import { createBody } from '../../activities/submit.js';

async function all(blocks: (string | Buffer)[], options?: Parameters<typeof lineBatches>[1]): Promise<string[]> {
  const out: string[] = [];
  async function* source() {
    for (const b of blocks) yield typeof b === 'string' ? Buffer.from(b) : b;
  }
  for await (const batch of lineBatches(source(), options)) {
    assert.ok(batch.length > 0, 'no empty batch is handed out');
    out.push(...batch);
  }
  return out;
}

describe('lineBatches: the lines of our own files, a block at a time', () => {
  it('joins lines split across blocks, also inside a multi-byte character', async () => {
    const text = Buffer.from('{"a":"é€"}\n{"b":"😀"}\n');
    const cuts = [3, 8, 9, 14, 17];
    const blocks = [0, ...cuts].map((from, i) => text.subarray(from, cuts[i] ?? text.length));
    assert.deepEqual(await all(blocks), ['{"a":"é€"}', '{"b":"😀"}']);
  });

  it('drops blank lines and the "\\r" of CRLF', async () => {
    assert.deepEqual(await all(['a\r\n\nb\n', '\r\nc']), ['a', 'b', 'c']);
  });

  it('with terminatedOnly, leaves out the half line a dying writer left, and says so', async () => {
    let half = 0;
    const lines = await all(['x\ny\nhal', 'f'], { terminatedOnly: true, onHalfLine: () => half++ });
    assert.deepEqual(lines, ['x', 'y']);
    assert.equal(half, 1);
    half = 0;
    assert.deepEqual(await all(['x\n'], { terminatedOnly: true, onHalfLine: () => half++ }), ['x']);
    assert.equal(half, 0);
  });
});

describe("leadingCustomId: a line's custom_id without parsing the rest", () => {
  it('reads the id that leads a line as we and the API write it', () => {
    assert.equal(leadingCustomId('{"custom_id":"req-1_A","result":{"type":"succeeded"}}'), 'req-1_A');
    assert.equal(customIdOfLine('{"custom_id":"req-1","params":{}}'), 'req-1');
  });

  it('leaves anything else to a full parse', () => {
    assert.equal(leadingCustomId('{"result":{},"custom_id":"late"}'), null);
    assert.equal(customIdOfLine('{"result":{},"custom_id":"late"}'), 'late');
    assert.equal(leadingCustomId('{"custom_id":"a\\"b","x":1}'), null);
    assert.equal(customIdOfLine('{"custom_id":"a\\"b","x":1}'), 'a"b');
    assert.equal(leadingCustomId('{"custom_id":"ab"}'), null, 'an id not followed by a comma is parsed');
    assert.equal(customIdOfLine('{"custom_id":"ab"}'), 'ab');
    assert.equal(customIdOfLine('{"custom_id":7}'), null);
    assert.equal(customIdOfLine('not json'), null);
  });
});

describe('createBody: the create request streamed from a chunk file as bytes', () => {
  const bodyOf = async (blocks: string[]) => {
    const store = { read: () => Readable.from(blocks.map((b) => Buffer.from(b))) };
    const parts: Buffer[] = [];
    for await (const part of createBody({ store } as never, { uri: 'chunk' } as never)) parts.push(Buffer.from(part));
    return Buffer.concat(parts).toString('utf8');
  };

  it('is the lines as a JSON array, however the file is cut into blocks', async () => {
    const lines = ['{"custom_id":"a","params":{"x":"é"}}', '{"custom_id":"b","params":{}}', '{"custom_id":"c"}'];
    const file = lines.map((l) => l + '\n').join('');
    const want = { requests: lines.map((l) => JSON.parse(l) as unknown) };
    for (const cuts of [[], [1], [file.length - 1], [5, 37, 38, 60], [...file].map((_, i) => i + 1)]) {
      const blocks = [0, ...cuts].map((from, i) => file.slice(from, cuts[i] ?? file.length)).filter((b) => b !== '');
      assert.deepEqual(JSON.parse(await bodyOf(blocks)), want, `cut at ${cuts.join(',')}`);
    }
  });

  it('an empty chunk is an empty list', async () => {
    assert.equal(await bodyOf([]), '{"requests":[]}');
  });
});
