/**
 * The log's descriptor cache (src/log/fd-cache.ts, issue 13): at most `maxOpen` descriptors open, least recently
 * used idle ones closed first, a pinned descriptor never closed under its user, permits for short-lived opens,
 * and running out of descriptors (EMFILE) handled by closing idle ones, else a retriable REQUEST_TIMED_OUT error.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileDescriptorCache, FileDescriptorsExhaustedError, isDescriptorExhaustion } from '../../src/log/fd-cache.js';
import { defaultMaxOpenFiles, readOpenFileLimit, reservedDescriptors } from '../../src/log/open-file-limit.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { isStorageIoError } from '../../src/log/storage-error.js';
import { skipUnless } from '../helpers/skip.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-fd-cache-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

/** n files with content `file-<i>` */
function files(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const f = path.join(tmp, `f${i}`);
    fs.writeFileSync(f, `file-${i}`);
    return f;
  });
}

function readAll(fd: number): string {
  const buf = Buffer.alloc(64);
  const n = fs.readSync(fd, buf, 0, 64, 0);
  return buf.subarray(0, n).toString();
}

/** Descriptors of this process that point into the test's directory (Linux). */
function descriptorsInto(dir: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) n++;
    } catch {
      // closed meanwhile (the descriptor of the listing itself)
    }
  }
  return n;
}

function emfile(): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error('EMFILE: too many open files, open');
  e.code = 'EMFILE';
  e.syscall = 'open';
  return e;
}

describe('the budget', () => {
  it('keeps at most maxOpen descriptors open, closing the least recently used idle one', () => {
    const cache = new FileDescriptorCache(3);
    const cached = files(10).map((f) => cache.file(f));
    for (let round = 0; round < 3; round++) {
      cached.forEach((c, i) => {
        expect(c.useSync((fd) => readAll(fd))).toBe(`file-${i}`);
        expect(cache.stats().open).toBeLessThanOrEqual(3);
      });
    }
    // the three used last are the ones still open
    expect(cached.map((c) => c.isOpen)).toEqual([false, false, false, false, false, false, false, true, true, true]);
    // touching an old one evicts the least recently used of the open ones (f7)
    cached[0]!.useSync(() => undefined);
    expect(cached.map((c) => c.isOpen).filter(Boolean)).toHaveLength(3);
    expect(cached[7]!.isOpen).toBe(false);
    expect(cached[0]!.isOpen).toBe(true);
    const s = cache.stats();
    expect(s.peak).toBeLessThanOrEqual(3);
    expect(s.evictions).toBeGreaterThan(0);
  });

  it('holds the descriptors it counts, and no more (/proc/self/fd)', skipUnless(process.platform === 'linux', 'reads /proc/self/fd'), async () => {
    const cache = new FileDescriptorCache(4);
    const cached = files(40).map((f) => cache.file(f));
    for (const c of cached) await c.use(async (fd) => readAll(fd));
    expect(descriptorsInto(tmp)).toBe(4);
    expect(cache.stats().open).toBe(4);
    for (const c of cached) c.close();
    expect(descriptorsInto(tmp)).toBe(0);
    expect(cache.stats().open).toBe(0);
  });

  it('never closes a pinned descriptor: the budget is exceeded while everything is pinned, and trimmed on release', () => {
    const cache = new FileDescriptorCache(2);
    const cached = files(5).map((f) => cache.file(f));
    const fds = cached.map((c) => c.acquireSync());
    expect(cache.stats().open).toBe(5);
    // every pinned descriptor still reads its own file
    fds.forEach((fd, i) => expect(readAll(fd)).toBe(`file-${i}`));
    for (const c of cached) c.release();
    expect(cache.stats().open).toBe(2);
    expect(cache.stats().idle).toBe(2);
  });

  it('keeps a descriptor in use by an in-flight read open while others come and go', async () => {
    const cache = new FileDescriptorCache(1);
    const [a, ...rest] = files(6).map((f) => cache.file(f));
    const fd = await a!.acquire();
    for (const c of rest) await c.use(async (other) => readAll(other));
    expect(a!.isOpen).toBe(true);
    expect(readAll(fd)).toBe('file-0');
    // close() while pinned waits for the release
    a!.close();
    expect(a!.isOpen).toBe(true);
    a!.release();
    expect(a!.isOpen).toBe(false);
    expect(() => a!.acquireSync()).toThrow(/closed/);
  });

  it('shares one open between concurrent acquires and keeps one descriptor when a synchronous acquire races an asynchronous one', async () => {
    const cache = new FileDescriptorCache(10);
    const [f] = files(1);
    const c = cache.file(f!);
    const both = Promise.all([c.acquire(), c.acquire()]);
    const sync = c.acquireSync();
    const [x, y] = await both;
    expect(x).toBe(sync);
    expect(y).toBe(sync);
    expect(cache.stats().open).toBe(1);
    c.release();
    c.release();
    c.release();
    expect(cache.stats().idle).toBe(1);
  });

  it('counts permits against the budget', async () => {
    const cache = new FileDescriptorCache(3);
    const cached = files(3).map((f) => cache.file(f));
    for (const c of cached) c.useSync(() => undefined);
    expect(cache.stats().open).toBe(3);
    await cache.withPermit(async () => {
      // one idle descriptor was closed to make room for the permit
      expect(cache.stats().open).toBe(3);
      expect(cache.stats().idle).toBe(2);
      expect(cache.stats().permits).toBe(1);
    }, 'a test');
    expect(cache.stats().permits).toBe(0);
  });

  it('lowering the budget closes idle descriptors', () => {
    const cache = new FileDescriptorCache(10);
    const cached = files(6).map((f) => cache.file(f));
    for (const c of cached) c.useSync(() => undefined);
    expect(cache.stats().open).toBe(6);
    cache.setMaxOpen(2);
    expect(cache.stats().open).toBe(2);
    expect(() => cache.setMaxOpen(0)).toThrow(RangeError);
  });
});

