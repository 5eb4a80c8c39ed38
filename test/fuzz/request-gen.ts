/**
 * Structure-aware generation of whole request frames with fast-check, field by field from the
 * request schemas the protocol generator emits (src/protocol/generated/schema.ts): for every API
 * and version the broker advertises, honest values most of the time (known topic names, ids and
 * groups, small counts, so requests reach deep into the handlers) and, per field, hostile
 * encodings: null where not nullable, negative and huge lengths and array counts, strings at and
 * beyond the int16 and compact limits, invalid UTF-8, unknown tagged fields and tagged fields
 * whose sizes lie, wild ints (offsets, epochs, ids, timeouts), garbage and compressed records.
 */
import fc from 'fast-check';
import { REQUEST_SCHEMAS, type FieldSchema } from '../../src/protocol/generated/schema.js';
import { recordsValueArb } from './records-gen.js';

export interface ApiRange {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

/** What exists on the broker under test, so that honest values hit real state. */
export interface FuzzContext {
  topics: string[];
  topicIds: Buffer[];
  groups: string[];
  /** The broker's ApiVersions ranges. */
  advertised: ApiRange[];
}

type Range = readonly [number, number] | null | undefined;
const inRange = (r: Range, v: number): boolean => !!r && v >= r[0] && v <= r[1];

// ---- encoding helpers ------------------------------------------------------------------------

function uvarint(v: number): Buffer {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
function int16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
}
function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0);
  return b;
}
const cat = (parts: Buffer[]): Buffer => Buffer.concat(parts);
/** An over-long uvarint (more than 5 bytes), which no valid length uses. */
const OVERLONG_UVARINT = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);

// ---- primitives ------------------------------------------------------------------------------

const INT_BOUNDS: Record<string, [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};
const BOUNDARY = [0, -1, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, -0x80000000, 0xffffffff, -2, 1000];

function intArb(type: string, f: FieldSchema): fc.Arbitrary<Buffer> {
  if (type === 'int64') {
    const entity =
      f.entityType === 'producerId' ? fc.constantFrom(-1n, 0n, 1n, 1000n) : fc.bigInt({ min: -1n, max: 5n });
    return fc
      .oneof(
        { arbitrary: entity, weight: 8 },
        { arbitrary: fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, -2n, 2n ** 53n, -(2n ** 53n), 2n ** 31n, 1_700_000_000_000n), weight: 2 },
        { arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), weight: 1 },
      )
      .map((v) => {
        const b = Buffer.alloc(8);
        b.writeBigInt64BE(v);
        return b;
      });
  }
  const [min, max] = INT_BOUNDS[type]!;
  const plausible = f.entityType === 'brokerId' ? fc.constantFrom(0, 0, 1, -1) : fc.integer({ min: Math.max(min, -1), max: Math.min(max, 5) });
  const boundary = fc.constantFrom(...BOUNDARY.filter((x) => x >= min && x <= max));
  const size = type === 'int8' ? 1 : type === 'int16' || type === 'uint16' ? 2 : 4;
  return fc
    .oneof({ arbitrary: plausible, weight: 9 }, { arbitrary: boundary, weight: 2 }, { arbitrary: fc.integer({ min, max }), weight: 1 })
    .map((v) => {
      const b = Buffer.alloc(size);
      if (type === 'int8') b.writeInt8(v);
      else if (type === 'int16') b.writeInt16BE(v);
      else if (type === 'uint16') b.writeUInt16BE(v);
      else if (type === 'int32') b.writeInt32BE(v);
      else b.writeUInt32BE(v);
      return b;
    });
}

const float64Arb = fc
  .oneof(fc.constantFrom(0, -1, 1, NaN, Infinity, -Infinity, 1e308), fc.double())
  .map((v) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return b;
  });

function uuidArb(ctx: FuzzContext): fc.Arbitrary<Buffer> {
  const known = ctx.topicIds.length ? [fc.constantFrom(...ctx.topicIds)] : [];
  return fc.oneof(
    { arbitrary: fc.constant(Buffer.alloc(16)), weight: 3 },
    ...known.map((a) => ({ arbitrary: a, weight: 5 })),
    { arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)), weight: 2 },
  );
}

