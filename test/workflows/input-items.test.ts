import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { inputItems, type InputItem } from '../../activities/input-items.js';
import { TemplateSchema } from '../../shared/job-input.js';

const template = (t: Record<string, unknown> = {}) => TemplateSchema.parse(t);

async function read(text: string, format: 'batch' | 'lines' | 'csv', t = template()): Promise<InputItem[]> {
  const items: InputItem[] = [];
  for await (const item of inputItems(Readable.from([text]), format, t)) items.push(item);
  return items;
}

const userText = (item: InputItem) =>
  (item as { value: { params: { messages: { content: string }[] } } }).value.params.messages[0]!.content;

describe('inputItems: batch JSONL, lines and CSV, streamed', () => {
  it('lines: one request per non-blank line, ids from the line number, prompt filled in', async () => {
    const items = await read(
      'great\n\nawful\r\n',
      'lines',
      template({ prompt: 'Rate: {item}', model: 'claude-sonnet-4-5' }),
    );
    assert.deepEqual(
      items.map((i) => [i.lineNo, (i as { value: { custom_id: string } }).value.custom_id, userText(i)]),
      [
        [1, 'item-0000001', 'Rate: great'],
        [3, 'item-0000003', 'Rate: awful'],
      ],
    );
    const params = (items[0] as { value: { params: Record<string, unknown> } }).value.params;
    assert.equal(params.model, 'claude-sonnet-4-5');
    assert.equal(params.max_tokens, 1024);
  });

  it('csv: quoted fields with commas and newlines, {item} = the chosen column, ids from a column', async () => {
    const csv = 'id,text,lang\nr1,"Bad, very bad",en\nr2,"two\nlines",de\n';
    const items = await read(csv, 'csv', template({ prompt: '[{lang}] {item}', column: 'text', idColumn: 'id' }));
    assert.deepEqual(
      items.map((i) => [(i as { value: { custom_id: string } }).value.custom_id, userText(i)]),
      [
        ['r1', '[en] Bad, very bad'],
        ['r2', '[de] two\nlines'],
      ],
    );
  });

  it('csv: a malformed row is reported with its line, the others still come through', async () => {
    const csv = 'id,text\nr1,fine\nr2,too,many,fields\nr3,also fine\n';
    const items = await read(csv, 'csv', template({ idColumn: 'id' }));
    const bad = items.filter((i): i is { lineNo: number; unreadable: string } => 'unreadable' in i);
    assert.equal(bad.length, 1);
    assert.equal(bad[0]!.lineNo, 3);
    assert.match(bad[0]!.unreadable, /not valid CSV/);
    assert.equal(items.length - bad.length, 2);
  });

  it('csv: a template naming a column the header lacks fails the job with the columns there are', async () => {
    await assert.rejects(read('id,text\nr1,x\n', 'csv', template({ prompt: '{body}' })), (err: Error) => {
      assert.match(err.message, /template\.prompt uses \{body\}, which is not a CSV column\. The header has: id, text/);
      return true;
    });
  });

  it('batch: template defaults fill only what a line leaves out; bad JSON is reported by line', async () => {
    const lines = [
      JSON.stringify({ custom_id: 'a', params: { messages: [{ role: 'user', content: 'hi' }] } }),
      '{not json',
      JSON.stringify({ custom_id: 'b', params: { model: 'claude-opus-4-1', max_tokens: 5, messages: [] } }),
    ].join('\n');
    const items = await read(lines, 'batch', template({ model: 'claude-haiku-4-5', maxTokens: 50 }));
    const params = (i: InputItem) => (i as { value: { params: Record<string, unknown> } }).value.params;
    assert.equal(params(items[0]!).model, 'claude-haiku-4-5');
    assert.equal(params(items[0]!).max_tokens, 50);
    assert.match((items[1] as { unreadable: string }).unreadable, /not valid JSON/);
    assert.equal(params(items[2]!).model, 'claude-opus-4-1');
    assert.equal(params(items[2]!).max_tokens, 5);
  });
});
