import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const registry = new Set<string>();

/** True when temp dirs should be kept for post-mortem inspection (`KFK_TEST_KEEP=1`). */
export function keepTempDirs(): boolean {
  return process.env.KFK_TEST_KEEP === '1';
}

/**
 * Create a fresh directory under the OS temp dir (e.g. `/tmp/kfk-test-broker-AbC123`) and register it for
 * `cleanupTempDirs()`. Synchronous so it can be used in plain expressions.
 */
export function makeTempDir(prefix = 'kfk-test-'): string {
  const safe = prefix.replace(/[^A-Za-z0-9._-]/g, '-');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), safe.startsWith('kfk') ? safe : `kfk-test-${safe}`));
  registry.add(dir);
  return dir;
}

/** Remove one registered directory now. */
export async function removeTempDir(dir: string): Promise<void> {
  registry.delete(dir);
  if (keepTempDirs()) return;
  await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
}

/**
 * Remove every directory created by `makeTempDir` in this test worker (call it from `afterAll`, after
 * `stopAllBrokers()`, so no broker is still writing). With `KFK_TEST_KEEP=1` the dirs are kept and listed on stderr.
 */
export async function cleanupTempDirs(): Promise<void> {
  const dirs = [...registry];
  registry.clear();
  if (keepTempDirs()) {
    if (dirs.length > 0) process.stderr.write(`[kfk-test] kept temp dirs:\n  ${dirs.join('\n  ')}\n`);
    return;
  }
  await Promise.all(
    dirs.map((d) => fs.promises.rm(d, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 })),
  );
}

/** Directories currently registered (for debugging). */
export function registeredTempDirs(): string[] {
  return [...registry];
}