/** The text of a string field (as UTF-8 bytes), by what the field names. */
function stringContentArb(f: FieldSchema, ctx: FuzzContext): fc.Arbitrary<Buffer> {
  const utf8 = (a: fc.Arbitrary<string>): fc.Arbitrary<Buffer> => a.map((s) => Buffer.from(s, 'utf8'));
  const invalidUtf8 = fc.uint8Array({ minLength: 1, maxLength: 12 }).map((a) => Buffer.from(a.map((x) => x | 0x80)));
  const known =
    f.entityType === 'topicName' ? ctx.topics : f.entityType === 'groupId' ? ctx.groups : f.entityType === 'transactionalId' ? ['fuzz-txn'] : [];
  const generic = fc.constantFrom(
    '',
    'consumer',
    'range',
    'roundrobin',
    'cleanup.policy',
    'retention.ms',
    'compact',
    'delete',
    'max.message.bytes',
    '-1',
    '__consumer_offsets',
    'PLAINTEXT',
  );
  const badNames = fc.constantFrom('.', '..', 'a b', 'x'.repeat(250), 'ü', 'a/b', '__consumer_offsets', 'no-such-topic');
  return fc.oneof(
    ...(known.length ? [{ arbitrary: utf8(fc.constantFrom(...known)), weight: 10 }] : []),
    { arbitrary: utf8(generic), weight: 3 },
    { arbitrary: utf8(fc.string({ maxLength: 12 })), weight: 3 },
    { arbitrary: utf8(badNames), weight: 1 },
    { arbitrary: utf8(fc.string({ maxLength: 8, unit: 'binary' })), weight: 1 },
    { arbitrary: invalidUtf8, weight: 1 },
  );
}

const LONG = 32767;

/** A string field, honestly or hostilely encoded. */
function stringArb(f: FieldSchema, v: number, flexible: boolean, ctx: FuzzContext): fc.Arbitrary<Buffer> {
  const nullable = inRange(f.nullableVersions, v);
  const honest = stringContentArb(f, ctx).map((s) => (flexible ? cat([uvarint(s.length + 1), s]) : cat([int16(s.length), s])));
  const nul = fc.constant(flexible ? Buffer.from([0]) : int16(-1));
  const hostile: fc.Arbitrary<Buffer>[] = flexible
    ? [
        fc.constant(Buffer.from([0])), // null where maybe not nullable
        fc.constant(cat([uvarint(LONG + 1), Buffer.alloc(LONG, 0x61)])), // at the limit
        fc.constant(cat([uvarint(LONG + 2), Buffer.alloc(LONG + 1, 0x61)])), // one past
        fc.constant(cat([uvarint(40001), Buffer.alloc(40000, 0xe2)])), // beyond, not UTF-8
        fc.constantFrom(uvarint(0xffffffff), uvarint(2 ** 31), OVERLONG_UVARINT, uvarint(100)), // length, few bytes
      ]
    : [
        fc.constantFrom(int16(-1), int16(-2), int16(-32768)),
        fc.constant(cat([int16(LONG), Buffer.alloc(LONG, 0x61)])), // at the int16 limit
        fc.constant(cat([int16(LONG), Buffer.alloc(LONG, 0xff)])), // at the limit, every byte invalid UTF-8
        fc.constantFrom(int16(LONG), int16(100)), // length, few bytes
      ];
  return fc.oneof(
    { arbitrary: honest, weight: 48 },
    { arbitrary: nul, weight: nullable ? 6 : 1 },
    { arbitrary: fc.oneof(...hostile), weight: 2 },
  );
}

function bytesArb(f: FieldSchema, v: number, flexible: boolean): fc.Arbitrary<Buffer> {
  const nullable = inRange(f.nullableVersions, v);
  const content = fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a));
  const honest = content.map((b) => (flexible ? cat([uvarint(b.length + 1), b]) : cat([int32(b.length), b])));
  const nul = fc.constant(flexible ? Buffer.from([0]) : int32(-1));
  const hostile = flexible
    ? fc.constantFrom(uvarint(0xffffffff), OVERLONG_UVARINT, uvarint(1 << 30))
    : fc.constantFrom(int32(-2), int32(0x7fffffff), int32(-0x80000000), int32(1 << 20));
  return fc.oneof({ arbitrary: honest, weight: 24 }, { arbitrary: nul, weight: nullable ? 6 : 1 }, { arbitrary: hostile, weight: 2 });
}

