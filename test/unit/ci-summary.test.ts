/**
 * What .ci/run prints after the tests: the skipped tests with their reasons just above the last line, and the last
 * line `N passed, N failed` that CI parses. A real vitest run of test/fixtures/ci-summary/summary.sample.ts
 * (2 passed, 1 failed on purpose, 3 skipped) writes the log and JSON report that .ci/run reads.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, makeTempDir, registerCleanup, run, type RunResult } from '../helpers/index.js';

registerCleanup();

const SAMPLE = 'test/fixtures/ci-summary/summary.sample.ts';

describe('.ci/run summary', () => {
  let sampleRun: RunResult;
  let summary: string[];

  beforeAll(async () => {
    const dir = makeTempDir('kfk-ci-summary');
    const report = path.join(dir, 'report.json');
    const log = path.join(dir, 'vitest.log');
    sampleRun = await run(
      process.execPath,
      [path.join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'test/fixtures/ci-summary/vitest.config.ts'],
      { cwd: REPO_ROOT, env: { KFK_TEST_JSON_REPORT: report }, timeoutMs: 60_000 },
    );
    writeFileSync(log, sampleRun.stdout + sampleRun.stderr);
    const parsed = await run('bash', [path.join(REPO_ROOT, '.ci', 'run'), '--parse-log', log, report], { cwd: REPO_ROOT });
    expect(parsed.code, parsed.stderr).toBe(0);
    summary = parsed.stdout.trimEnd().split('\n');
  });

  it('the sample run fails (one test fails on purpose)', () => {
    expect(sampleRun.code, sampleRun.stdout).toBe(1);
  });

  it('ends with exactly "N passed, N failed"', () => {
    expect(summary.at(-1)).toBe('2 passed, 1 failed');
  });

  it('lists each skipped test with its reason just above the last line', () => {
    expect(summary.slice(-5, -1)).toEqual([
      '3 skipped',
      `  - ${SAMPLE} > skips with a reason: the codec library is not installed`,
      `  - ${SAMPLE} > skips without a reason: no reason given`,
      `  - ${SAMPLE} > a suite that needs a service > inherits the suite reason: the service is not installed`,
    ]);
  });
});
