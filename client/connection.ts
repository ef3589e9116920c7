import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnection } from '@temporalio/worker';
import { UserError } from './cli-errors.js';
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

export async function connectClient(): Promise<Client> {
  const { connectionOptions, namespace } = temporalSettings();
  try {
    const connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' } as Parameters<
      typeof Connection.connect
    >[0]);
    return new Client({ connection, namespace });
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
