import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { countS3Traffic } from './s3-traffic.js';

/**
 * Where the S3 API is, for S3-compatible servers (MinIO, R2, the GCS XML API, moto). Credentials are never part of
 * it: the SDK's default chain finds them (environment, profile, SSO, container or instance role), so they appear in
 * no config object, log line or error of ours.
 */
export interface S3Settings {
  /** `S3_ENDPOINT`, else `AWS_ENDPOINT_URL_S3`; unset: AWS itself. */
  endpoint?: string | undefined;
  /** Buckets as a path (`host/bucket/key`) instead of a host name: what most S3-compatible servers need. */
  forcePathStyle: boolean;
  /** `AWS_REGION`; unset: the SDK's chain (profile), or us-east-1 with an endpoint (which ignores it mostly). */
  region?: string | undefined;
}

const truthy = (v: string) => /^(1|true|yes|on)$/i.test(v.trim());

export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const endpoint = env.S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || undefined;
  return {
    endpoint,
    forcePathStyle: env.S3_FORCE_PATH_STYLE ? truthy(env.S3_FORCE_PATH_STYLE) : endpoint !== undefined,
    region: env.AWS_REGION || (endpoint ? 'us-east-1' : undefined),
  };
}

/** A client whose requests and bytes are counted (storage/s3-traffic.ts): every S3 client of ours is made here. */
export function s3Client(settings: S3Settings, extra: Partial<S3ClientConfig> = {}): S3Client {
  const client = new S3Client({
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.region ? { region: settings.region } : {}),
    forcePathStyle: settings.forcePathStyle,
    // Other servers than AWS often reject the SDK's newer default checksums (CRC32 trailers on every upload):
    // send them only where an operation requires one. AWS_REQUEST_CHECKSUM_CALCULATION still overrides this.
    ...(settings.endpoint && !process.env.AWS_REQUEST_CHECKSUM_CALCULATION
      ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const }
      : {}),
    // Our activities retry through Temporal; the SDK's own few retries absorb a throttled or reset request.
    maxAttempts: 3,
    ...extra,
  });
  countS3Traffic(client);
  return client;
}
