/**
 * CI's fuzz pass (see docs/testing.md, "Fuzzing"): a short fixed-seed campaign over the request path,
 * in-process and coverage-guided, then against a broker process, with every regression input in
 * test/fixtures/fuzz replayed first. `npm run fuzz` runs the same campaign for as long as asked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Reader } from '../../src/protocol/primitives.js';
import { API_CODECS } from '../../src/protocol/generated/apis.js';
import { readRequestHeader } from '../../src/protocol/generated/request-header.js';
import { registerCleanup } from '../helpers/lifecycle.js';
import { formatReport, runCampaign } from './campaign.js';
import { advertisedPairs, headerVersionFor, requestArb, type FuzzContext } from './request-gen.js';
import { encodeRequest, regressionSeeds } from './seeds.js';
import { apiVersionsFrame, checkResponseBody, matchResponse, splitRequests } from './wire.js';

registerCleanup();

const SEED = 20260803;

describe('the fuzzer itself', () => {
  const ctx: FuzzContext = {
    topics: ['fuzz-target'],
    topicIds: [Buffer.alloc(16, 7)],
    groups: ['fuzz-group'],
    advertised: [...API_CODECS.values()].filter((c) => c.key <= 20).map((c) => ({ apiKey: c.key, minVersion: c.minVersion, maxVersion: c.maxStableVersion })),
  };

  /** Whether a frame decodes with the generated codecs, to its last byte. */
  function decodesFully(frame: Buffer): boolean {
    try {
      const apiKey = frame.readInt16BE(4);
      const version = frame.readInt16BE(6);
      const r = new Reader(frame, 4);
      readRequestHeader(r, headerVersionFor(apiKey, version));
      API_CODECS.get(apiKey)!.readRequest(r, version);
      return r.pos === frame.length;
    } catch {
      return false;
    }
  }

  it('generates, for every API version, requests the generated codecs decode and hostile ones they refuse', () => {
    let refused = 0;
    for (const { apiKey, version } of advertisedPairs(ctx)) {
      const frames = fc.sample(requestArb(apiKey, version, ctx), { seed: SEED + apiKey * 100 + version, numRuns: 40 });
      const ok = frames.filter(decodesFully).length;
      expect(ok, `${API_CODECS.get(apiKey)!.name} v${version}: no generated request decodes`).toBeGreaterThan(0);
      refused += frames.length - ok;
      for (const f of frames) expect(f.readInt32BE(0), 'size prefix').toBe(f.length - 4);
    }
    expect(refused, 'hostile encodings the codecs refuse').toBeGreaterThan(100);
  });

  it('tells a right response from a wrong one', () => {
    const request = encodeRequest(18, 0, 42, {});
    const requests = splitRequests(Buffer.concat([request, apiVersionsFrame(43)]));
    expect(requests.map((r) => r.correlationId)).toEqual([42, 43]);
    const body = Buffer.from('00000000' + '0000' + '00000000', 'hex'); // corr 0, error 0, empty array
    const answer = (corr: number, b: Buffer): Buffer => Buffer.concat([Buffer.from([corr >>> 24, corr >>> 16, corr >>> 8, corr]), b.subarray(4)]);
    expect(matchResponse(requests, 0, answer(42, body), 3)).toEqual({ index: 0 });
    expect(matchResponse(requests, 0, answer(43, body), 3)).toHaveProperty('violation'); // skipped the first request
    expect(matchResponse(requests, 0, answer(7, body), 3)).toHaveProperty('violation');
    expect(checkResponseBody(requests[0]!, answer(42, body.subarray(0, 9)), 3)).toMatch(/does not decode/);
    expect(checkResponseBody(requests[0]!, answer(42, Buffer.concat([body, Buffer.from([1])])), 3)).toMatch(/trailing/);
  });
});

describe('fuzz pass over the request path (fixed seed)', () => {
  it('the broker answers or closes, stays healthy and loses nothing', async () => {
    const lines: string[] = [];
    const report = await runCampaign({
      seed: SEED,
      // A fixed amount of work; the time caps only bound the pass on a loaded machine.
      inProcess: { ms: 15_000, maxExecs: 700 },
      process: { ms: 12_000, maxExecs: 500 },
      batchSize: 100,
      rssLimitBytes: 512 * 2 ** 20,
      outDir: null,
      log: (l) => lines.push(l),
    });
    const summary = formatReport(report);
    expect(report.findings.map((f) => `${f.signature}\n${f.detail}`), summary).toEqual([]);
    // The pass did what it claims: every advertised version seeded, hostile input seen and refused.
    expect(report.versions, summary).toBeGreaterThan(100);
    expect(report.inProcess.execs, summary).toBeGreaterThan(report.versions);
    expect(report.seeds.regression, summary).toBe(regressionSeeds().length);
    expect(report.inProcess.outcomes.answered ?? 0, summary).toBeGreaterThan(0);
    expect(report.inProcess.outcomes.closed ?? 0, summary).toBeGreaterThan(0);
    expect(report.inProcess.blocks, summary).toBeGreaterThan(500);
    expect(report.process.outcomes.answered ?? 0, summary).toBeGreaterThan(0);
    expect(report.process.outcomes.closed ?? 0, summary).toBeGreaterThan(0);
    // The caps above bound the fuzzing; starting, checking and stopping two brokers on a loaded machine
    // needs the rest.
  }, 120_000);
});
