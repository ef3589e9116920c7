import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import type { AtomicWrite, BlobStore, EntryInfo } from './blob-store.js';
import { FileStore } from './file-store.js';
import { S3Store } from './s3-store.js';
import { isS3Uri } from './s3-uri.js';

/**
 * One store for every URI a job names: `s3://` goes to S3, anything else (paths, `file://`) to the file system. A
 * job may so read its input from a bucket, keep its job folder in another and write its output to a local file.
 */
export class RoutedStore implements BlobStore {
  private s3: BlobStore | null = null;

  /** `objects` is called at the first s3:// URI: a worker that never meets one never builds an S3 client. */
  constructor(
    private readonly files: BlobStore,
    private readonly objects: () => BlobStore,
  ) {}

  private of(uri: string): BlobStore {
    return isS3Uri(uri) ? (this.s3 ??= this.objects()) : this.files;
  }

  resolve = (uri: string): string => this.of(uri).resolve(uri);
  read = (uri: string, options?: { start?: number }): Readable => this.of(uri).read(uri, options);
  write = (uri: string): Promise<AtomicWrite> => this.of(uri).write(uri);
  exists = (uri: string): Promise<boolean> => this.of(uri).exists(uri);
  readText = (uri: string): Promise<string> => this.of(uri).readText(uri);
  inspect = (uri: string): Promise<EntryInfo | null> => this.of(uri).inspect(uri);
  unwritable = (uri: string): Promise<string | null> => this.of(uri).unwritable(uri);
  canonical = (uri: string): string => this.of(uri).canonical(uri);
  size = (uri: string): Promise<number> => this.of(uri).size(uri);
  readJson = <T>(uri: string): Promise<T> => this.of(uri).readJson<T>(uri);
  writeJson = (uri: string, value: unknown): Promise<void> => this.of(uri).writeJson(uri, value);
  createExclusive = (uri: string, content: string): Promise<boolean> => this.of(uri).createExclusive(uri, content);
  remove = (uri: string): Promise<void> => this.of(uri).remove(uri);
  list = (uri: string): Promise<string[]> => this.of(uri).list(uri);
  join = (uri: string, ...parts: string[]): string => this.of(uri).join(uri, ...parts);

  async move(from: string, to: string): Promise<void> {
    const store = this.of(from);
    // Moves are renames of a job's own records, always within one store.
    if (store !== this.of(to))
      throw ApplicationFailure.nonRetryable(
        `cannot move ${from} to ${to}: they are in different stores`,
        'StorageUnsupported',
      );
    return store.move(from, to);
  }
}

export interface StoreSettings {
  /** Where relative paths resolve, and always an allowed root. */
  dataDir: string;
  /** Folders and `s3://bucket[/prefix]` roots the worker may read and write. */
  allowedRoots: string[];
  /** The root of job folders and claims (a path or an s3:// URI): allowed too. */
  storageRoot: string;
  /** The S3 client, made when first needed. */
  s3: () => S3Client;
}

/** The store a worker (or the CLI) uses: each allowed root goes to the store of its scheme. */
export function openStore(settings: StoreSettings): RoutedStore {
  const roots = [...settings.allowedRoots, settings.storageRoot];
  return new RoutedStore(
    new FileStore(
      settings.dataDir,
      roots.filter((r) => !isS3Uri(r)),
    ),
    () => new S3Store(settings.s3(), roots.filter(isS3Uri)),
  );
}
