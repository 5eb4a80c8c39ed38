/**
 * The error responses the connection layer sends when a handler fails (issue 8, item 1), checked against
 * Kafka's specs for every API and version the broker serves: built from a request with every field filled,
 * they encode, decode back completely, carry the error in every error-code field the version has (top level,
 * topics, partitions, groups, resources), and mirror the request's topics / partitions / groups / keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reader, Writer } from '../../src/protocol/primitives.js';
import { API_CODECS } from '../../src/protocol/generated/apis.js';
import { readResponseHeader } from '../../src/protocol/generated/response-header.js';
import { responseHeaderVersion } from '../../src/protocol/generated/apis.js';
import { ERROR_RESPONSE_SHAPES, buildErrorResponse, type ArrayMirror } from '../../src/server/error-response.js';
import { encodeResponse } from '../../src/server/request-runner.js';
import { launchBroker, type RunningBroker } from '../../src/broker/launch.js';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { silentLogger } from '../../src/server/logger.js';
import type { ApiHandler } from '../../src/server/request.js';
import { apiSpecs, camel, fieldsAt, sampleMessage, structFields, type MessageSpec, type SpecField } from '../helpers/kafka-specs.js';
import { makeTempDir } from '../helpers/index.js';

const specs = apiSpecs();
const ERROR = { errorCode: 87, errorMessage: 'injected for the test' }; // INVALID_RECORD, any code will do

let running: RunningBroker;
let handlers: ApiHandler[];

beforeAll(async () => {
  const dir = makeTempDir('kfk-error-response');
  running = await launchBroker(brokerConfigFromProperties({ listeners: 'PLAINTEXT://127.0.0.1:0', 'log.dirs': dir }), { logger: silentLogger });
  handlers = [...running.broker.apiHandlers.values()].sort((a, b) => a.apiKey - b.apiKey);
});

afterAll(async () => {
  await running?.stop();
});

/** Every struct of the decoded response with an ErrorCode field in version v, with its path. */
function errorCodes(spec: MessageSpec, fields: readonly SpecField[], value: Record<string, unknown>, v: number, at: string, out: [string, unknown][]): void {
  for (const f of fieldsAt(fields, v)) {
    const name = camel(f.name);
    if (f.name === 'ErrorCode' || f.name === 'PartitionErrorCode') out.push([`${at}.${name}`, value[name]]);
    const nested = structFields(spec, f);
    if (!nested) continue;
    const items = f.type.startsWith('[]') ? ((value[name] as Record<string, unknown>[] | null) ?? []) : [value[name] as Record<string, unknown>];
    items.forEach((item, i) => errorCodes(spec, nested, item, v, `${at}.${name}[${i}]`, out));
  }
}

/** Checks the response arrays against the request arrays they mirror (lengths and copied fields). */
function checkMirrors(mirrors: readonly ArrayMirror[] | undefined, req: Record<string, unknown>, res: Record<string, unknown>, v: number, at: string): void {
  const byInto = new Map<string, ArrayMirror[]>();
  for (const m of mirrors ?? []) {
    if (m.versions && (v < m.versions[0] || v > m.versions[1])) continue;
    byInto.set(m.into, [...(byInto.get(m.into) ?? []), m]);
  }
  for (const [into, ms] of byInto) {
    const sources = ms.flatMap((m) => ((req[m.from] as unknown[] | null | undefined) ?? []).map((el) => [m, el] as const));
    const entries = (res[into] as Record<string, unknown>[] | null) ?? [];
    expect(entries.length, `${at}.${into} mirrors the request`).toBe(sources.length);
    sources.forEach(([m, el], i) => {
      const entry = entries[i]!;
      for (const [to, from] of Object.entries(m.copy)) {
        const expected = from === '' ? el : (el as Record<string, unknown>)[from];
        // a field the response version lacks decodes as its default; the spec walk covers presence
        if (expected !== undefined && entry[to] !== undefined && typeof expected !== 'object') {
          expect(entry[to], `${at}.${into}[${i}].${to}`).toEqual(expected);
        }
      }
      if (m.nested) checkMirrors(m.nested, el as Record<string, unknown>, entry, v, `${at}.${into}[${i}]`);
    });
  }
}

