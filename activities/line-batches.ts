import { StringDecoder } from 'node:string_decoder';

/**
 * The lines of a stream of our own files (chunks, results, parts: "\n"-terminated JSON lines), handed out as the
 * lines of each block read. A per-line async iterator costs a promise per line, and every promise of an activity
 * pays for its async context: at a million lines that is seconds of CPU. Blank lines are left out; a "\r" before
 * the "\n" is dropped. With `terminatedOnly`, what follows the last newline (the half line a dying writer left
 * behind) is not yielded.
 */
export async function* lineBatches(
  input: AsyncIterable<Buffer | Uint8Array | string>,
  options: { terminatedOnly?: boolean; onHalfLine?: () => void } = {},
): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const block of input) {
    const text = rest + (typeof block === 'string' ? block : decoder.write(toBuffer(block)));
    const parts = text.split('\n');
    rest = parts.pop()!;
    const batch = cleaned(parts);
    if (batch.length > 0) yield batch;
  }
  rest += decoder.end();
  if (rest !== '') options.onHalfLine?.();
  if (!options.terminatedOnly && rest !== '') {
    const batch = cleaned([rest]);
    if (batch.length > 0) yield batch;
  }
}

function cleaned(parts: string[]): string[] {
  let blank = false;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.endsWith('\r')) parts[i] = p.slice(0, -1);
    if (parts[i] === '') blank = true;
  }
  return blank ? parts.filter((p) => p !== '') : parts;
}

const toBuffer = (b: Buffer | Uint8Array) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));

/**
 * The custom_id of a line we wrote or the API sent (`{"custom_id":"…",…}`), read without parsing the rest of the
 * line; null when the line does not start that way (then parse it). The API's custom_ids match
 * ^[a-zA-Z0-9_-]{1,64}$, so the first quote after the opening one ends the id — anything else is parsed in full.
 * The id is a string of its own (not a view of the line), so sets of ids hold only the ids.
 */
export function leadingCustomId(line: string): string | null {
  if (!line.startsWith(CUSTOM_ID_PREFIX)) return null;
  const end = line.indexOf('"', CUSTOM_ID_PREFIX.length);
  if (end === -1 || line.charCodeAt(end + 1) !== COMMA) return null;
  const id = line.slice(CUSTOM_ID_PREFIX.length, end);
  if (id.includes('\\')) return null;
  // A slice of a line is a view of the whole block of text it was split from: an id kept in a set would keep the
  // block alive (a chunk's ids, the whole chunk file). Parsed as a JSON string, it is a string of its own.
  return JSON.parse(`"${id}"`) as string;
}

/** How a line we wrote (or the API sent) starts: its custom_id first. */
export const CUSTOM_ID_PREFIX = '{"custom_id":"';
const COMMA = 44;

/** A line's custom_id, read fast when it leads the line and parsed in full otherwise (null when there is none). */
export function customIdOfLine(line: string): string | null {
  const fast = leadingCustomId(line);
  if (fast !== null) return fast;
  try {
    const parsed = JSON.parse(line) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return null;
    const id = (parsed as { custom_id?: unknown }).custom_id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}
