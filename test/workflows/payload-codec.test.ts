import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { inspect } from 'node:util';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchJob } from '../../workflows/index.js';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  KEY_ID_METADATA,
  parseCodecKeys,
  withCodec,
} from '../../worker/payload-codec.js';
import { WorkerConfigSchema } from '../../worker/config.js';
import { startTestEmulator, type EmulatorHarness } from '../helpers/emulator.js';
import { jobDir, readOutput, writeJobInput } from '../helpers/jobs.js';
import { spawnCli, runCli, type Spawned } from '../helpers/processes.js';
import { cliEnvFor, runTestWorker, startDevServer, testWorkerConfig } from '../helpers/temporal.js';

const b64key = () => randomBytes(32).toString('base64');
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const jsonPayload = (value: unknown): Payload => ({
  metadata: { encoding: Buffer.from('json/plain') },
  data: Buffer.from(JSON.stringify(value)),
});

describe('payload codec (AES-256-GCM)', () => {
  const k1 = b64key();
  const k2 = b64key();

  it('round-trips a payload, hiding its data and its original encoding', async () => {
    const codec = new EncryptionCodec(parseCodecKeys(`k1:${k1}`));
    const original = jsonPayload({ input: '/secret/path/requests.jsonl' });
    const [sealed] = await codec.encode([original]);
    assert.equal(text(sealed!.metadata!.encoding), ENCRYPTED_ENCODING);
    assert.equal(text(sealed!.metadata![KEY_ID_METADATA]), 'k1');
    assert.deepEqual(Object.keys(sealed!.metadata!).sort(), ['encoding', KEY_ID_METADATA].sort());
    assert.ok(!text(sealed!.data).includes('secret'), 'the ciphertext shows nothing of the plaintext');
    const [again] = await codec.encode([original]);
    assert.notDeepEqual(again!.data, sealed!.data, 'a fresh IV every time');
    const [opened] = await codec.decode([sealed!]);
    assert.equal(text(opened!.metadata!.encoding), 'json/plain');
    assert.deepEqual(JSON.parse(text(opened!.data)), { input: '/secret/path/requests.jsonl' });
  });

  it('leaves payloads that are not encrypted as they are (histories from before encryption still read)', async () => {
    const codec = new EncryptionCodec(parseCodecKeys(`k1:${k1}`));
    const plain = jsonPayload(42);
    const [out] = await codec.decode([plain]);
    assert.equal(out, plain);
  });

  it('rotates keys by id: the first key encrypts, every key decrypts', async () => {
    const old = new EncryptionCodec(parseCodecKeys(`k1:${k1}`));
    const [byK1] = await old.encode([jsonPayload('before rotation')]);
    const rotated = new EncryptionCodec(parseCodecKeys(`k2:${k2}, k1:${k1}`));
    const [opened] = await rotated.decode([byK1!]);
    assert.equal(JSON.parse(text(opened!.data)), 'before rotation');
    const [byK2] = await rotated.encode([jsonPayload('after rotation')]);
    assert.equal(text(byK2!.metadata![KEY_ID_METADATA]), 'k2');
    await assert.rejects(
      old.decode([byK2!]),
      /encrypted with key "k2", which CLAUDE_BATCH_CODEC_KEYS lacks \(it has k1\)/,
    );
  });

  it('fails on the wrong key material, an altered payload or a swapped key id', async () => {
    const codec = new EncryptionCodec(parseCodecKeys(`k1:${k1}`));
    const [sealed] = await codec.encode([jsonPayload('x')]);
    const impostor = new EncryptionCodec(parseCodecKeys(`k1:${k2}`));
    await assert.rejects(impostor.decode([sealed!]), /key "k1" does not decrypt/);
    const altered = Buffer.from(sealed!.data!);
    altered[20] = altered[20]! ^ 1;
    await assert.rejects(codec.decode([{ ...sealed!, data: altered }]), /does not decrypt/);
    // The id is bound to the ciphertext: relabelling a payload for another key the reader has does not work.
    const both = new EncryptionCodec(parseCodecKeys(`k2:${k1},k1:${k1}`));
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } };
    await assert.rejects(both.decode([relabelled]), /does not decrypt/);
  });

  it('refuses bad key settings without echoing key material, and never shows keys when inspected', () => {
    const short = randomBytes(16).toString('base64');
    for (const [spec, message] of [
      [`k1:${short}`, /key k1 is 16 bytes; AES-256 needs 32/],
      [`k1:${k1},k1:${k2}`, /key id k1 appears twice/],
      [k1, /entry 1 is not <key id>:<base64 key>/],
      ['', /names no key/],
    ] as const) {
      assert.throws(() => parseCodecKeys(spec), message);
      try {
        parseCodecKeys(spec);
      } catch (err) {
        for (const secret of [short, k1, k2]) assert.ok(!String(err).includes(secret), 'no key in the message');
      }
    }
    const parsed = WorkerConfigSchema.safeParse({
      anthropicApiKey: 'x',
      dataDir: '/d',
      allowedRoots: [],
      webhookAllowlist: [],
      codecKeys: `k1:${short}`,
    });
    assert.equal(parsed.success, false);
    assert.ok(!JSON.stringify(parsed.error).includes(short), "the worker's config error names no key");
    const codec = new EncryptionCodec(parseCodecKeys(`k1:${k1}`));
    const shown = inspect(codec, { showHidden: true, depth: 5 }) + JSON.stringify(codec);
    assert.ok(!shown.includes(k1) && !shown.includes(Buffer.from(k1, 'base64').toString('hex')), shown);
  });
});

