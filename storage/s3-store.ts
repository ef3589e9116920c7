import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import type { AtomicWrite, BlobStore, EntryInfo } from './blob-store.js';
import { atomicUpload, type UploadSizes } from './s3-upload.js';
import { formatS3Uri, parseS3Uri, within, type S3Location } from './s3-uri.js';

/** CopyObject copies at most 5 GiB in one request; larger objects are copied as a streamed upload. */
const MAX_COPY_BYTES = 5 * 1024 ** 3;

const DEFAULT_SIZES: UploadSizes = { partSize: 8 * 1024 * 1024, queueSize: 2 };

interface SdkError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}
const statusOf = (err: unknown) => (err as SdkError | null)?.$metadata?.httpStatusCode;
const nameOf = (err: unknown) => (err as SdkError | null)?.name;
const isAbsent = (err: unknown) =>
  ['NoSuchKey', 'NotFound', 'NoSuchBucket'].includes(nameOf(err) ?? '') || statusOf(err) === 404;

/**
 * The S3 errors a retry cannot heal, as the error codes the file store's errors have (ENOENT, EACCES), so that
 * callers (shared/io-failures, `exists` checks) treat both stores alike. Anything else (throttling, 5xx, a reset
 * connection) is passed on as it is, and retried.
 */
function asIoError(err: unknown, uri: string): unknown {
  if (isAbsent(err))
    return Object.assign(new Error(`${uri} does not exist (${nameOf(err) ?? 404})`), { code: 'ENOENT', cause: err });
  if (nameOf(err) === 'AccessDenied' || statusOf(err) === 403)
    return Object.assign(new Error(`${uri}: access denied by S3`), { code: 'EACCES', cause: err });
  return err;
}

/**
 * Objects in S3 (or any S3-compatible server) as a `BlobStore`: `s3://bucket/key`, where a "folder" is a key
 * prefix ending in `/`. Only locations under its roots (bucket, or bucket/prefix) are touched. Writes are
 * streamed multipart uploads completed at `commit()`; reads stream, from an offset with a ranged GET.
 */
export class S3Store implements BlobStore {
  private readonly roots: S3Location[];

  constructor(
    private readonly client: S3Client,
    roots: string[],
    private readonly sizes: UploadSizes = DEFAULT_SIZES,
  ) {
    this.roots = roots.map((r) => parseS3Uri(r));
  }

  resolve(uri: string): string {
    return formatS3Uri(this.locate(uri));
  }

  read(uri: string, options: { start?: number } = {}): Readable {
    const loc = this.locate(uri);
    const { client } = this;
    const start = options.start ?? 0;
    // A Readable at once (callers pipe it synchronously); the GET is sent when it is first read.
    async function* chunks(): AsyncGenerator<Buffer> {
      // `bytes=0-` of an empty object is a 416: from the start, no range is asked.
      const res = await client
        .send(
          new GetObjectCommand({
            Bucket: loc.bucket,
            Key: loc.key,
            ...(start > 0 ? { Range: `bytes=${start}-` } : {}),
          }),
        )
        .catch((err: unknown) => {
          throw asIoError(err, uri);
        });
      const body = res.Body as Readable | undefined;
      if (!body) return;
      try {
        for await (const chunk of body) yield chunk as Buffer;
      } finally {
        body.destroy(); // a reader that stops early (preflight reads one byte) frees the connection
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  async write(uri: string): Promise<AtomicWrite> {
    return atomicUpload(this.client, this.object(uri), this.sizes);
  }

  async exists(uri: string): Promise<boolean> {
    return (await this.inspect(uri)) !== null;
  }

  async readText(uri: string): Promise<string> {
    const loc = this.object(uri);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
      return (await res.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      throw asIoError(err, uri);
    }
  }

  async inspect(uri: string): Promise<EntryInfo | null> {
    const loc = this.locate(uri);
    const canonical = formatS3Uri(loc);
    if (loc.key) {
      try {
        const head = await this.client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
        return { kind: 'file', size: head.ContentLength ?? 0, identity: canonical };
      } catch (err) {
        if (!isAbsent(err)) throw asIoError(err, uri);
      }
    }
    // No object: a folder if any key lies under it (the bucket itself is one if it exists).
    try {
      const prefix = loc.key ? `${loc.key}/` : '';
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: prefix, MaxKeys: 1 }));
      if (loc.key === '' || (res.KeyCount ?? res.Contents?.length ?? 0) > 0)
        return { kind: 'directory', size: 0, identity: `${canonical}/` };
      return null;
    } catch (err) {
      if (isAbsent(err)) return null;
      throw asIoError(err, uri);
    }
  }