describe('running out of descriptors (EMFILE)', () => {
  /** open() fails with EMFILE while the process (as counted by the cache) holds `limit` or more descriptors. */
  function osLimit(cache: FileDescriptorCache, limit: number): void {
    const real = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation(((...args: Parameters<typeof fs.openSync>) => {
      if (cache.stats().open - cache.stats().permits >= limit) throw emfile();
      return real(...args);
    }) as typeof fs.openSync);
  }

  it('closes idle descriptors and opens again', () => {
    const cache = new FileDescriptorCache(100); // a budget larger than what the OS allows
    osLimit(cache, 4);
    const cached = files(20).map((f) => cache.file(f));
    cached.forEach((c, i) => expect(c.useSync((fd) => readAll(fd))).toBe(`file-${i}`));
    expect(cache.stats().open).toBeLessThanOrEqual(4);
    expect(cache.stats().exhausted).toBe(0);
  });

  it('fails with a retriable error (REQUEST_TIMED_OUT), not a storage failure, when nothing can be closed', () => {
    const cache = new FileDescriptorCache(100);
    const warnings: string[] = [];
    cache.logger = { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {} };
    osLimit(cache, 2);
    const cached = files(3).map((f) => cache.file(f));
    cached[0]!.acquireSync();
    cached[1]!.acquireSync();
    let err: unknown;
    try {
      cached[2]!.acquireSync();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FileDescriptorsExhaustedError);
    expect((err as FileDescriptorsExhaustedError).code).toBe(ErrorCode.REQUEST_TIMED_OUT);
    expect(isStorageIoError(err)).toBe(false);
    expect(isDescriptorExhaustion((err as Error).cause)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/Out of file descriptors while opening .*f2.*log\.max\.open\.files=100/);
    // the file can be opened once a descriptor is released
    cached[0]!.release();
    expect(cached[2]!.useSync((fd) => readAll(fd))).toBe('file-2');
  });

  it('retries the work of a permit after closing idle descriptors', async () => {
    const cache = new FileDescriptorCache(50);
    const cached = files(5).map((f) => cache.file(f));
    for (const c of cached) c.useSync(() => undefined);
    let attempts = 0;
    const result = await cache.withPermit(async () => {
      attempts++;
      if (cache.stats().idle > 3) throw emfile(); // "the OS" wants two of the idle descriptors back
      return 'done';
    }, 'listing a directory');
    expect(result).toBe('done');
    expect(attempts).toBe(2);
    await expect(
      cache.withPermit(async () => {
        throw emfile();
      }, 'listing a directory'),
    ).rejects.toBeInstanceOf(FileDescriptorsExhaustedError);
  });

  it('is never an I/O error of a log dir', () => {
    expect(isStorageIoError(emfile())).toBe(false);
    const enfile = Object.assign(new Error('ENFILE'), { code: 'ENFILE', syscall: 'open' });
    expect(isStorageIoError(enfile)).toBe(false);
    const enospc = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC', syscall: 'write' });
    expect(isStorageIoError(enospc)).toBe(true);
  });
});

describe('the default budget', () => {
  it('is the soft limit minus what connections need', skipUnless(process.platform === 'linux', 'reads /proc/self/limits'), () => {
    const limit = readOpenFileLimit();
    expect(limit.source).toBe('/proc/self/limits');
    expect(limit.soft).toBeGreaterThan(0);
    expect(defaultMaxOpenFiles(limit)).toBe(limit.soft! - reservedDescriptors(limit.soft!));
    expect(defaultMaxOpenFiles({ soft: 1024, hard: 1024, source: 'test' })).toBe(768);
    expect(defaultMaxOpenFiles({ soft: 256, hard: 256, source: 'test' })).toBe(128);
    expect(defaultMaxOpenFiles({ soft: null, hard: null, source: 'test' })).toBe(4096);
  });
});
