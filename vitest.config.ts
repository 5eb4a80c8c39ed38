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
    // Integration tests start broker processes and mostly wait on them (sockets, ZooKeeper sessions, timers): on two
    // cores a third worker shortens the run (the CI budget is 15 minutes for two Node lines) without saturating
    // the CPU (a full run used 5.4 min of CPU in 6.2 min of wall time at 3 workers).
    maxWorkers: 3,
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
  },
});