  /**
   * S3 has no folders to create, so only the bucket must exist and let us in (HeadBucket). Whether this worker may
   * PUT there is not knowable without writing something; a refused write fails the job's write (EACCES, final).
   */
  async unwritable(uri: string): Promise<string | null> {
    const loc = this.locate(uri);
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: loc.bucket }));
      return null;
    } catch (err) {
      if (isAbsent(err)) return `no folder of ${uri} exists: there is no bucket ${loc.bucket}`;
      if (nameOf(err) === 'AccessDenied' || statusOf(err) === 403)
        return `the worker may not use bucket ${loc.bucket} (access denied)`;
      throw err;
    }
  }

  /** Keys are normalised when parsed, and S3 has no links: the resolved URI is the canonical one. */
  canonical(uri: string): string {
    return this.resolve(uri);
  }

  async size(uri: string): Promise<number> {
    const loc = this.object(uri);
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }))).ContentLength ?? 0;
    } catch (err) {
      throw asIoError(err, uri);
    }
  }

  async readJson<T>(uri: string): Promise<T> {
    return JSON.parse(await this.readText(uri)) as T;
  }

  /** One PUT: S3 shows an object whole or not at all. */
  async writeJson(uri: string, value: unknown): Promise<void> {
    const loc = this.object(uri);
    await this.client
      .send(
        new PutObjectCommand({
          Bucket: loc.bucket,
          Key: loc.key,
          Body: JSON.stringify(value, null, 2),
          ContentType: 'application/json',
        }),
      )
      .catch((err: unknown) => {
        throw asIoError(err, uri);
      });
  }

  /**
   * A conditional PUT (`If-None-Match: *`): S3 creates the object only if no object has the key, atomically. 412
   * means one existed; 409 (ConditionalRequestConflict) that another create of it is under way — someone else's.
   */
  async createExclusive(uri: string, content: string): Promise<boolean> {
    const loc = this.object(uri);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: loc.bucket, Key: loc.key, Body: content, IfNoneMatch: '*' }),
      );
      return true;
    } catch (err) {
      const status = statusOf(err);
      if (
        status === 412 ||
        status === 409 ||
        ['PreconditionFailed', 'ConditionalRequestConflict'].includes(nameOf(err) ?? '')
      )
        return false;
      throw asIoError(err, uri);
    }
  }

  /** The object, and every object under it as a folder. */
  async remove(uri: string): Promise<void> {
    const loc = this.locate(uri);
    if (loc.key)
      await this.client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: loc.key })).catch(ignoreAbsent);
    for await (const keys of this.keysUnder(loc)) {
      if (keys.length === 0) continue;
      const res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: loc.bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = res.Errors?.[0];
      if (failed)
        throw new Error(
          `could not remove s3://${loc.bucket}/${failed.Key ?? '?'}: ${failed.Code ?? ''} ${failed.Message ?? ''}`,
        );
    }
  }

  /** S3 cannot rename: a server-side copy, then the delete. */
  async move(from: string, to: string): Promise<void> {
    const src = this.object(from);
    const dst = this.object(to);
    if ((await this.size(from)) <= MAX_COPY_BYTES)
      await this.client
        .send(
          new CopyObjectCommand({
            Bucket: dst.bucket,
            Key: dst.key,
            CopySource: `${src.bucket}/${src.key.split('/').map(encodeURIComponent).join('/')}`,
          }),
        )
        .catch((err: unknown) => {
          throw asIoError(err, from);
        });
    else {
      const out = await this.write(to);
      try {
        await pipeline(this.read(from), out.stream);
      } catch (err) {
        await out.abort();
        throw err;
      }
      await out.commit();
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: src.bucket, Key: src.key }));
  }

  async list(uri: string): Promise<string[]> {
    const loc = this.locate(uri);
    const prefix = loc.key ? `${loc.key}/` : '';
    const names: string[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
        );
        for (const p of res.CommonPrefixes ?? []) if (p.Prefix) names.push(p.Prefix.slice(prefix.length, -1));
        for (const o of res.Contents ?? []) if (o.Key && o.Key !== prefix) names.push(o.Key.slice(prefix.length));
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      if (isAbsent(err)) return [];
      throw asIoError(err, uri);
    }
    return names.filter(Boolean);
  }

  join(uri: string, ...parts: string[]): string {
    const loc = this.locate(uri);
    return formatS3Uri({ bucket: loc.bucket, key: path.posix.join(loc.key, ...parts) });
  }

  /** Every key under a folder, a page (≤ 1000, what one DeleteObjects takes) at a time. */
  private async *keysUnder(loc: S3Location): AsyncGenerator<string[]> {
    let token: string | undefined;
    do {
      const res = await this.client
        .send(
          new ListObjectsV2Command({
            Bucket: loc.bucket,
            Prefix: loc.key ? `${loc.key}/` : '',
            ContinuationToken: token,
          }),
        )
        .catch((err: unknown) => {
          if (isAbsent(err)) return null;
          throw err;
        });
      if (!res) return;
      yield (res.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  /** An object's location: a key is needed (the bucket itself is no file). */
  private object(uri: string): S3Location {
    const loc = this.locate(uri);
    if (!loc.key) throw ApplicationFailure.nonRetryable(`${uri} names a bucket, not an object in it`, 'StorageBadUri');
    return loc;
  }

  private locate(uri: string): S3Location {
    const loc = parseS3Uri(uri);
    if (!this.roots.some((root) => within(loc, root)))
      throw ApplicationFailure.nonRetryable(
        `${formatS3Uri(loc)} is outside the worker's allowed roots${this.roots.length ? ` (${this.roots.map(formatS3Uri).join(', ')})` : ''}; allow it with CLAUDE_BATCH_STORAGE or an s3:// entry in CLAUDE_BATCH_ALLOWED_ROOTS`,
        'StorageAccessDenied',
      );
    return loc;
  }
}

function ignoreAbsent(err: unknown): void {
  if (!isAbsent(err)) throw err;
}
