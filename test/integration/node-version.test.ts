/**
 * kfk runs on the Node.js lines package.json's `engines` names (the maintained LTS lines, Node 22 and later). Started
 * on an older Node, `kfk` says so in one line and exits 1, instead of failing somewhere deep in a dependency. The
 * older Node here is the system's /usr/bin/node when it is one (Debian's Node 20 on the CI machine); the suite
 * itself runs on Node 24 and 22 (.ci/run).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KFK_BIN, REPO_ROOT, kfk, run, skipUnless } from '../helpers/index.js';

const OLD_NODE = '/usr/bin/node';
const engines = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
const requiredMajor = Number(/^>=\s*(\d+)/.exec(engines)![1]);
const oldVersion = existsSync(OLD_NODE) ? execFileSync(OLD_NODE, ['--version'], { encoding: 'utf8' }).trim().slice(1) : null;
const isOld = oldVersion !== null && Number(oldVersion.split('.')[0]) < requiredMajor;

describe('supported Node.js versions', () => {
  it('engines names a maintained line: Node 22 or later', () => {
    expect(engines).toBe('>=22');
  });

  it('runs on this Node', async () => {
    const res = await kfk(['--version']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it(
    'refuses an older Node with one line naming the required version',
    skipUnless(isOld, `no Node.js older than ${requiredMajor} at ${OLD_NODE} (found ${oldVersion ?? 'none'})`),
    async () => {
      for (const args of [['--version'], ['server', 'start']]) {
        const res = await run(OLD_NODE, [KFK_BIN, ...args]);
        expect(res.code).toBe(1);
        expect(res.stdout).toBe('');
        expect(res.stderr).toBe(`Error: kfk needs Node.js ${requiredMajor} or later; this is Node.js ${oldVersion}\n`);
      }
    },
  );
});
