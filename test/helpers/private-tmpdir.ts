/**
 * Vitest setup file: each test file gets a private TMPDIR, inherited by every process it starts.
 *
 * Why: `kfk server stop` (like kafka-server-stop.sh) signals every broker whose pid file is in
 * `<tmpdir>/kfk-brokers`. Test files run in parallel, and on a shared machine several suites run at once; with one
 * machine-wide tmpdir, a test of `server stop` in one file would stop the brokers of every other file. A private
 * TMPDIR per file scopes the pid files (and the temp data dirs) to the file that made them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const base = process.env.KFK_TEST_BASE_TMPDIR ?? tmpdir();
process.env.KFK_TEST_BASE_TMPDIR = base;
const dir = mkdtempSync(join(base, 'kfk-test-'));
process.env.TMPDIR = dir;

afterAll(() => {
  if (process.env.KFK_TEST_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
});
