/**
 * The long fuzz run behind `npm run fuzz` (scripts/fuzz.mjs passes its options as KFK_FUZZ_*
 * variables). Prints the figures; fails when anything was found, after saving the inputs.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/paths.js';
import { registerCleanup } from '../helpers/lifecycle.js';
import { formatReport, runCampaign } from './campaign.js';

registerCleanup();

const seconds = Number(process.env.KFK_FUZZ_SECONDS ?? 600);
const execs = Number(process.env.KFK_FUZZ_EXECS ?? Number.MAX_SAFE_INTEGER);
const processShare = Number(process.env.KFK_FUZZ_PROCESS_SHARE ?? 0.3);
const seed = Number(process.env.KFK_FUZZ_SEED ?? Date.now() % 2 ** 31);
const outDir = path.resolve(REPO_ROOT, process.env.KFK_FUZZ_OUT ?? 'fuzz-out');
const rssLimitMiB = Number(process.env.KFK_FUZZ_RSS_MIB ?? 512);

it(`fuzzes the request path for ${seconds} s (seed ${seed})`, async () => {
  const log = (line: string): void => console.log(`[fuzz ${new Date().toISOString().slice(11, 19)}] ${line}`);
  log(`seed ${seed}, ${seconds} s (${Math.round(processShare * 100)}% against a broker process), output in ${outDir}`);
  const report = await runCampaign({
    seed,
    inProcess: { ms: seconds * 1000 * (1 - processShare), maxExecs: execs },
    process: { ms: seconds * 1000 * processShare, maxExecs: execs },
    batchSize: 100,
    rssLimitBytes: rssLimitMiB * 2 ** 20,
    outDir,
    log,
  });
  console.log(formatReport(report));
  expect(report.findings.map((f) => f.signature)).toEqual([]);
});