/** Every payload in a history event tree, with what holds it (search attributes are not encoded, by design). */
function payloadsOf(node: unknown, where = '', out: { where: string; p: Payload }[] = []) {
  if (!node || typeof node !== 'object' || node instanceof Uint8Array) return out;
  const o = node as Record<string, unknown>;
  if (o.data instanceof Uint8Array && o.metadata && typeof o.metadata === 'object') {
    out.push({ where, p: o as Payload });
    return out;
  }
  for (const [k, v] of Object.entries(o)) payloadsOf(v, where ? `${where}.${k}` : k, out);
  return out;
}

const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

describe('encrypted jobs on a Temporal dev server, read back through the codec server', () => {
  let env: TestWorkflowEnvironment;
  let em: EmulatorHarness;
  let worker: { stop(): Promise<void> } | undefined;
  let codecServer: Spawned | undefined;
  const keys = `k2:${b64key()},k1:${b64key()}`;
  const token = randomBytes(24).toString('hex');
  const uiOrigin = 'http://127.0.0.1:8233';

  before(async () => {
    env = await startDevServer();
    em = await startTestEmulator();
    worker = await runTestWorker(env, testWorkerConfig(em.url, { codecKeys: keys, taskQueue: 'codec-test' }));
  });
  after(async () => {
    await codecServer?.kill();
    await worker?.stop();
    await em?.close();
    await env?.teardown();
  });

  it('keeps input, result and every other payload ciphertext in history; the codec server decrypts them', async () => {
    const codec = new EncryptionCodec(parseCodecKeys(keys));
    const client = new Client({ connection: env.connection, namespace: 'default', ...withCodec(codec) });
    const dir = jobDir();
    const input = writeJobInput(dir, 5, 'enc');
    const output = path.join(dir, 'out.jsonl');
    const handle = await client.workflow.start(batchJob, {
      taskQueue: 'codec-test',
      workflowId: 'encrypted-job',
      args: [{ input, output, poll: { initial: '1s', max: '2s' } } as never],
    });
    const result = await handle.result();
    assert.equal(result.lines, 5, 'the worker decrypted its input and ran the job');
    assert.equal(readOutput(output).length, 5);

    // A client without the codec, like the server, the UI or `temporal workflow show` without a codec endpoint.
    const plain = env.client.workflow.getHandle('encrypted-job');
    const history = await plain.fetchHistory();
    const child = await env.client.workflow.getHandle('encrypted-job/r0-c0001').fetchHistory();
    const all = [...payloadsOf(history.events, 'job'), ...payloadsOf(child.events, 'chunk')];
    // Not through the codec, by Temporal's design: search attributes (the server indexes them) and patch markers
    // (the SDK's core writes the patch id, a name from our code, itself).
    const encrypted = all.filter(({ where }) => !/searchAttributes|patch-data/.test(where));
    assert.ok(encrypted.length >= 10, `payloads found in history: ${encrypted.length}`);
    for (const { where, p } of encrypted) {
      assert.equal(text(p.metadata!.encoding), ENCRYPTED_ENCODING, where);
      assert.equal(text(p.metadata![KEY_ID_METADATA]), 'k2', where);
    }
    for (const { where, p } of all) assert.ok(!text(p.data).includes(dir), `${where} shows the job's folder`);
    await assert.rejects(plain.result(), 'without the codec the result cannot be read');

    const started = history.events!.find((e) => e.workflowExecutionStartedEventAttributes)!;
    const completed = history.events!.find((e) => e.workflowExecutionCompletedEventAttributes)!;
    const inputPayload = started.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const resultPayload = completed.workflowExecutionCompletedEventAttributes!.result!.payloads![0]!;

    codecServer = spawnCli(['codec-server', '--port', '0'], {
      CLAUDE_BATCH_CODEC_KEYS: keys,
      CLAUDE_BATCH_CODEC_AUTH: token,
      CLAUDE_BATCH_CODEC_CORS_ORIGINS: uiOrigin,
    });
    const url = (await codecServer.waitFor(/listening on (http:\/\/\S+)/))[1]!;
    assert.ok(!codecServer.output().includes(token), 'the token is not printed');
    const body = JSON.stringify({ payloads: [toJson(inputPayload), toJson(resultPayload)] });
    const post = (route: string, headers: Record<string, string>, b = body) =>
      fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b });

    const decoded = await post('/default/decode', { authorization: `Bearer ${token}`, 'x-namespace': 'default' });
    assert.equal(decoded.status, 200);
    const { payloads } = (await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    const [inp, res] = payloads.map((p) => ({
      encoding: Buffer.from(p.metadata.encoding!, 'base64').toString(),
      value: JSON.parse(Buffer.from(p.data, 'base64').toString()) as Record<string, unknown>,
    }));
    assert.equal(inp!.encoding, 'json/plain');
    assert.equal(inp!.value.input, input, 'the decrypted input names the input file');
    assert.equal(res!.value.lines, 5);
    assert.equal(
      decoded.headers.get('access-control-allow-origin'),
      null,
      'no CORS headers for a caller without Origin',
    );

    // encode then decode through the server gives back what went in.
    const encoded = await post(
      '/encode',
      { authorization: `Bearer ${token}` },
      JSON.stringify({ payloads: [toJson(jsonPayload('hi'))] }),
    );
    const sealed = ((await encoded.json()) as { payloads: unknown[] }).payloads;
    assert.equal(
      Buffer.from((sealed[0] as { metadata: Record<string, string> }).metadata.encoding!, 'base64').toString(),
      ENCRYPTED_ENCODING,
    );
    const reopened = await post('/decode', { authorization: `Bearer ${token}` }, JSON.stringify({ payloads: sealed }));
    const back = ((await reopened.json()) as { payloads: { data: string }[] }).payloads[0]!;
    assert.equal(JSON.parse(Buffer.from(back.data, 'base64').toString()), 'hi');

    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: token }] as Record<
      string,
      string
    >[]) {
      const refused = await post('/default/decode', headers);
      assert.equal(refused.status, 401, JSON.stringify(headers));
      assert.ok(!(await refused.text()).includes('enc-'), 'nothing decoded');
    }
    const garbage = await post(
      '/decode',
      { authorization: `Bearer ${token}` },
      JSON.stringify({
        payloads: [
          {
            metadata: {
              encoding: Buffer.from(ENCRYPTED_ENCODING).toString('base64'),
              [KEY_ID_METADATA]: Buffer.from('k9').toString('base64'),
            },
            data: 'AAAA',
          },
        ],
      }),
    );
    assert.equal(garbage.status, 400);
    assert.match(((await garbage.json()) as { message: string }).message, /key "k9"/);

    const preflight = await fetch(`${url}/default/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: uiOrigin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,x-namespace',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), uiOrigin);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['x-namespace', 'authorization', 'content-type']) assert.ok(allowed.includes(h), allowed);
    const fromUi = await post('/decode', { authorization: `Bearer ${token}`, origin: uiOrigin });
    assert.equal(fromUi.headers.get('access-control-allow-origin'), uiOrigin);
    const stranger = await fetch(`${url}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
    assert.equal(stranger.headers.get('access-control-allow-origin'), null, 'other origins get no CORS grant');

    // The web UI sends no token of ours: a person who holds it signs in once, and the browser's cookie goes along
    // with the UI's codec calls ("include credentials").
    assert.match(await (await fetch(`${url}/login`)).text(), /<form method="post"/);
    const signIn = (t: string) =>
      fetch(`${url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: t }).toString(),
      });
    const wrong = await signIn('not-the-token');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    const signedIn = await signIn(token);
    assert.equal(signedIn.status, 200);
    const cookie = signedIn.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const viaCookie = await post('/default/decode', { cookie: cookie.split(';')[0]!, origin: uiOrigin });
    assert.equal(viaCookie.status, 200);
    assert.equal(viaCookie.headers.get('access-control-allow-credentials'), 'true');
    const badCookie = await post('/default/decode', { cookie: 'claude_batch_codec=forged', origin: uiOrigin });
    assert.equal(badCookie.status, 401);
  });

  it('lets the CLI read an encrypted job with the keys, and says which setting it lacks without them', async () => {
    const cli = cliEnvFor(env, 'codec-test');
    const withKeys = await runCli(['status', 'encrypted-job'], { ...cli, CLAUDE_BATCH_CODEC_KEYS: keys });
    assert.equal(withKeys.code, 0, withKeys.output);
    assert.match(withKeys.output, /completed/);
    assert.match(withKeys.output, /input\.jsonl/, 'the decrypted status names the input');
    const without = await runCli(['status', 'encrypted-job'], { ...cli, CLAUDE_BATCH_CODEC_KEYS: '' });
    assert.equal(without.code, 2, without.output);
    assert.match(without.output, /^error: the job's data in Temporal is encrypted/m);
    assert.match(without.output, /^hint: set CLAUDE_BATCH_CODEC_KEYS/m);
  });

  it('will not serve without a token off loopback, nor without keys', async () => {
    const noAuth = await runCli(['codec-server', '--port', '0', '--host', '0.0.0.0'], {
      CLAUDE_BATCH_CODEC_KEYS: keys,
      CLAUDE_BATCH_CODEC_AUTH: '',
    });
    assert.equal(noAuth.code, 2, noAuth.output);
    assert.match(noAuth.output, /CLAUDE_BATCH_CODEC_AUTH is not set/);
    const noKeys = await runCli(['codec-server', '--port', '0'], {
      CLAUDE_BATCH_CODEC_KEYS: '',
      CLAUDE_BATCH_CODEC_AUTH: token,
    });
    assert.equal(noKeys.code, 2, noKeys.output);
    assert.match(noKeys.output, /CLAUDE_BATCH_CODEC_KEYS is not set/);
  });
});
