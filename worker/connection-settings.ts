import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

export interface TemporalSettings {
  /** What `Connection.connect` (client) and `NativeConnection.connect` (worker) are given, address always set. */
  connectionOptions: NativeConnectionOptions & { address: string };
  namespace: string;
}

/**
 * Temporal connection settings the way Temporal's own tools read them (`@temporalio/envconfig`): a profile of the
 * TOML config file (TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE, else
 * `default`), overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS,
 * TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH (or _DATA), TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME
 * and TEMPORAL_GRPC_META_*. An API key turns TLS on by itself, so Temporal Cloud needs nothing of ours.
 *
 * One function for the CLI and the worker (here, below client/, which must not be imported from worker/), so the
 * two cannot read the same environment differently. It reads the config file and the certificate files it names,
 * and nothing else.
 */
export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const { connectionOptions, namespace } = loadClientConnectConfig({
    // envconfig wants a plain string map; the process environment's values may be undefined.
    overrideEnvVars: Object.fromEntries(
      Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'),
    ),
  });
  return {
    connectionOptions: { ...connectionOptions, address: connectionOptions.address ?? 'localhost:7233' },
    namespace: namespace ?? 'default',
  };
}
