import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../config/load.js';
import { temporalSettings } from '../../client/connection.js';
import { UserError } from '../../client/cli-errors.js';
import { temporalSettingsFromEnv } from '../../worker/connection-settings.js';
import { runCli } from '../helpers/processes.js';

process.env.CLAUDE_BATCH_COMMAND = 'claude-batch';

/** A home with no ~/.config/temporalio/temporal.toml, so only what a test sets reaches the settings. */
const emptyHome = () => mkdtempSync(path.join(tmpdir(), 'cb-home-'));

interface TlsOptions {
  serverNameOverride?: string;
  serverRootCACertificate?: Uint8Array;
  clientCertPair?: { crt: Uint8Array; key: Uint8Array };
}

// Temporal Cloud settings as they reach `Connection.connect` / `NativeConnection.connect`. The certificates need not
// be valid: the settings only carry their bytes (the TLS handshake, not tested here, would check them).
describe('Temporal Cloud connection settings (client and worker)', () => {
  const API_KEY = 'tmprl-test-api-key-5f0c9e1d-do-not-print';

  it('an API key: address, namespace and key from the environment, TLS on by itself', () => {
    const { connectionOptions, namespace } = temporalSettingsFromEnv({
      HOME: emptyHome(),
      TEMPORAL_ADDRESS: 'prod.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'prod.a1b2c',
      TEMPORAL_API_KEY: API_KEY,
    });
    assert.equal(connectionOptions.address, 'prod.a1b2c.tmprl.cloud:7233');
    assert.equal(namespace, 'prod.a1b2c');
    assert.equal(connectionOptions.apiKey, API_KEY);
    assert.equal(connectionOptions.tls, true, 'an API key without TLS settings connects over TLS');
  });

  it('mTLS from a TOML profile: client cert and key bytes, CA and server name; the environment overrides it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cb-mtls-'));
    const cert = Buffer.from('-----BEGIN CERTIFICATE-----\nY2xpZW50IGNlcnQ=\n-----END CERTIFICATE-----\n');
    const key = Buffer.from('-----BEGIN PRIVATE KEY-----\nY2xpZW50IGtleQ==\n-----END PRIVATE KEY-----\n');
    const ca = Buffer.from('-----BEGIN CERTIFICATE-----\nY2EgY2VydA==\n-----END CERTIFICATE-----\n');
    writeFileSync(path.join(dir, 'client.pem'), cert);
    writeFileSync(path.join(dir, 'client.key'), key);
    writeFileSync(path.join(dir, 'ca.pem'), ca);
    const config = path.join(dir, 'temporal.toml');
    writeFileSync(
      config,
      [
        '[profile.default]',
        'address = "localhost:7233"',
        '',
        '[profile.cloud]',
        'address = "prod.a1b2c.tmprl.cloud:7233"',
        'namespace = "prod.a1b2c"',
        '[profile.cloud.tls]',
        `client_cert_path = ${JSON.stringify(path.join(dir, 'client.pem'))}`,
        `client_key_path = ${JSON.stringify(path.join(dir, 'client.key'))}`,
        `server_ca_cert_path = ${JSON.stringify(path.join(dir, 'ca.pem'))}`,
        'server_name = "prod.a1b2c.tmprl.cloud"',
        '',
      ].join('\n'),
    );
    const env = { HOME: emptyHome(), TEMPORAL_CONFIG_FILE: config, TEMPORAL_PROFILE: 'cloud' };

    const { connectionOptions, namespace } = temporalSettingsFromEnv(env);
    assert.equal(connectionOptions.address, 'prod.a1b2c.tmprl.cloud:7233');
    assert.equal(namespace, 'prod.a1b2c');
    assert.equal(connectionOptions.apiKey, undefined);
    const tls = connectionOptions.tls as TlsOptions;
    assert.equal(typeof tls, 'object', 'TLS is on, with the profile’s settings');
    assert.deepEqual(Buffer.from(tls.clientCertPair!.crt), cert);
    assert.deepEqual(Buffer.from(tls.clientCertPair!.key), key);
    assert.deepEqual(Buffer.from(tls.serverRootCACertificate!), ca);
    assert.equal(tls.serverNameOverride, 'prod.a1b2c.tmprl.cloud');

    // The same file without TEMPORAL_PROFILE is its `default` profile: plain, local.
    const local = temporalSettingsFromEnv({ HOME: env.HOME, TEMPORAL_CONFIG_FILE: config });
    assert.equal(local.connectionOptions.address, 'localhost:7233');
    assert.equal(local.connectionOptions.tls, undefined);

    // Environment variables win over the profile, field by field.
    const overridden = temporalSettingsFromEnv({ ...env, TEMPORAL_NAMESPACE: 'staging.a1b2c' });
    assert.equal(overridden.namespace, 'staging.a1b2c');
    assert.equal(overridden.connectionOptions.address, 'prod.a1b2c.tmprl.cloud:7233');
  });

  it('mTLS from environment variables alone', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cb-mtls-env-'));
    writeFileSync(path.join(dir, 'c.pem'), 'cert bytes');
    writeFileSync(path.join(dir, 'c.key'), 'key bytes');
    const { connectionOptions } = temporalSettingsFromEnv({
      HOME: emptyHome(),
      TEMPORAL_ADDRESS: 'prod.a1b2c.tmprl.cloud:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'c.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'c.key'),
    });
    const tls = connectionOptions.tls as TlsOptions;
    assert.equal(Buffer.from(tls.clientCertPair!.crt).toString(), 'cert bytes');
    assert.equal(Buffer.from(tls.clientCertPair!.key).toString(), 'key bytes');
    assert.equal(tls.serverNameOverride, undefined);
  });

  it('nothing set: the local server, namespace default, no TLS', () => {
    const { connectionOptions, namespace } = temporalSettingsFromEnv({ HOME: emptyHome() });
    assert.equal(connectionOptions.address, 'localhost:7233');
    assert.equal(namespace, 'default');
    assert.equal(connectionOptions.tls, undefined);
    assert.equal(connectionOptions.apiKey, undefined);
  });

  it('the CLI reads the same settings the worker does, and reports an unreadable profile as a user error', () => {
    const env = {
      HOME: emptyHome(),
      TEMPORAL_ADDRESS: 'prod.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'prod.a1b2c',
      TEMPORAL_API_KEY: API_KEY,
    };
    assert.deepEqual(temporalSettings(env), temporalSettingsFromEnv(env));
    const config = path.join(mkdtempSync(path.join(tmpdir(), 'cb-toml-')), 'temporal.toml');
    writeFileSync(config, '[profile.default]\naddress = "localhost:7233"\n');
    assert.throws(
      () => temporalSettings({ ...env, TEMPORAL_CONFIG_FILE: config, TEMPORAL_PROFILE: 'nope' }),
      (err: unknown) =>
        err instanceof UserError && /Profile 'nope' not found/.test(err.message) && !err.message.includes(API_KEY),
    );
  });

  it('worker/ reaches these settings without importing client/ (the lower layer)', () => {
    for (const file of readdirSync(path.join(packageRoot, 'worker')).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(path.join(packageRoot, 'worker', file), 'utf8');
      assert.doesNotMatch(source, /from '\.\.\/client\/connection\.js'/, `worker/${file}`);
    }
  });

  it('the API key never appears in what the CLI prints', async () => {
    const env = {
      HOME: emptyHome(),
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      TEMPORAL_NAMESPACE: 'prod.a1b2c',
      TEMPORAL_API_KEY: API_KEY,
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:1',
    };
    const doctor = await runCli(['doctor'], { ...env, ANTHROPIC_API_KEY: '' });
    assert.equal(doctor.code, 1, doctor.output);
    assert.match(doctor.output, /FAIL\s+Temporal server\s+127\.0\.0\.1:1 \(namespace prod\.a1b2c\)/);
    const worker = await runCli(['worker'], { ...env, ANTHROPIC_API_KEY: 'sk-ant-test' });
    assert.equal(worker.code, 2, worker.output);
    assert.match(worker.output, /error: cannot reach the Temporal server at 127\.0\.0\.1:1/);
    const badProfile = await runCli(['status', 'some-job'], { ...env, TEMPORAL_PROFILE: 'missing' });
    assert.match(badProfile.output, /error: cannot read the Temporal connection settings: Profile 'missing'/);
    for (const r of [doctor, worker, badProfile]) {
      assert.ok(!r.output.includes(API_KEY), r.output);
      assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
    }
  });
});
