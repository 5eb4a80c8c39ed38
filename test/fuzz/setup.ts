/**
 * Well-behaved client operations over raw sockets with the generated codecs: the state the fuzzer
 * needs before it starts (a canary topic with records, a topic to aim at, a group), what it learns
 * from the broker (ApiVersions ranges, topic ids), and the health check run after every batch.
 */
import type net from 'node:net';
import { Reader } from '../../src/protocol/primitives.js';
import { API_CODECS, responseHeaderVersion } from '../../src/protocol/generated/apis.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { connect, roundTrip } from './wire.js';
import { encodeRequest } from './seeds.js';
import type { ApiRange, FuzzContext } from './request-gen.js';

export const CANARY_TOPIC = 'fuzz-canary';
export const TARGET_TOPIC = 'fuzz-target';
export const FUZZ_GROUP = 'fuzz-group';
export const CANARY_VALUES = ['canary-0', 'canary-1', 'canary-2'];

let correlation = 1;

/** Sends one request on an open connection and decodes the response body. */
export async function call<T = any>(sock: net.Socket, apiKey: number, version: number, body: unknown, timeoutMs = 10_000): Promise<T> {
  const corr = correlation++;
  const payload = await roundTrip(sock, encodeRequest(apiKey, version, corr, body, 'fuzz-client'), timeoutMs);
  if (payload.readInt32BE(0) !== corr) throw new Error(`correlation id ${payload.readInt32BE(0)}, expected ${corr}`);
  const r = new Reader(payload, 4);
  if (responseHeaderVersion(apiKey, version) >= 1) r.skipTaggedFields();
  return API_CODECS.get(apiKey)!.readResponse(r, version) as T;
}

/** Creates the topics the fuzzer aims at and writes the canary records (acks=-1). */
export async function prepareBroker(port: number): Promise<void> {
  const sock = await connect(port);
  try {
    const created = await call(sock, 19, 4, {
      topics: [CANARY_TOPIC, TARGET_TOPIC].map((name) => ({ name, numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] })),
      timeoutMs: 10_000,
    });
    for (const t of created.topics) {
      if (t.errorCode !== 0 && t.errorCode !== 36) throw new Error(`creating ${t.name}: error ${t.errorCode}`);
    }
    const batch = buildRecordBatch(CANARY_VALUES.map((v) => ({ key: null, value: Buffer.from(v) })));
    const produced = await call(sock, 0, 7, {
      acks: -1,
      timeoutMs: 10_000,
      topicData: [{ name: CANARY_TOPIC, partitionData: [{ index: 0, records: batch }] }],
    });
    const err = produced.responses[0].partitionResponses[0].errorCode;
    if (err !== 0) throw new Error(`producing the canary records: error ${err}`);
    // Makes __consumer_offsets exist, so group requests reach the coordinator.
    await call(sock, 10, 1, { key: FUZZ_GROUP, keyType: 0 });
  } finally {
    sock.destroy();
  }
}

/** What the broker advertises and which topics (with ids) exist. */
export async function learnContext(port: number): Promise<FuzzContext> {
  const sock = await connect(port);
  try {
    const versions = await call(sock, 18, 0, {});
    const advertised: ApiRange[] = versions.apiKeys.map((k: ApiRange) => ({ apiKey: k.apiKey, minVersion: k.minVersion, maxVersion: k.maxVersion }));
    const meta = await call(sock, 3, 10, { topics: null });
    // The canary stays out of the fuzzer's hands (it would delete it); it checks survival at the end.
    const topics = meta.topics.filter((t: { name: string | null }) => t.name !== null && t.name !== CANARY_TOPIC);
    return {
      advertised,
      topics: topics.map((t: { name: string }) => t.name),
      topicIds: topics.map((t: { topicId: Buffer }) => Buffer.from(t.topicId)),
      groups: [FUZZ_GROUP],
    };
  } finally {
    sock.destroy();
  }
}

/** Re-creates the target topic when a fuzzed DeleteTopics removed it (as an operator would). */
export async function ensureTargetTopic(port: number): Promise<void> {
  const sock = await connect(port);
  try {
    await call(sock, 19, 4, { topics: [{ name: TARGET_TOPIC, numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10_000 });
  } finally {
    sock.destroy();
  }
}

/**
 * A well-behaved client on its own connection: ApiVersions v3 and Metadata v9 must be answered and
 * decode. Returns a problem description, or null when healthy.
 */
export async function healthCheck(port: number, timeoutMs = 10_000): Promise<string | null> {
  let sock: net.Socket | null = null;
  try {
    sock = await connect(port);
    const versions = await call(sock, 18, 3, { clientSoftwareName: 'kfk-fuzz', clientSoftwareVersion: '1' }, timeoutMs);
    if (versions.errorCode !== 0) return `ApiVersions answered error ${versions.errorCode}`;
    const meta = await call(sock, 3, 9, { topics: [{ name: CANARY_TOPIC }], allowAutoTopicCreation: false }, timeoutMs);
    if (meta.topics[0]?.errorCode !== 0) return `Metadata for ${CANARY_TOPIC} answered error ${meta.topics[0]?.errorCode}`;
    return null;
  } catch (err) {
    return `well-behaved client failed: ${(err as Error).message}`;
  } finally {
    sock?.destroy();
  }
}

export function apiVersionsMax(ctx: FuzzContext): number {
  return ctx.advertised.find((a) => a.apiKey === 18)?.maxVersion ?? 0;
}
