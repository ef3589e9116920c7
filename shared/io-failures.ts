/**
 * Which errors of reading a job's files are final. A retry cannot make a missing file appear, a folder become a
 * file or a refused permission change by itself, so those fail the job at once with a clear message; a flaky disk
 * or network file system (EIO, ESTALE, EMFILE, ENOSPC…) can heal, so those are left to Temporal's retries.
 */

const PERMANENT: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'has a file where a folder is expected in its path',
  EISDIR: 'is a folder, not a file',
  EACCES: 'cannot be read or written by the worker (permission denied)',
  EPERM: 'cannot be read or written by the worker (operation not permitted)',
  ELOOP: 'is a loop of symbolic links',
  ENAMETOOLONG: 'has a name that is too long',
  EINVAL: 'is not a valid path',
};

export interface IoFailure {
  retryable: boolean;
  /** The failure type (ApplicationFailure type) for a final one. */
  type: string;
  message: string;
}

/** How an error met while reading or writing `what` (e.g. "input /data/x.jsonl") should end the attempt. */
export function classifyIoError(err: unknown, what: string): IoFailure {
  if (err instanceof RangeError)
    // A call stack or string too big: the same data does it again on every attempt.
    return { retryable: false, type: 'InputTooComplex', message: `${what} could not be processed: ${err.message}` };
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in PERMANENT)
    return { retryable: false, type: `Input${code}`, message: `${what} ${PERMANENT[code]} (${code})` };
  return { retryable: true, type: 'IoError', message: `${what}: ${err instanceof Error ? err.message : String(err)}` };
}
