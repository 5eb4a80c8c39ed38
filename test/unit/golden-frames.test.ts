/**
 * Golden frames from real clients, decoded with the generated header and body codecs and re-encoded byte for byte.
 *
 * - `manifest.json` (scripts/capture-frames.mjs): the first requests of each client, captured without a broker.
 * - `client-frames.json` (scripts/capture-client-frames.mjs): request AND response pairs of kcat, kafkajs and
 *   kafka-python talking to a kfk broker (Produce, Fetch, ListOffsets, Metadata, ApiVersions, CreateTopics).
 *
 * Record batches are raw bytes in the protocol codecs; they are checked with the record-batch decoder.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FRAMES_DIR, listFrameFixtures, loadFrame } from '../helpers/index.js';
import { Reader, Writer } from '../../src/protocol/primitives.js';
import { API_CODECS, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/generated/apis.js';
import {
  readRequestHeader,
  sizeRequestHeader,
  writeRequestHeader,
  type RequestHeader,
} from '../../src/protocol/generated/request-header.js';
import { readResponseHeader, sizeResponseHeader, writeResponseHeader } from '../../src/protocol/generated/response-header.js';
import { decodeRecordBatches, verifyBatchCrc, type DecodedRecord } from '../../src/protocol/records.js';

interface Decoded<T = any> {
  header: { correlationId: number } & Partial<RequestHeader>;
  body: T;
}

/** Decodes a request frame (size prefix included), re-encodes it and checks the bytes are identical. */
function roundTripRequest<T = any>(frame: Buffer): Decoded<T> & { headerVersion: number } {
  expect(frame.readInt32BE(0)).toBe(frame.length - 4);
  const apiKey = frame.readInt16BE(4);
  const apiVersion = frame.readInt16BE(6);
  const codec = API_CODECS.get(apiKey);
  expect(codec, `api key ${apiKey}`).toBeDefined();
  const hv = requestHeaderVersion(apiKey, apiVersion);
  const r = new Reader(frame, 4);
  const header = readRequestHeader(r, hv);
  const body = codec!.readRequest(r, apiVersion) as T;
  expect(r.remaining, 'request fully consumed').toBe(0);

  const size = sizeRequestHeader(header, hv) + codec!.sizeRequest(body, apiVersion);
  expect(size).toBe(frame.length - 4);
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeRequestHeader(w, header, hv);
  codec!.writeRequest(w, body, apiVersion);
  expect(w.pos).toBe(frame.length);
  expect(w.finish().equals(frame), 're-encoded request is byte-identical').toBe(true);
  return { header, body, headerVersion: hv };
}

/** Decodes a response frame (its api key/version come from the request), re-encodes it byte for byte. */
function roundTripResponse<T = any>(frame: Buffer, apiKey: number, apiVersion: number): Decoded<T> {
  expect(frame.readInt32BE(0)).toBe(frame.length - 4);
  const codec = API_CODECS.get(apiKey)!;
  const hv = responseHeaderVersion(apiKey, apiVersion);
  const r = new Reader(frame, 4);
  const header = readResponseHeader(r, hv);
  const body = codec.readResponse(r, apiVersion) as T;
  expect(r.remaining, 'response fully consumed').toBe(0);

  const size = sizeResponseHeader(header, hv) + codec.sizeResponse(body, apiVersion);
  expect(size).toBe(frame.length - 4);
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeResponseHeader(w, header, hv);
  codec.writeResponse(w, body, apiVersion);
  expect(w.pos).toBe(frame.length);
  expect(w.finish().equals(frame), 're-encoded response is byte-identical').toBe(true);
  return { header, body };
}

function records(buf: Buffer | null): DecodedRecord[] {
  if (!buf || buf.length === 0) return [];
  const batches = decodeRecordBatches(buf);
  let pos = 0;
  for (const b of batches) {
    expect(verifyBatchCrc(buf, pos), 'batch CRC').toBe(true);
    pos += b.sizeInBytes;
  }
  return batches.flatMap((b) => b.records);
}

const str = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));