function recordsArb(v: number, flexible: boolean): fc.Arbitrary<Buffer> {
  void v;
  const wrap = (b: Buffer): Buffer => (flexible ? cat([uvarint(b.length + 1), b]) : cat([int32(b.length), b]));
  const hostile = flexible
    ? fc.constantFrom(uvarint(0xffffffff), OVERLONG_UVARINT, uvarint(1 << 30))
    : fc.constantFrom(int32(-2), int32(0x7fffffff), int32(1 << 20));
  return fc.oneof(
    { arbitrary: recordsValueArb.map(wrap), weight: 14 },
    { arbitrary: fc.constant(flexible ? Buffer.from([0]) : int32(-1)), weight: 1 },
    { arbitrary: hostile, weight: 1 },
  );
}

// ---- structure -------------------------------------------------------------------------------

interface Gen {
  ctx: FuzzContext;
  v: number;
  messageFlexible: boolean;
}

function isFlexible(f: FieldSchema, g: Gen): boolean {
  return f.flexibleVersions !== undefined ? inRange(f.flexibleVersions, g.v) : g.messageFlexible;
}

/** A field's encoding (flexible: inside a tagged field, always compact). */
function fieldArb(f: FieldSchema, g: Gen, depth: number, forceFlexible = false): fc.Arbitrary<Buffer> {
  const flexible = forceFlexible || isFlexible(f, g);
  const t = f.type;
  if (t.startsWith('[]')) return arrayArb(f, t.slice(2), g, depth, flexible);
  switch (t) {
    case 'bool':
      return fc.oneof({ arbitrary: fc.constantFrom(0, 1), weight: 12 }, { arbitrary: fc.integer({ min: 2, max: 255 }), weight: 1 }).map((x) => Buffer.from([x]));
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'int64':
      return intArb(t, f);
    case 'float64':
      return float64Arb;
    case 'uuid':
      return uuidArb(g.ctx);
    case 'string':
      return stringArb(f, g.v, flexible, g.ctx);
    case 'bytes':
      return bytesArb(f, g.v, flexible);
    case 'records':
      return recordsArb(g.v, flexible);
  }
  // A struct field.
  const body = structArb(f.fields ?? [], g, depth + 1);
  if (!inRange(f.nullableVersions, g.v)) return body;
  return fc.oneof(
    { arbitrary: body.map((b) => cat([Buffer.from([1]), b])), weight: 6 },
    { arbitrary: fc.constant(Buffer.from([0xff])), weight: 2 },
    { arbitrary: fc.tuple(fc.constantFrom(0, 2, 0x80), body).map(([m, b]) => cat([Buffer.from([m]), b])), weight: 1 },
  );
}

function elementArb(f: FieldSchema, inner: string, g: Gen, depth: number, flexible: boolean): fc.Arbitrary<Buffer> {
  if (f.fields) return structArb(f.fields, g, depth + 1);
  // A primitive element: reuse the field's own entity (a []string of topic names is topic names).
  return fieldArb({ ...f, type: inner, nullableVersions: null }, g, depth, flexible);
}

function arrayArb(f: FieldSchema, inner: string, g: Gen, depth: number, flexible: boolean): fc.Arbitrary<Buffer> {
  const nullable = inRange(f.nullableVersions, g.v);
  const maxLength = depth === 0 ? 3 : depth === 1 ? 2 : 1;
  const elements = fc.array(elementArb(f, inner, g, depth, flexible), { maxLength });
  const count = (n: number): Buffer => (flexible ? uvarint(n + 1) : int32(n));
  const honest = elements.map((els) => cat([count(els.length), ...els]));
  const nul = fc.constant(flexible ? Buffer.from([0]) : int32(-1));
  const lying = fc.tuple(elements, fc.constantFrom(1, 2, -1, 1000, 0x7ffffff0)).map(([els, delta]) => {
    const n = delta === 0x7ffffff0 ? 0x7ffffff0 : Math.max(0, els.length + delta);
    return cat([count(n), ...els]);
  });
  const huge = fc.constantFrom(...(flexible ? [uvarint(0xffffffff), OVERLONG_UVARINT] : [int32(0x7fffffff), int32(-2), int32(-0x80000000)]));
  return fc.oneof(
    { arbitrary: honest, weight: 40 },
    { arbitrary: nul, weight: nullable ? 6 : 1 },
    { arbitrary: lying, weight: 2 },
    { arbitrary: huge, weight: 1 },
  );
}

