import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import protobuf from 'protobufjs';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';

/** The env var both the worker and the CLI read the keys from. */
export const CODEC_KEYS_ENV = 'CLAUDE_BATCH_CODEC_KEYS';
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export interface CodecKey {
  id: string;
  key: Buffer;
}

/**
 * Temporal's own Payload message, defined here rather than imported from @temporalio/proto (not a dependency of
 * ours): the same wire bytes, so what is encrypted is the whole original payload, its encoding metadata included.
 */
const PayloadMessage = new protobuf.Type('Payload')
  .add(new protobuf.MapField('metadata', 1, 'string', 'bytes'))
  .add(new protobuf.Field('data', 2, 'bytes'));
new protobuf.Root().define('temporal.api.common.v1').add(PayloadMessage);

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

/**
 * `k2:<base64>,k1:<base64>`: the first key encrypts, every key decrypts, so a new key goes first and old ones stay
 * until no history needs them. Errors name entries and ids, never key material.
 */
export function parseCodecKeys(spec: string): CodecKey[] {
  const entries = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error(`${CODEC_KEYS_ENV} names no key`);
  const keys: CodecKey[] = [];
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const id = entry.slice(0, colon);
    const b64 = entry.slice(colon + 1);
    if (colon <= 0 || !/^[A-Za-z0-9._-]+$/.test(id) || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64))
      throw new Error(`${CODEC_KEYS_ENV}: entry ${i + 1} is not <key id>:<base64 key>`);
    const key = Buffer.from(b64, 'base64');
    if (key.length !== KEY_BYTES)
      throw new Error(`${CODEC_KEYS_ENV}: key ${id} is ${key.length} bytes; AES-256 needs ${KEY_BYTES}`);
    if (keys.some((k) => k.id === id)) throw new Error(`${CODEC_KEYS_ENV}: key id ${id} appears twice`);
    keys.push({ id, key });
  });
  return keys;
}

/**
 * AES-256-GCM over each whole payload. The key id rides in clear metadata (and is bound as additional data, so it
 * cannot be swapped); payloads not marked encrypted pass through, so histories from before encryption still read.
 */
export class EncryptionCodec implements PayloadCodec {
  // Private fields: the keys stay out of util.inspect, console.log and JSON of the codec.
  readonly #current: CodecKey;
  readonly #keys: ReadonlyMap<string, Buffer>;

  constructor(keys: CodecKey[]) {
    const [current] = keys;
    if (!current) throw new Error('an encryption codec needs at least one key');
    this.#current = current;
    this.#keys = new Map(keys.map((k) => [k.id, k.key]));
  }

  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.#encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.#decrypt(p));
  }

  #encrypt(payload: Payload): Payload {
    const { id, key } = this.#current;
    const plain = PayloadMessage.encode({ metadata: payload.metadata ?? {}, data: payload.data ?? new Uint8Array() });
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(utf8(id));
    const sealed = Buffer.concat([cipher.update(plain.finish()), cipher.final()]);
    return {
      metadata: { [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(id) },
      data: Buffer.concat([iv, sealed, cipher.getAuthTag()]),
    };
  }

  #decrypt(payload: Payload): Payload {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const id = text(payload.metadata?.[KEY_ID_METADATA]) ?? '';
    const key = this.#keys.get(id);
    if (!key)
      throw new Error(
        `a payload is encrypted with key ${JSON.stringify(id)}, which ${CODEC_KEYS_ENV} lacks (it has ${this.keyIds.join(', ')})`,
      );
    const data = Buffer.from(payload.data ?? new Uint8Array());
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(utf8(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      const decoded = PayloadMessage.decode(plain) as unknown as Payload;
      return { metadata: decoded.metadata ?? {}, data: decoded.data ?? new Uint8Array() };
    } catch {
      throw new Error(
        `a payload encrypted with key ${JSON.stringify(id)} does not decrypt: that id has other key material here, or the payload was altered`,
      );
    }
  }
}

/** The codec from CLAUDE_BATCH_CODEC_KEYS; none when it is unset (payloads then go to Temporal as plain JSON). */
export function codecFromEnv(env: NodeJS.ProcessEnv = process.env): EncryptionCodec | undefined {
  const spec = env[CODEC_KEYS_ENV];
  return spec ? new EncryptionCodec(parseCodecKeys(spec)) : undefined;
}

/** What to spread into Client and Worker options: a data converter only when there is a codec. */
export function withCodec(codec: PayloadCodec | undefined): { dataConverter?: { payloadCodecs: PayloadCodec[] } } {
  return codec ? { dataConverter: { payloadCodecs: [codec] } } : {};
}
