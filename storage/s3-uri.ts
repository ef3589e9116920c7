import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';

/** An object (or a "folder": a key prefix) in a bucket. `key` has no leading or trailing slash; "" is the bucket. */
export interface S3Location {
  bucket: string;
  key: string;
}

export const isS3Uri = (uri: string) => /^s3:\/\//i.test(uri);

// S3's rule for bucket names (lowercase letters, digits, dots, hyphens), widened to what GCS also allows (underscores,
// up to 222 characters): the server has the last word.
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

/**
 * Parses `s3://bucket/key`. The key is normalised as a POSIX path (`a//b/../c` → `a/c`), so that one object has
 * one URI and `..` cannot climb out of an allowed prefix; a key that would climb above the bucket is refused.
 */
export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(uri);
  const bucket = m?.[1] ?? '';
  if (!BUCKET.test(bucket))
    throw ApplicationFailure.nonRetryable(
      `${uri}: not an s3://bucket/key URI with a valid bucket name`,
      'StorageBadUri',
    );
  const raw = (m?.[2] ?? '').replace(/^\/+/, '');
  const normal = raw ? path.posix.normalize(raw) : '.';
  if (normal === '..' || normal.startsWith('../'))
    throw ApplicationFailure.nonRetryable(`${uri}: the key climbs above the bucket`, 'StorageBadUri');
  return { bucket, key: normal === '.' ? '' : normal.replace(/\/+$/, '') };
}

export const formatS3Uri = ({ bucket, key }: S3Location) => (key ? `s3://${bucket}/${key}` : `s3://${bucket}`);

/** Whether `loc` is `root` or lies under it (`s3://b/jobs` holds `s3://b/jobs/x`, not `s3://b/jobs2`). */
export function within(loc: S3Location, root: S3Location): boolean {
  if (loc.bucket !== root.bucket) return false;
  return root.key === '' || loc.key === root.key || loc.key.startsWith(`${root.key}/`);
}