/** The tagged-field section of a flexible struct: known tags, unknown ones, and lying sizes. */
function taggedSectionArb(tagged: FieldSchema[], g: Gen, depth: number): fc.Arbitrary<Buffer> {
  const entry = (tag: number, data: Buffer, sizeDelta = 0): Buffer => cat([uvarint(tag), uvarint(Math.max(0, data.length + sizeDelta)), data]);
  const known = tagged.map((f) => fieldArb(f, g, depth, true).map((data) => ({ tag: f.tag!, data })));
  const unknown = fc.record({
    tag: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.constantFrom(127, 128, 0x7fffffff)),
    data: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
  });
  type Entry = { tag: number; data: Buffer };
  const none: fc.Arbitrary<Entry[]> = fc.constant([]);
  const knownEntries: fc.Arbitrary<Entry[]> = known.length
    ? fc.subarray(known).chain((arbs): fc.Arbitrary<Entry[]> => (arbs.length ? fc.tuple(...arbs).map((t): Entry[] => [...t]) : none))
    : none;
  const entries = fc.tuple(knownEntries, fc.array(unknown, { maxLength: 2 }));
  const honest = entries.map(([k, u]) => {
    const all = [...k, ...u];
    return cat([uvarint(all.length), ...all.map((e) => entry(e.tag, e.data))]);
  });
  const lying = fc.tuple(entries, fc.constantFrom(-1, 1, 7, 1 << 20), fc.constantFrom(0, 1, 3)).map(([[k, u], sizeDelta, countDelta]) => {
    const all = [...k, ...u, { tag: 99, data: Buffer.from([1, 2, 3]) }];
    return cat([uvarint(all.length + countDelta), ...all.map((e, i) => entry(e.tag, e.data, i === all.length - 1 ? sizeDelta : 0))]);
  });
  return fc.oneof(
    { arbitrary: fc.constant(Buffer.from([0])), weight: 40 },
    { arbitrary: honest, weight: 20 },
    { arbitrary: lying, weight: 5 },
    { arbitrary: fc.constant(OVERLONG_UVARINT), weight: 1 },
  );
}

function structArb(fields: readonly FieldSchema[], g: Gen, depth: number): fc.Arbitrary<Buffer> {
  const regular = fields.filter((f) => f.tag === undefined && inRange(f.versions, g.v));
  const parts = regular.map((f) => fieldArb(f, g, depth));
  if (g.messageFlexible) {
    const tagged = fields.filter((f) => f.tag !== undefined && inRange(f.taggedVersions, g.v) && inRange(f.versions, g.v));
    parts.push(taggedSectionArb(tagged, g, depth));
  }
  return parts.length ? fc.tuple(...parts).map((bufs) => cat(bufs)) : fc.constant(Buffer.alloc(0));
}

// ---- frames ----------------------------------------------------------------------------------

/** Request header v1 or v2 (header v2: the tagged section; client id stays an int16 string). */
function headerArb(apiKey: number, version: number, headerVersion: number): fc.Arbitrary<Buffer> {
  const clientId = fc.oneof(
    { arbitrary: fc.constant(cat([int16(4), Buffer.from('fuzz')])), weight: 10 },
    { arbitrary: fc.constant(int16(-1)), weight: 1 },
    { arbitrary: fc.constantFrom(int16(-2), int16(LONG), cat([int16(LONG), Buffer.alloc(LONG, 0xff)])), weight: 1 },
  );
  const tags = fc.oneof(
    { arbitrary: fc.constant(Buffer.from([0])), weight: 10 },
    { arbitrary: fc.constantFrom(Buffer.from([1, 5, 2, 0xaa, 0xbb]), Buffer.from([1, 0, 9, 1]), OVERLONG_UVARINT), weight: 1 },
  );
  // Header v0 (ControlledShutdown v0 only) has no client id.
  const id = headerVersion >= 1 ? clientId : fc.constant(Buffer.alloc(0));
  return fc.tuple(fc.integer({ min: 0, max: 100000 }), id, headerVersion >= 2 ? tags : fc.constant(Buffer.alloc(0))).map(([corr, id, t]) => {
    const h = Buffer.alloc(8);
    h.writeInt16BE(apiKey, 0);
    h.writeInt16BE(version, 2);
    h.writeInt32BE(corr, 4);
    return cat([h, id, t]);
  });
}

