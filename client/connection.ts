import { Client, Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { UserError } from './cli-errors.js';
import { CODEC_KEYS_ENV, codecFromEnv, withCodec } from '../worker/payload-codec.js';
import { temporalSettingsFromEnv, type TemporalSettings } from '../worker/connection-settings.js';
import { commandName } from './command-name.js';

/**
 * Temporal connection settings the way Temporal's own tools read them (a config profile overridden by
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS…; see `temporalSettingsFromEnv`, which the
 * worker uses too), with a config file or profile that cannot be read reported as a user error.
 */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  try {
    return temporalSettingsFromEnv(env);
  } catch (err) {
    // envconfig's messages name the profile or the file, never a key.
    throw new UserError(
      `cannot read the Temporal connection settings: ${(err as Error).message}`,
      'check TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE and the certificate paths of that profile (or TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH)',
    );
  }
}

function unreachable(address: string, err: unknown): UserError {
  return new UserError(
    `cannot reach the Temporal server at ${address} (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
    `start one with \`${commandName()} dev\`, or set TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (or a Temporal config profile)`,
  );
}

/**
 * The CLI encrypts what it sends (job input, signals) and decrypts what it reads (results, queries, memos) with the
 * workers' keys, when CLAUDE_BATCH_CODEC_KEYS is set here too.
 */
export function clientCodec(env: NodeJS.ProcessEnv = process.env) {
  try {
    return codecFromEnv(env);
  } catch (err) {
    throw new UserError(
      (err as Error).message,
      `${CODEC_KEYS_ENV} must be the workers' value: <id>:<base64 of 32 bytes>, comma-separated, newest first`,
    );
  }
}

export async function connectClient(): Promise<Client> {
  const { connectionOptions, namespace } = temporalSettings();
  const codec = clientCodec();
  try {
    const connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' } as Parameters<
      typeof Connection.connect
    >[0]);
    return new Client({ connection, namespace, ...withCodec(codec) });
  } catch (err) {
    throw unreachable(connectionOptions.address, err);
  }
}

/** The worker's native connection, and the settings it was made from (for the worker's own client checks). */
export async function connectNative(): Promise<{
  connection: NativeConnection;
  namespace: string;
  address: string;
  connectionOptions: TemporalSettings['connectionOptions'];
}> {
  const { connectionOptions, namespace } = temporalSettings();
  try {
    return {
      // Loaded here, not at the top: only `worker` needs it, and it takes most of a second to load.
      connection: await (await import('@temporalio/worker')).NativeConnection.connect(connectionOptions),
      namespace,
      address: connectionOptions.address,
      connectionOptions,
    };
  } catch (err) {
    throw unreachable(connectionOptions.address, err);
  }
}