// ---------------------------------------------------------------------------------------------------------------
// First requests (manifest.json)

describe('first requests of each client (manifest.json)', () => {
  const fixtures = listFrameFixtures();

  it.each(fixtures.map((f) => [f.file, f] as const))('%s decodes and re-encodes byte for byte', (_, f) => {
    const { header, headerVersion } = roundTripRequest(loadFrame(f.file));
    expect(header).toEqual({
      requestApiKey: f.apiKey,
      requestApiVersion: f.apiVersion,
      correlationId: f.correlationId,
      clientId: f.clientId,
    });
    expect(headerVersion).toBe(f.apiKey === 18 && f.apiVersion >= 3 ? 2 : 1);
  });

  const byFile = (client: string, apiKey: number) => {
    const f = fixtures.find((x) => x.client === client && x.apiKey === apiKey);
    expect(f, `${client} key ${apiKey} fixture`).toBeDefined();
    return roundTripRequest(loadFrame(f!.file));
  };

  it('kcat: ApiVersions v3 with ClientSoftwareName librdkafka 2.0.2, client id rdkafka', () => {
    const { header, body } = byFile('kcat', 18);
    expect(header.clientId).toBe('rdkafka');
    expect(body).toEqual({ clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' });
  });

  it('confluent-kafka: ApiVersions v3 names the Python client but keeps client id rdkafka', () => {
    const { header, body } = byFile('confluent-kafka', 18);
    expect(header.clientId).toBe('rdkafka');
    expect(body).toEqual({ clientSoftwareName: 'confluent-kafka-python', clientSoftwareVersion: '1.7.0-rdkafka-2.0.2' });
  });

  it('platformatic: ApiVersions v3 with ClientSoftwareName platformatic-kafka 1.35.0', () => {
    const { header, body } = byFile('platformatic', 18);
    expect(header.clientId).toBe('kfk-capture');
    expect(body).toEqual({ clientSoftwareName: 'platformatic-kafka', clientSoftwareVersion: '1.35.0' });
  });

  it('kafkajs: ApiVersions v2 (empty body), correlation id 0', () => {
    const { header, body } = byFile('kafkajs', 18);
    expect(header).toMatchObject({ requestApiVersion: 2, correlationId: 0, clientId: 'kafkajs' });
    expect(API_CODECS.get(18)!.sizeRequest(body, 2)).toBe(0); // no body bytes (the v3 fields keep their defaults)
  });

  it('kafka-python: the probe is ApiVersions v0 then Metadata v0 with topics = [] (all topics in v0)', () => {
    const api = byFile('kafka-python', 18);
    expect(api.header).toMatchObject({ requestApiVersion: 0, correlationId: 1, clientId: 'kafka-python-producer-1' });
    expect(API_CODECS.get(18)!.sizeRequest(api.body, 0)).toBe(0);
    const md = byFile('kafka-python', 3);
    expect(md.header).toMatchObject({ requestApiVersion: 0, correlationId: 2 });
    expect(md.body.topics).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Request/response pairs (client-frames.json)

interface CapturedFile {
  file: string;
  direction: 'request' | 'response';
  apiKey: number;
  apiName: string;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  size: number;
  sha256: string;
}
interface CapturedManifest {
  clients: Record<string, { version: string; topic: string; files: CapturedFile[] }>;
}

const capturedManifest = JSON.parse(
  fs.readFileSync(path.join(FRAMES_DIR, 'client-frames.json'), 'utf8'),
) as CapturedManifest;
const captured = Object.entries(capturedManifest.clients).flatMap(([client, c]) =>
  c.files.map((f) => ({ ...f, client, topic: c.topic })),
);

function pair(client: string, apiKey: number, apiVersion?: number) {
  const req = captured.find(
    (f) => f.client === client && f.apiKey === apiKey && f.direction === 'request' && (apiVersion === undefined || f.apiVersion === apiVersion),
  );
  expect(req, `${client} request key ${apiKey}`).toBeDefined();
  const res = captured.find((f) => f.client === client && f.direction === 'response' && f.apiKey === apiKey && f.apiVersion === req!.apiVersion)!;
  expect(res, `${client} response key ${apiKey}`).toBeDefined();
  const request = roundTripRequest(loadFrame(req!.file));
  const response = roundTripResponse(loadFrame(res.file), req!.apiKey, req!.apiVersion);
  expect(response.header.correlationId).toBe(request.header.correlationId);
  return { request, response, version: req!.apiVersion, topic: req!.topic };
}

describe('request/response pairs from clients talking to kfk (client-frames.json)', () => {
  it('covers Produce, Fetch, ListOffsets, Metadata and CreateTopics of kcat, kafkajs and kafka-python', () => {
    const have = new Set(captured.filter((f) => f.direction === 'request').map((f) => `${f.client}:${f.apiName}`));
    for (const key of [
      'kcat:produce', 'kcat:fetch', 'kcat:listoffsets', 'kcat:metadata',
      'kafkajs:produce', 'kafkajs:listoffsets', 'kafkajs:metadata', 'kafkajs:createtopics',
      'kafka-python:produce', 'kafka-python:fetch', 'kafka-python:listoffsets', 'kafka-python:metadata', 'kafka-python:createtopics',
    ]) {
      expect(have, key).toContain(key);
    }
    // every request has its response
    for (const f of captured.filter((x) => x.direction === 'request')) {
      expect(captured.some((x) => x.direction === 'response' && x.file === f.file.replace('-request.bin', '-response.bin'))).toBe(true);
    }
  });

  it.each(captured.map((f) => [f.file, f] as const))('%s decodes and re-encodes byte for byte', (_, f) => {
    const bytes = loadFrame(f.file);
    expect(bytes.length).toBe(f.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
    if (f.direction === 'request') {
      const { header } = roundTripRequest(bytes);
      expect(header).toEqual({ requestApiKey: f.apiKey, requestApiVersion: f.apiVersion, correlationId: f.correlationId, clientId: f.clientId });
    } else {
      const { header } = roundTripResponse(bytes, f.apiKey, f.apiVersion);
      expect(header.correlationId).toBe(f.correlationId);
    }
  });

  const clientAcks: Record<string, number> = { kcat: -1, kafkajs: -1, 'kafka-python': 1 };
  for (const client of ['kcat', 'kafkajs', 'kafka-python']) {
    it(`${client}: Produce carries k1..k3 / v1..v3 with header source=${client}, and every partition succeeded`, () => {
      const { request, response, version, topic } = pair(client, 0);
      expect(version).toBe(7);
      expect(request.body.acks).toBe(clientAcks[client]);
      expect(request.body.transactionalId).toBeNull();
      expect(request.body.topicData.map((t: { name: string }) => t.name)).toEqual([topic]);
      const sent = request.body.topicData[0].partitionData.flatMap((p: { records: Buffer }) => records(p.records));
      expect(sent.map((r: DecodedRecord) => [str(r.key), str(r.value)]).sort()).toEqual([
        ['k1', 'v1'],
        ['k2', 'v2'],
        ['k3', 'v3'],
      ]);
      for (const r of sent as DecodedRecord[]) expect(r.headers.map((h) => [h.key, str(h.value)])).toEqual([['source', client]]);

      const parts = response.body.responses.flatMap((t: { name: string; partitionResponses: unknown[] }) => {
        expect(t.name).toBe(topic);
        return t.partitionResponses;
      });
      expect(parts.map((p: { index: number }) => p.index).sort()).toEqual(
        request.body.topicData[0].partitionData.map((p: { index: number }) => p.index).sort(),
      );
      for (const p of parts) expect(p).toMatchObject({ errorCode: 0, baseOffset: 0, logAppendTimeMs: -1, logStartOffset: 0 });
    });
  }

  for (const [client, expectedIsolation] of [['kcat', 1], ['kafka-python', 0]] as const) {
    it(`${client}: Fetch returns the produced records (isolation level ${expectedIsolation}, no fetch session)`, () => {
      const { request, response, topic } = pair(client, 1);
      expect(request.body.isolationLevel).toBe(expectedIsolation);
      expect(request.body.replicaId).toBe(-1);
      expect(request.body.topics.map((t: { topic: string }) => t.topic)).toEqual([topic]);
      expect(response.body.errorCode).toBe(0);
      expect(response.body.sessionId).toBe(0);
      const got: [string | null, string | null][] = [];
      for (const t of response.body.responses) {
        expect(t.topic).toBe(topic);
        for (const p of t.partitions) {
          expect(p.errorCode).toBe(0);
          expect(p.lastStableOffset).toBe(p.highWatermark);
          const recs = records(p.records);
          expect(recs.length).toBeLessThanOrEqual(p.highWatermark);
          got.push(...recs.map((r) => [str(r.key), str(r.value)] as [string | null, string | null]));
        }
      }
      expect(got.length).toBeGreaterThan(0);
      for (const kv of got) expect([['k1', 'v1'], ['k2', 'v2'], ['k3', 'v3']]).toContainEqual(kv);
    });
  }

  for (const client of ['kcat', 'kafkajs', 'kafka-python']) {
    it(`${client}: ListOffsets answers every partition asked for without error`, () => {
      const { request, response, topic } = pair(client, 2);
      const asked = request.body.topics.flatMap((t: { name: string; partitions: { partitionIndex: number }[] }) =>
        t.partitions.map((p) => `${t.name}/${p.partitionIndex}`),
      );
      const answered = response.body.topics.flatMap((t: { name: string; partitions: { partitionIndex: number; errorCode: number; offset: number }[] }) =>
        t.partitions.map((p) => {
          expect(p.errorCode).toBe(0);
          expect(p.offset).toBeGreaterThanOrEqual(0);
          return `${t.name}/${p.partitionIndex}`;
        }),
      );
      expect(answered.sort()).toEqual(asked.sort());
      expect(asked.every((a: string) => a.startsWith(`${topic}/`))).toBe(true);
    });

    it(`${client}: Metadata names broker 0 (and controller 0 from v1) and the client's topic with 2 partitions`, () => {
      const versions = [...new Set(captured.filter((f) => f.client === client && f.apiKey === 3).map((f) => f.apiVersion))];
      expect(versions.length).toBeGreaterThan(0);
      let sawTopic = false;
      for (const v of versions) {
        const { response, topic } = pair(client, 3, v);
        expect(response.body.brokers.map((b: { nodeId: number; host: string }) => [b.nodeId, b.host])).toEqual([[0, '127.0.0.1']]);
        if (v >= 1) expect(response.body.controllerId).toBe(0);
        const t = response.body.topics.find((x: { name: string }) => x.name === topic);
        if (t) {
          sawTopic = true;
          expect(t.errorCode).toBe(0);
          expect(t.partitions.map((p: { partitionIndex: number; leaderId: number }) => [p.partitionIndex, p.leaderId]).sort()).toEqual([
            [0, 0],
            [1, 0],
          ]);
        }
      }
      expect(sawTopic).toBe(true);
    });

    it(`${client}: the ApiVersions response (header v0 even for v3) lists Produce, Fetch and ApiVersions 0-3`, () => {
      const { response } = pair(client, 18);
      expect(response.body.errorCode).toBe(0);
      const keys = new Map(response.body.apiKeys.map((k: { apiKey: number; minVersion: number; maxVersion: number }) => [k.apiKey, k]));
      expect(keys.get(18)).toEqual({ apiKey: 18, minVersion: 0, maxVersion: 3 });
      expect(keys.has(0)).toBe(true);
      expect(keys.has(1)).toBe(true);
    });
  }

  for (const client of ['kafkajs', 'kafka-python']) {
    it(`${client}: CreateTopics v3 creates the topic with 2 partitions`, () => {
      const { request, response, version, topic } = pair(client, 19);
      expect(version).toBe(3);
      expect(request.body.topics).toMatchObject([{ name: topic, numPartitions: 2 }]);
      expect(response.body.topics).toMatchObject([{ name: topic, errorCode: 0 }]);
    });
  }
});