export function headerVersionFor(apiKey: number, version: number): number {
  const schema = REQUEST_SCHEMAS.get(apiKey);
  if (apiKey === 7 && version === 0) return 0;
  return schema && inRange(schema.flexibleVersions, version) ? 2 : 1;
}

/** One request of one API version, as a whole frame (size prefix right). */
export function requestArb(apiKey: number, version: number, ctx: FuzzContext): fc.Arbitrary<Buffer> {
  const schema = REQUEST_SCHEMAS.get(apiKey);
  if (!schema) throw new Error(`no schema for api key ${apiKey}`);
  const g: Gen = { ctx, v: version, messageFlexible: inRange(schema.flexibleVersions, version) };
  return fc.tuple(headerArb(apiKey, version, headerVersionFor(apiKey, version)), structArb(schema.fields, g, 0)).map(([h, body]) => {
    const size = int32(h.length + body.length);
    return cat([size, h, body]);
  });
}

/** Damage done to a whole frame: framing and header lies. */
const frameDamage = fc.oneof(
  { arbitrary: fc.constant<Damage>({ kind: 'none' }), weight: 60 },
  { arbitrary: fc.integer({ min: 1, max: 40 }).map((n): Damage => ({ kind: 'truncate', n })), weight: 2 },
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b): Damage => ({ kind: 'trailing', b: Buffer.from(b) })), weight: 2 },
  { arbitrary: fc.constantFrom(-1, -0x80000000, 0x7fffffff, 200 << 20, 3).map((size): Damage => ({ kind: 'size', size })), weight: 1 },
  { arbitrary: fc.integer({ min: -32768, max: 32767 }).map((version): Damage => ({ kind: 'version', version })), weight: 2 },
  { arbitrary: fc.integer({ min: -32768, max: 32767 }).map((apiKey): Damage => ({ kind: 'apiKey', apiKey })), weight: 1 },
);

interface Damage {
  kind: 'none' | 'truncate' | 'trailing' | 'size' | 'version' | 'apiKey';
  n?: number;
  b?: Buffer;
  size?: number;
  version?: number;
  apiKey?: number;
}

function damage(frame: Buffer, d: Damage): Buffer {
  switch (d.kind) {
    case 'truncate': {
      const cut = frame.subarray(0, Math.max(4, frame.length - d.n!));
      const out = Buffer.from(cut);
      out.writeInt32BE(out.length - 4, 0);
      return out;
    }
    case 'trailing': {
      const out = cat([frame, d.b!]);
      out.writeInt32BE(out.length - 4, 0);
      return out;
    }
    case 'size': {
      const out = Buffer.from(frame);
      out.writeInt32BE(d.size!, 0);
      return out;
    }
    case 'version': {
      const out = Buffer.from(frame);
      out.writeInt16BE(d.version!, 6);
      return out;
    }
    case 'apiKey': {
      const out = Buffer.from(frame);
      out.writeInt16BE(d.apiKey!, 4);
      return out;
    }
    default:
      return frame;
  }
}

/** All (api key, version) pairs the broker advertises. */
export function advertisedPairs(ctx: FuzzContext): { apiKey: number; version: number }[] {
  const pairs: { apiKey: number; version: number }[] = [];
  for (const a of ctx.advertised) {
    if (!REQUEST_SCHEMAS.has(a.apiKey)) continue;
    for (let v = a.minVersion; v <= a.maxVersion; v++) pairs.push({ apiKey: a.apiKey, version: v });
  }
  return pairs;
}

/** Any advertised request, sometimes with its framing or header damaged. */
export function anyFrameArb(ctx: FuzzContext): fc.Arbitrary<Buffer> {
  const pairs = advertisedPairs(ctx);
  const cache = new Map<string, fc.Arbitrary<Buffer>>();
  const forPair = (p: { apiKey: number; version: number }): fc.Arbitrary<Buffer> => {
    const key = `${p.apiKey}:${p.version}`;
    let a = cache.get(key);
    if (!a) {
      a = requestArb(p.apiKey, p.version, ctx);
      cache.set(key, a);
    }
    return a;
  };
  return fc
    .constantFrom(...pairs)
    .chain((p) => fc.tuple(forPair(p), frameDamage))
    .map(([frame, d]) => damage(frame, d));
}
