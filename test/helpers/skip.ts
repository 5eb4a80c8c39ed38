/**
 * Skipping a test with a reason that CI prints. `.ci/run` lists every skipped test with its reason just above its
 * summary line (from vitest's JSON report), so a skip is never silent:
 *
 *   it('reads zstd batches', skipUnless(hasZstd, 'kafka-python has no zstd library (Debian: python3-zstandard)'), async () => { ... });
 *   describe('real ZooKeeper', skipUnless(installed, 'no ZooKeeper at /usr/share/java/zookeeper.jar'), () => { ... });
 *
 * The reason goes into the test's `meta.skipReason`, which vitest's JSON reporter writes out (a skipped describe
 * passes it to its tests). Skip only this way: a bare `it.skip` / `it.skipIf` shows up as "no reason given".
 */
import type { TestOptions } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** Why the test was skipped (set by skipUnless). */
    skipReason?: string;
  }
}

/** Test options that skip the test (or every test of a describe) unless `condition` holds, saying why. */
export function skipUnless(condition: boolean, reason: string): TestOptions {
  return condition ? {} : { skip: true, meta: { skipReason: reason } };
}
