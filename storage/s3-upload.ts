import { PassThrough, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { AtomicWrite } from './blob-store.js';
import type { S3Location } from './s3-uri.js';

export interface UploadSizes {
  /** Bytes per multipart part (S3's minimum is 5 MiB; at most 10,000 parts make one object). */
  partSize: number;
  /** Parts in flight at once. Memory per write is about (queueSize + 1) × partSize, whatever the object's size. */
  queueSize: number;
}

/**
 * A streamed upload that becomes visible only at `commit()`. The SDK's `Upload` completes an object as soon as its
 * body ends, so the body it reads is not the stream we hand out: ending ours (as `LineWriter.close()` does before
 * `commit()`) only finishes it, and the body is ended by `commit()` alone. Until then the data sits in parts of a
 * multipart upload that no reader can see; `abort()` (or any failure) aborts it. A worker killed mid-write leaves
 * an incomplete multipart upload, invisible and removed by the bucket's lifecycle rule (see the README).
 */
export function atomicUpload(client: S3Client, to: S3Location, sizes: UploadSizes): AtomicWrite {
  const body = new PassThrough();
  const upload = new Upload({
    client,
    params: { Bucket: to.bucket, Key: to.key, Body: body },
    partSize: sizes.partSize,
    queueSize: sizes.queueSize,
    leavePartsOnError: false,
  });
  let failure: Error | null = null;
  const fail = (err: Error) => {
    failure ??= err;
    // Stops the SDK reading (its part loop then aborts the multipart upload) and fails writes waiting for drain.
    body.destroy(failure);
    stream.destroy(failure);
  };

  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (failure) return callback(failure);
      if (body.write(chunk)) return callback();
      // Backpressure from the SDK, which reads a part only when one of its uploads has room.
      const onDrain = () => {
        body.off('close', onClose);
        callback();
      };
      const onClose = () => {
        body.off('drain', onDrain);
        callback(failure ?? new Error(`the upload of s3://${to.bucket}/${to.key} stopped`));
      };
      body.once('drain', onDrain);
      body.once('close', onClose);
    },
    final(callback) {
      callback(); // not the end of the object: commit() decides that
    },
  });
  // An error must fail the write, not crash the worker: it is rethrown by commit().
  stream.on('error', (err) => (failure ??= err));

  const done = upload.done().then(
    () => undefined,
    (err: Error) => fail(err),
  );

  const abort = async () => {
    fail(Object.assign(new Error('upload aborted'), { name: 'AbortError' }));
    await upload.abort();
    await done;
  };

  return {
    stream,
    async commit() {
      if (!failure) {
        if (!stream.writableEnded && !stream.destroyed) stream.end();
        // Rejects when the stream failed, or was destroyed before it finished (a discarded write is no object).
        await finished(stream).catch((err: Error) => (failure ??= err));
      }
      if (failure) {
        await abort();
        throw failure;
      }
      body.end();
      await done;
      if (failure) throw failure;
    },
    abort,
  };
}
