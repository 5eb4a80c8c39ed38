#!/usr/bin/env node
/**
 * npm run fuzz [-- --seconds N | --minutes N] [--execs N] [--seed N] [--out DIR] [--process-share F] [--rss-mib N]
 *
 * A long fuzz run of the request path (test/fuzz): in-process and coverage-guided first, then against
 * a broker process. The corpus is kept in <out>/corpus (and reused by the next run), crashing inputs in
 * <out>/crashes. Defaults: 10 minutes, a random seed, out = fuzz-out. Builds first (the process target
 * runs the compiled broker). Options can also be given as KFK_FUZZ_SECONDS, KFK_FUZZ_EXECS,
 * KFK_FUZZ_SEED, KFK_FUZZ_OUT, KFK_FUZZ_PROCESS_SHARE, KFK_FUZZ_RSS_MIB.
 */
import { spawnSync } from 'node:child_process';

const flags = {
  '--seconds': 'KFK_FUZZ_SECONDS',
  '--execs': 'KFK_FUZZ_EXECS',
  '--seed': 'KFK_FUZZ_SEED',
  '--out': 'KFK_FUZZ_OUT',
  '--process-share': 'KFK_FUZZ_PROCESS_SHARE',
  '--rss-mib': 'KFK_FUZZ_RSS_MIB',
};
const env = { ...process.env };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const [name, inline] = a.includes('=') ? a.split(/=(.*)/s) : [a, undefined];
  const value = inline ?? args[++i];
  if (name === '--minutes') env.KFK_FUZZ_SECONDS = String(Number(value) * 60);
  else if (flags[name]) env[flags[name]] = value;
  else {
    console.error(`unknown option ${a}\nusage: npm run fuzz -- [--seconds N | --minutes N] [--execs N] [--seed N] [--out DIR] [--process-share F] [--rss-mib N]`);
    process.exit(2);
  }
  if (value === undefined || value === '') {
    console.error(`option ${name} needs a value`);
    process.exit(2);
  }
}
const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const run = spawnSync('npx', ['vitest', 'run', '--config', 'test/fuzz/vitest.fuzz.config.ts'], { stdio: 'inherit', env });
process.exit(run.status ?? 1);
