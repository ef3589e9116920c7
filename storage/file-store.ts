import { createReadStream, createWriteStream, realpathSync } from 'node:fs';
import { access, constants, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import type { AtomicWrite, BlobStore, EntryInfo } from './blob-store.js';

/**
 * How much a file read takes from the disk at once. Just under the image's malloc mmap threshold (Dockerfile,
 * MALLOC_MMAP_THRESHOLD_=131072): a larger buffer is a fresh mmap and munmap each, whose page faults cost more than
 * the larger read saves (300 MB: 120 KB reads ~300 ms of CPU, 256 KB ~460 ms, 64 KB ~440 ms).
 */
export const READ_BLOCK_BYTES = 120 * 1024;

/** Paths and `file://` URIs on the worker's file systems, within its allowed roots. */
export class FileStore implements BlobStore {
  private readonly roots: string[];

  constructor(
    private readonly dataDir: string,
    allowedRoots: string[],
  ) {
    this.roots = [dataDir, ...allowedRoots].map((r) =>
      realpathOfNearest(path.resolve(r.startsWith('file://') ? fileURLToPath(r) : r)),
    );
  }

  resolve(uri: string): string {
    return pathToFileURL(this.pathOf(uri)).href;
  }

  read(uri: string, options: { start?: number } = {}): Readable {
    // Readers here stream files of up to hundreds of MB: Node's 64 KB reads cost half again the CPU of 120 KB ones.
    return createReadStream(this.pathOf(uri), { highWaterMark: READ_BLOCK_BYTES, ...options });
  }

  async write(uri: string): Promise<AtomicWrite> {
    const file = this.pathOf(uri);
    const tmp = await freshTempFor(file);
    const stream = createWriteStream(tmp);
    // An error (disk full, the file removed by a retry) must fail the write, not crash the worker.
    let failure: Error | null = null;
    stream.on('error', (err) => (failure ??= err));
    const finish = async () => {
      if (!stream.closed) {
        stream.end();
        await once(stream, 'close');
      }
    };
    return {
      stream,
      commit: async () => {
        if (!failure) await finish().catch((err: Error) => (failure ??= err));
        if (failure) {
          await rm(tmp, { force: true });
          throw failure;
        }
        await rename(tmp, file);
      },
      abort: async () => {
        stream.destroy();
        await rm(tmp, { force: true });
      },
    };
  }

  async exists(uri: string): Promise<boolean> {
    // Only "no such file" means absent: a transient error (EIO, ESTALE on NFS) must not pass for a missing record.
    return (await this.inspect(uri)) !== null;
  }

  async readText(uri: string): Promise<string> {
    return readFile(this.pathOf(uri), 'utf8');
  }

  async inspect(uri: string): Promise<EntryInfo | null> {
    try {
      const s = await stat(this.pathOf(uri));
      const kind = s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other';
      return { kind, size: s.size, identity: `${s.dev}:${s.ino}` };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async unwritable(uri: string): Promise<string | null> {
    let dir = path.dirname(this.pathOf(uri));
    for (;;) {
      const s = await stat(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
        throw err;
      });
      if (s && !s.isDirectory()) return `${dir} is a file, not a folder`;
      if (s) break;
      const parent = path.dirname(dir);
      if (parent === dir) return `no folder of ${uri} exists`;
      dir = parent;
    }
    try {
      await access(dir, constants.W_OK | constants.X_OK);
      return null;
    } catch {
      return `the worker may not write in ${dir} (permission denied)`;
    }
  }

  canonical(uri: string): string {
    return pathToFileURL(realpathOfNearest(this.pathOf(uri))).href;
  }

  async size(uri: string): Promise<number> {
    return (await stat(this.pathOf(uri))).size;
  }

  async readJson<T>(uri: string): Promise<T> {
    return JSON.parse(await readFile(this.pathOf(uri), 'utf8')) as T;
  }

  async writeJson(uri: string, value: unknown): Promise<void> {
    const file = this.pathOf(uri);
    const tmp = await freshTempFor(file);
    await writeFile(tmp, JSON.stringify(value, null, 2));
    await rename(tmp, file);
  }

  async createExclusive(uri: string, content: string): Promise<boolean> {
    const file = this.pathOf(uri);
    await mkdir(path.dirname(file), { recursive: true });
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(content);
      await handle.close();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  async remove(uri: string): Promise<void> {
    await rm(this.pathOf(uri), { recursive: true, force: true });
  }

  async move(from: string, to: string): Promise<void> {
    const target = this.pathOf(to);
    await mkdir(path.dirname(target), { recursive: true });
    await rename(this.pathOf(from), target);
  }

  async list(uri: string): Promise<string[]> {
    return readdir(this.pathOf(uri)).catch(() => []);
  }

  join(uri: string, ...parts: string[]): string {
    return pathToFileURL(path.join(this.pathOf(uri), ...parts)).href;
  }

  private pathOf(uri: string): string {
    let file: string;
    if (uri.startsWith('file://')) file = fileURLToPath(uri);
    else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri))
      throw ApplicationFailure.nonRetryable(
        `${uri}: the ${uri.slice(0, uri.indexOf(':')).toLowerCase()}:// scheme is not supported; this worker reads and writes paths, file:// and s3:// URIs only`,
        'StorageUnsupported',
      );
    else file = path.resolve(this.dataDir, uri);
    const real = realpathOfNearest(file);
    if (!this.roots.some((root) => real === root || real.startsWith(root + path.sep)))
      throw ApplicationFailure.nonRetryable(
        `${file} is outside the worker's allowed roots (${this.roots.join(', ')}); set CLAUDE_BATCH_ALLOWED_ROOTS to allow it`,
        'StorageAccessDenied',
      );
    return file;
  }
}

/**
 * A temp file beside `file` to write and then rename into place: hidden, and named after its target, so the next
 * write of the same file (a retry after a dead attempt) removes what the dead one left — no half-written file
 * stays beside a user's output.
 */
async function freshTempFor(file: string): Promise<string> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const prefix = `.${path.basename(file)}.partial-`;
  for (const name of await readdir(dir)) if (name.startsWith(prefix)) await rm(path.join(dir, name), { force: true });
  return path.join(dir, `${prefix}${process.pid}-${Date.now()}`);
}

/** The real path of `file`, or of its nearest existing ancestor joined with the rest (symlinks cannot escape). */
function realpathOfNearest(file: string): string {
  let current = file;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(current), ...rest.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return file;
      rest.push(path.basename(current));
      current = parent;
    }
  }
}
