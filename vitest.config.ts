import { defineConfig } from 'vitest/config';

// KFK_TEST_JSON_REPORT=<file>: also write vitest's JSON report there (.ci/run does, to list skipped tests and their
// reasons above its summary line; see docs/testing.md).
const jsonReport = process.env.KFK_TEST_JSON_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A private TMPDIR per test file (pid files of `kfk server stop`, temp data dirs): test/helpers/private-tmpdir.ts.
    setupFiles: ['test/helpers/private-tmpdir.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start broker processes; two cores, so keep parallelism modest.
    maxWorkers: 2,
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
  },
});