describe('error responses', () => {
  it('exist for every API the broker serves', () => {
    expect(handlers.length).toBeGreaterThan(20);
    const without = handlers.filter((h) => !ERROR_RESPONSE_SHAPES.has(h.apiKey)).map((h) => API_CODECS.get(h.apiKey)!.name);
    expect(without, 'these APIs would close the connection on a failure').toEqual([]);
  });

  it('name only fields that Kafka specifies', () => {
    const allFields = (spec: MessageSpec, fields: readonly SpecField[]): Map<string, SpecField> => new Map(fields.map((f) => [camel(f.name), f]));
    const check = (spec: { request: MessageSpec; response: MessageSpec }, reqFields: readonly SpecField[], resFields: readonly SpecField[], mirrors: readonly ArrayMirror[], at: string) => {
      const req = allFields(spec.request, reqFields);
      const res = allFields(spec.response, resFields);
      for (const m of mirrors) {
        const into = res.get(m.into);
        const from = req.get(m.from);
        expect(into, `${at}: response field ${m.into}`).toBeDefined();
        expect(from, `${at}: request field ${m.from}`).toBeDefined();
        expect(into!.type.startsWith('[]') && from!.type.startsWith('[]'), `${at}: ${m.into} and ${m.from} are arrays`).toBe(true);
        const intoFields = structFields(spec.response, into!)!;
        const fromFields = structFields(spec.request, from!);
        const resEl = allFields(spec.response, intoFields);
        for (const [to, src] of Object.entries(m.copy)) {
          expect(resEl.has(to), `${at}.${m.into}: response field ${to}`).toBe(true);
          if (src === '') expect(fromFields, `${at}.${m.from} is an array of primitives`).toBeNull();
          else expect(fromFields && allFields(spec.request, fromFields).has(src), `${at}.${m.from}: request field ${src}`).toBe(true);
        }
        for (const k of Object.keys(m.fixed ?? {})) expect(resEl.has(k), `${at}.${m.into}: response field ${k}`).toBe(true);
        if (m.nested) check(spec, fromFields ?? [], intoFields, m.nested, `${at}.${m.into}`);
      }
    };
    for (const [key, shape] of ERROR_RESPONSE_SHAPES) {
      const spec = specs.get(key)!;
      const top = allFields(spec.response, spec.response.fields);
      for (const k of Object.keys(shape.fixed ?? {})) expect(top.has(k), `${spec.response.name}: ${k}`).toBe(true);
      check(spec, spec.request.fields, spec.response.fields, shape.mirrors ?? [], spec.response.name);
    }
  });

  it('carry the error in every error field of every version served, and mirror the request', () => {
    let checked = 0;
    for (const h of handlers) {
      const codec = API_CODECS.get(h.apiKey)!;
      const spec = specs.get(h.apiKey)!;
      for (let v = h.minVersion; v <= h.maxVersion; v++) {
        const where = `${codec.name} v${v}`;
        // the request as the broker sees it: encoded and decoded at this version
        const sample = sampleMessage(spec.request, v);
        const w = Writer.alloc(codec.sizeRequest(sample, v));
        codec.writeRequest(w, sample, v);
        const req = codec.readRequest(new Reader(w.buf), v) as Record<string, unknown>;

        const body = buildErrorResponse(h.apiKey, v, req, ERROR);
        expect(body, where).not.toBeNull();
        const frame = encodeResponse(codec, v, 4242, body!);
        const r = new Reader(frame, 4);
        expect(readResponseHeader(r, responseHeaderVersion(h.apiKey, v)).correlationId).toBe(4242);
        const res = codec.readResponse(r, v) as Record<string, unknown>;
        expect(r.remaining, `${where}: response fully consumed`).toBe(0);

        const codes: [string, unknown][] = [];
        errorCodes(spec.response, spec.response.fields, res, v, codec.name, codes);
        expect(codes.length, `${where}: the error is somewhere in the response`).toBeGreaterThan(0);
        for (const [path, value] of codes) expect(value, `${where}: ${path}`).toBe(ERROR.errorCode);
        checkMirrors(ERROR_RESPONSE_SHAPES.get(h.apiKey)!.mirrors, req, res, v, codec.name);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(150);
  });

  it('Produce with acks=0 has none: the client expects no response, so the connection is closed', () => {
    expect(buildErrorResponse(0, 7, { acks: 0, topicData: [] }, ERROR)).toBeNull();
    expect(buildErrorResponse(0, 7, { acks: 1, topicData: [] }, ERROR)).not.toBeNull();
  });

  it('Fetch v13+ carries the error at the top level only, as Kafka does; older versions in every partition too', () => {
    const req = { topics: [{ topic: 't', topicId: Buffer.alloc(16, 1), partitions: [{ partition: 3 }, { partition: 4 }] }] };
    const v12 = buildErrorResponse(1, 12, req, ERROR)!;
    expect(v12).toMatchObject({ errorCode: 87, responses: [{ topic: 't', partitions: [{ partitionIndex: 3, errorCode: 87 }, { partitionIndex: 4, errorCode: 87 }] }] });
    const v13 = buildErrorResponse(1, 13, req, ERROR)!;
    expect(v13).toMatchObject({ errorCode: 87 });
    expect(v13['responses']).toBeUndefined();
  });

  it('an API without a shape has no error response', () => {
    expect(buildErrorResponse(57, 0, {}, ERROR)).toBeNull(); // UpdateFeatures
  });
});
