import type { Readable, Writable } from 'node:stream';

/**
 * Where jobs keep their data. Workflow history only ever holds URIs into it (claim check). Implemented by
 * `FileStore` (paths and `file://`; relative paths resolve under the worker's data dir), `S3Store` (`s3://`) and
 * `RoutedStore`, which sends each URI to one of them by its scheme. Every operation means the same in each, so an
 * activity never asks which store it has: that is why there is no append or truncate (S3 has neither).
 */
export interface BlobStore {
  /** A canonical URI for a location, refusing what this worker may not touch. */
  resolve(uri: string): string;
  read(uri: string, options?: { start?: number }): Readable;
  /** Written aside and put in place by `commit()`: readers never see half a file. */
  write(uri: string): Promise<AtomicWrite>;
  /** Whether something is there; only "not found" is false (other errors are thrown). */
  exists(uri: string): Promise<boolean>;
  readText(uri: string): Promise<string>;
  /** What is at a location, or null when nothing is; errors other than "absent" are thrown. */
  inspect(uri: string): Promise<EntryInfo | null>;
  /** Why a file could not be created at `uri` (null when it can): its nearest existing ancestor must be a writable folder. */
  unwritable(uri: string): Promise<string | null>;
  /** The location with `..` and symlinks resolved: one file has one canonical URI. */
  canonical(uri: string): string;
  size(uri: string): Promise<number>;
  readJson<T>(uri: string): Promise<T>;
  writeJson(uri: string, value: unknown): Promise<void>;
  /** Creates the file only if it does not exist yet (atomically); false when it already did. */
  createExclusive(uri: string, content: string): Promise<boolean>;
  /** Removes a file, or a folder with everything in it; nothing there is not an error. */
  remove(uri: string): Promise<void>;
  /** Moves a file within the store (a rename on one file system; a copy, then a delete, in S3). */
  move(from: string, to: string): Promise<void>;
  /** Names of the entries of a folder (empty when it does not exist). */
  list(uri: string): Promise<string[]>;
  join(uri: string, ...parts: string[]): string;
}

export interface EntryInfo {
  kind: 'file' | 'directory' | 'other';
  size: number;
  /** Equal for two URIs of the same file (hard links included). */
  identity: string;
}

export interface AtomicWrite {
  stream: Writable;
  commit(): Promise<void>;
  abort(): Promise<void>;
}
