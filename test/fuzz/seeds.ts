/**
 * Seed inputs: the golden request frames captured from real clients (test/fixtures/frames), one
 * frame per advertised API version built with the generated encoders from a plausible body, and the
 * regression inputs in test/fixtures/fuzz (inputs that once broke the broker).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writer } from '../../src/protocol/primitives.js';
import { API_CODECS } from '../../src/protocol/generated/apis.js';
import { REQUEST_SCHEMAS, type FieldSchema } from '../../src/protocol/generated/schema.js';
import { sizeRequestHeader, writeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { FIXTURES_DIR } from '../helpers/paths.js';
import { advertisedPairs, headerVersionFor, type FuzzContext } from './request-gen.js';

export const GOLDEN_DIR = path.join(FIXTURES_DIR, 'frames');
export const REGRESSION_DIR = path.join(FIXTURES_DIR, 'fuzz');

export interface Seed {
  name: string;
  frame: Buffer;
}

/** Every captured client request frame (size prefix included). */
export function goldenSeeds(): Seed[] {
  return fs
    .readdirSync(GOLDEN_DIR)
    .filter((f) => f.endsWith('.bin') && !f.endsWith('-response.bin'))
    .sort()
    .map((f) => ({ name: `golden/${f}`, frame: fs.readFileSync(path.join(GOLDEN_DIR, f)) }));
}

/** Inputs that once broke the broker, replayed on every CI pass. */
export function regressionSeeds(dir = REGRESSION_DIR): Seed[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .map((f) => ({ name: `regression/${f}`, frame: fs.readFileSync(path.join(dir, f)) }));
}

const camel = (name: string): string => name.charAt(0).toLowerCase() + name.slice(1);
const inRange = (r: readonly [number, number] | null | undefined, v: number): boolean => !!r && v >= r[0] && v <= r[1];

/** A plausible value for a field: known topics and groups, partition 0, one element per array. */
function plausible(f: FieldSchema, v: number, ctx: FuzzContext): unknown {
  const t = f.type;
  if (t.startsWith('[]')) {
    const inner = t.slice(2);
    if (f.fields) return [plausibleStruct(f.fields, v, ctx)];
    return [plausible({ ...f, type: inner }, v, ctx)];
  }
  switch (t) {
    case 'bool':
      return false;
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
      return /timeout|wait/i.test(f.name) ? 100 : f.entityType === 'brokerId' ? 0 : /epoch|producerid|replicaid/i.test(f.name) ? -1 : 0;
    case 'int64':
      return f.entityType === 'producerId' ? -1 : /timestamp|time/i.test(f.name) ? -1 : 0;
    case 'float64':
      return 0;
    case 'uuid':
      return ctx.topicIds[0] ?? Buffer.alloc(16);
    case 'string':
      if (f.entityType === 'topicName') return ctx.topics[0] ?? 'fuzz';
      if (f.entityType === 'groupId') return ctx.groups[0] ?? 'fuzz-group';
      if (f.entityType === 'transactionalId') return null;
      return inRange(f.nullableVersions, v) ? null : '';
    case 'bytes':
      return Buffer.alloc(0);
    case 'records':
      return buildRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('seed'), timestamp: 1_700_000_000_000 }]);
  }
  return f.fields ? plausibleStruct(f.fields, v, ctx) : null;
}

function plausibleStruct(fields: readonly FieldSchema[], v: number, ctx: FuzzContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (!inRange(f.versions, v)) continue;
    if (f.tag !== undefined) continue; // tagged fields stay at their defaults
    out[camel(f.name)] = plausible(f, v, ctx);
  }
  return out;
}

/** Encodes a request with the generated codecs (header v1/v2 as the API version needs). */
export function encodeRequest(apiKey: number, version: number, correlationId: number, body: unknown, clientId = 'fuzz-seed'): Buffer {
  const codec = API_CODECS.get(apiKey)!;
  const hv = headerVersionFor(apiKey, version);
  const header = { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId };
  const size = sizeRequestHeader(header, hv) + codec.sizeRequest(body, version);
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeRequestHeader(w, header, hv);
  codec.writeRequest(w, body, version);
  return w.buf;
}

/** One well-formed request per advertised API version, from the generated encoders. */
export function encoderSeeds(ctx: FuzzContext): Seed[] {
  const seeds: Seed[] = [];
  for (const { apiKey, version } of advertisedPairs(ctx)) {
    const schema = REQUEST_SCHEMAS.get(apiKey)!;
    const body = plausibleStruct(schema.fields, version, ctx);
    seeds.push({ name: `encoder/${schema.name}-v${version}`, frame: encodeRequest(apiKey, version, 1, body) });
  }
  return seeds;
}
