import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnection } from '@temporalio/worker';
import { UserError } from './cli-errors.js';
import { CODEC_KEYS_ENV, codecFromEnv, withCodec } from '../worker/payload-codec.js';
import { commandName } from './command-name.js';

/**
 * Temporal connection settings the way Temporal's own tools read them: a profile of the config file
 * (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS… — so Temporal Cloud users need nothing new.
 */
export function temporalSettings() {
  const { connectionOptions, namespace } = loadClientConnectConfig();
  return {
    connectionOptions: { ...connectionOptions, address: connectionOptions.address ?? 'localhost:7233' },
    namespace: namespace ?? 'default',
  };
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

export async function connectNative(): Promise<{ connection: NativeConnection; namespace: string; address: string }> {
  const { connectionOptions, namespace } = temporalSettings();
  try {
    return {
      // Loaded here, not at the top: only `worker` needs it, and it takes most of a second to load.
      connection: await (await import('@temporalio/worker')).NativeConnection.connect(connectionOptions),
      namespace,
      address: connectionOptions.address,
    };
  } catch (err) {
    throw unreachable(connectionOptions.address, err);
  }
}
