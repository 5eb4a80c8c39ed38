/**
 * Vitest configuration for long fuzz runs (`npm run fuzz`, see scripts/fuzz.mjs): one file, no
 * per-test timeout beyond the run's own budget, console output straight through, and unhandled
 * errors left to the fuzzer (it records them as findings with the input that caused them).
 */
import { defineConfig } from 'vitest/config';

const budgetMs = Number(process.env.KFK_FUZZ_SECONDS ?? 600) * 1000;

export default defineConfig({
  test: {
    include: ['test/fuzz/long-run.fuzz.ts'],
    testTimeout: budgetMs * 1.5 + 120_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    disableConsoleIntercept: true,
    dangerouslyIgnoreUnhandledErrors: true,
    reporters: ['default'],
  },
});
