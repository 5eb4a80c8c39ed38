/**
 * Small file helpers for the log: positional reads/writes on numeric file descriptors, async fsync,
 * and atomic small-file replacement (write .tmp, fsync, rename, fsync the directory).
 *
 * Appends use synchronous positional writes (page cache, microseconds); reads and fsyncs are async
 * so they run on the libuv thread pool and never hold the event loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import { syntheticIoError } from './storage-error.js';
import { sharedFdCache, type FileDescriptorCache } from './fd-cache.js';

/** Reads up to `length` bytes at `position` into buf[offset..]; resolves the number read (short only at EOF). */
export function readFully(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (): void => {
      if (done >= length) {
        resolve(done);
        return;
      }
      fs.read(fd, buf, offset + done, length - done, position + done, (err, n) => {
        if (err) {
          reject(err);
          return;
        }
        if (n === 0) {
          resolve(done);
          return;
        }
        done += n;
        step();
      });
    };
    step();
  });
}

/** Synchronous version of readFully, for small reads at open time. */
export function readFullySync(fd: number, buf: Buffer, offset: number, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Writes buf[offset, offset+length) at `position`, looping over short writes (a file system that is almost
 * full writes what fits, and the next write fails with ENOSPC). A write that makes no progress is an I/O
 * error rather than an endless loop. On a throw, part of the range may have been written: the caller decides
 * what to do with those bytes (LogSegment.append cuts them off again).
 */
export function writeFullySync(fd: number, buf: Buffer, offset: number, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = fs.writeSync(fd, buf, offset + done, length - done, position + done);
    if (n <= 0) throw syntheticIoError('EIO', 'write', `write of ${length - done} bytes at ${position + done} made no progress`);
    done += n;
  }
}

export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.fsync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Errors that mean "this platform or file system cannot fsync a directory" (Windows cannot open one, some
 * file systems refuse the call). A rename is still atomic there; nothing more can be done. Any other error
 * (EIO, ...) is a real failure and is thrown.
 */
const DIR_FSYNC_UNSUPPORTED = new Set(['EISDIR', 'EINVAL', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP']);

function dirFsyncUnsupported(e: unknown): boolean {
  return DIR_FSYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '');
}

/** fsync a directory so a rename/create in it is durable (skipped where the platform cannot; see above). */
export async function fsyncDir(dir: string, cache: FileDescriptorCache = sharedFdCache()): Promise<void> {
  await cache.withPermit(async () => {
    let handle: fs.promises.FileHandle | undefined;
    try {
      handle = await fs.promises.open(dir, 'r');
      await handle.sync();
    } catch (e) {
      if (!dirFsyncUnsupported(e)) throw e;
    } finally {
      await handle?.close();
    }
  }, `syncing the directory ${dir}`);
}

/** Synchronous fsyncDir (the producer-state snapshot on a clean close is written synchronously). */
export function fsyncDirSync(dir: string): void {
  // callers hold a permit for it (ProducerStateManager.takeSnapshot)
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    if (!dirFsyncUnsupported(e)) throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Replaces `file` atomically with `data`: write `<file>.tmp`, fsync it, rename over `file`, fsync the dir. Its
 * descriptors count against the log's budget (fd-cache.ts), and running out of them is retried once idle ones
 * are closed (the steps can be repeated).
 */
export async function writeFileAtomic(file: string, data: string | Buffer, cache: FileDescriptorCache = sharedFdCache()): Promise<void> {
  const tmp = `${file}.tmp`;
  await cache.withPermit(async () => {
    const handle = await fs.promises.open(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }, `writing ${tmp}`);
  await fs.promises.rename(tmp, file);
  await fsyncDir(path.dirname(file), cache);
}

/** Size of an existing file, or -1 when it does not exist. */
export async function fileSizeOrMissing(file: string): Promise<number> {
  try {
    return (await fs.promises.stat(file)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return -1;
    throw e;
  }
}
