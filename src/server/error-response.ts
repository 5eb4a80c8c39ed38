/**
 * Error responses built from the request, as Kafka's AbstractRequest.getErrorResponse does: when a handler
 * fails (or its response cannot be encoded) the client still gets an answer of the API it asked, with the
 * error in every place the API carries one: the top-level error code, and one entry per topic, partition,
 * group or resource named in the request.
 *
 * One engine, driven by a small table per API: which request arrays the response arrays mirror, which
 * identifying fields are copied (topic name, partition index, ...) and which fields take a "no value" constant
 * (offset -1, ...). Every struct the engine builds gets `errorCode` and `errorMessage`; the generated writers
 * drop the fields a version does not have, so one shape serves every version. test/unit/error-response.test.ts
 * checks each shape against the Kafka specs for every version the broker serves.
 *
 * APIs without a shape here have no error response: a failure closes the connection (docs/limits.md).
 */
import { ErrorCode } from '../protocol/errors.js';

/** A response array with one entry per element of a request array. */
export interface ArrayMirror {
  /** The response field (camelCase, as in the generated codecs). */
  readonly into: string;
  /** The request field it mirrors; its elements are structs, or strings / numbers for `copy: { x: '' }`. */
  readonly from: string;
  /** Only for these versions (inclusive); other versions leave the response array empty. */
  readonly versions?: readonly [number, number];
  /** Response field ← request element field; '' copies the element itself (an array of names or indexes). */
  readonly copy: Readonly<Record<string, string>>;
  /** Constant fields of every entry, besides errorCode and errorMessage. */
  readonly fixed?: Readonly<Record<string, unknown>>;
  readonly nested?: readonly ArrayMirror[];
  /** The entry's error code field when it is not `errorCode` (AddPartitionsToTxn's `partitionErrorCode`). */
  readonly errorField?: string;
}

export interface ErrorResponseShape {
  /** Constant top-level fields, besides throttleTimeMs, errorCode and errorMessage. */
  readonly fixed?: Readonly<Record<string, unknown>>;
  readonly mirrors?: readonly ArrayMirror[];
  /**
   * The client waits for no response (Produce with acks=0): a failure closes the connection instead, as
   * Kafka does, since an unexpected response would be taken for the answer to a later request.
   */
  readonly expectsNoResponse?: (request: Record<string, unknown>) => boolean;
}

const NO_OFFSET = -1;
const EMPTY = Buffer.alloc(0);
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

/** Partition-level mirror: request partitions (structs) by their index field. */
function partitions(into: string, from: string, indexInto: string, indexFrom: string, fixed?: Record<string, unknown>): ArrayMirror {
  return fixed ? { into, from, copy: { [indexInto]: indexFrom }, fixed } : { into, from, copy: { [indexInto]: indexFrom } };
}

const ALTER_CONFIGS: ErrorResponseShape = {
  mirrors: [{ into: 'responses', from: 'resources', copy: { resourceType: 'resourceType', resourceName: 'resourceName' } }],
};

/** By API key. Field names and "no value" constants follow each API's getErrorResponse in Kafka. */
export const ERROR_RESPONSE_SHAPES: ReadonlyMap<number, ErrorResponseShape> = new Map<number, ErrorResponseShape>([
  // Produce
  [
    0,
    {
      mirrors: [
        {
          into: 'responses',
          from: 'topicData',
          copy: { name: 'name' },
          nested: [partitions('partitionResponses', 'partitionData', 'index', 'index', { baseOffset: NO_OFFSET, logAppendTimeMs: -1, logStartOffset: NO_OFFSET })],
        },
      ],
      expectsNoResponse: (req) => req['acks'] === 0,
    },
  ],
  // Fetch: v13+ carries the error at the top level only (the request names topics by id); earlier versions
  // also in every partition.
  [
    1,
    {
      fixed: { sessionId: 0 },
      mirrors: [
        {
          into: 'responses',
          from: 'topics',
          versions: [0, 12],
          copy: { topic: 'topic', topicId: 'topicId' },
          nested: [
            partitions('partitions', 'partitions', 'partitionIndex', 'partition', {
              highWatermark: NO_OFFSET,
              lastStableOffset: NO_OFFSET,
              logStartOffset: NO_OFFSET,
              preferredReadReplica: -1,
              records: EMPTY,
            }),
          ],
        },
      ],
    },
  ],
  // ListOffsets
  [
    2,
    {
      mirrors: [
        {
          into: 'topics',
          from: 'topics',
          copy: { name: 'name' },
          nested: [partitions('partitions', 'partitions', 'partitionIndex', 'partitionIndex', { timestamp: -1, offset: NO_OFFSET, leaderEpoch: -1, oldStyleOffsets: [] })],
        },
      ],
    },
  ],
  // Metadata: the requested topics, each with the error; no brokers (all topics requested: no topics either).
  [
    3,
    {
      fixed: { brokers: [], clusterId: null, controllerId: -1 },
      mirrors: [{ into: 'topics', from: 'topics', copy: { name: 'name', topicId: 'topicId' }, fixed: { isInternal: false, partitions: [] } }],
    },
  ],
  // ControlledShutdown
  [7, { fixed: { remainingPartitions: [] } }],
  // OffsetCommit
  [
    8,
    {
      mirrors: [{ into: 'topics', from: 'topics', copy: { name: 'name' }, nested: [partitions('partitions', 'partitions', 'partitionIndex', 'partitionIndex')] }],
    },
  ],
  // OffsetFetch: one group (v0-7) or several (v8+)
  [
    9,
    {
      mirrors: [
        {
          into: 'topics',
          from: 'topics',
          copy: { name: 'name' },
          nested: [{ into: 'partitions', from: 'partitionIndexes', copy: { partitionIndex: '' }, fixed: { committedOffset: NO_OFFSET, committedLeaderEpoch: -1, metadata: '' } }],
        },
        {
          into: 'groups',
          from: 'groups',
          copy: { groupId: 'groupId' },
          nested: [
            {
              into: 'topics',
              from: 'topics',
              copy: { name: 'name' },
              nested: [{ into: 'partitions', from: 'partitionIndexes', copy: { partitionIndex: '' }, fixed: { committedOffset: NO_OFFSET, committedLeaderEpoch: -1, metadata: '' } }],
            },
          ],
        },
      ],
    },
  ],
  // FindCoordinator: one key (v0-3) or several (v4+)
  [
    10,
    {
      fixed: { nodeId: -1, host: '', port: -1 },
      mirrors: [{ into: 'coordinators', from: 'coordinatorKeys', copy: { key: '' }, fixed: { nodeId: -1, host: '', port: -1 } }],
    },
  ],
  // JoinGroup (Kafka: UNKNOWN_PROTOCOL_NAME and UNKNOWN_MEMBER_ID are both "")
  [11, { fixed: { generationId: -1, protocolType: null, protocolName: '', leader: '', memberId: '', members: [] } }],
  // Heartbeat
  [12, {}],
  // LeaveGroup
  [13, { fixed: { members: [] } }],
  // SyncGroup
  [14, { fixed: { protocolType: null, protocolName: null, assignment: EMPTY } }],
  // DescribeGroups
  [
    15,
    {
      mirrors: [
        {
          into: 'groups',
          from: 'groups',
          copy: { groupId: '' },
          fixed: { groupState: '', protocolType: '', protocolData: '', members: [], authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED },
        },
      ],
    },
  ],
  // ListGroups
  [16, { fixed: { groups: [] } }],
  // SaslHandshake
  [17, { fixed: { mechanisms: [] } }],
  // ApiVersions
  [18, { fixed: { apiKeys: [] } }],
  // CreateTopics
  [19, { mirrors: [{ into: 'topics', from: 'topics', copy: { name: 'name' }, fixed: { numPartitions: -1, replicationFactor: -1, configs: [] } }] }],
  // DeleteTopics: by name (v0-5) or by name or id (v6+); both mirrors fill `responses`
  [
    20,
    {
      mirrors: [
        { into: 'responses', from: 'topicNames', copy: { name: '' } },
        { into: 'responses', from: 'topics', copy: { name: 'name', topicId: 'topicId' } },
      ],
    },
  ],
  // DeleteRecords
  [
    21,
    {
      mirrors: [
        { into: 'topics', from: 'topics', copy: { name: 'name' }, nested: [partitions('partitions', 'partitions', 'partitionIndex', 'partitionIndex', { lowWatermark: NO_OFFSET })] },
      ],
    },
  ],
  // InitProducerId
  [22, { fixed: { producerId: -1, producerEpoch: -1 } }],
  // AddPartitionsToTxn: one transaction (v0-3) or several (v4+); the partition field is partitionErrorCode
  [
    24,
    {
      mirrors: [
        {
          into: 'resultsByTopicV3AndBelow',
          from: 'v3AndBelowTopics',
          copy: { name: 'name' },
          nested: [{ into: 'resultsByPartition', from: 'partitions', copy: { partitionIndex: '' }, errorField: 'partitionErrorCode' }],
        },
        {
          into: 'resultsByTransaction',
          from: 'transactions',
          copy: { transactionalId: 'transactionalId' },
          nested: [
            {
              into: 'topicResults',
              from: 'topics',
              copy: { name: 'name' },
              nested: [{ into: 'resultsByPartition', from: 'partitions', copy: { partitionIndex: '' }, errorField: 'partitionErrorCode' }],
            },
          ],
        },
      ],
    },
  ],
  // AddOffsetsToTxn, EndTxn
  [25, {}],
  [26, {}],
  // WriteTxnMarkers: every marker's partitions
  [
    27,
    {
      mirrors: [
        {
          into: 'markers',
          from: 'markers',
          copy: { producerId: 'producerId' },
          nested: [{ into: 'topics', from: 'topics', copy: { name: 'name' }, nested: [{ into: 'partitions', from: 'partitionIndexes', copy: { partitionIndex: '' } }] }],
        },
      ],
    },
  ],
  // TxnOffsetCommit
  [
    28,
    {
      mirrors: [{ into: 'topics', from: 'topics', copy: { name: 'name' }, nested: [partitions('partitions', 'partitions', 'partitionIndex', 'partitionIndex')] }],
    },
  ],
  // OffsetForLeaderEpoch
  [
    23,
    {
      mirrors: [
        { into: 'topics', from: 'topics', copy: { topic: 'topic' }, nested: [partitions('partitions', 'partitions', 'partition', 'partition', { leaderEpoch: -1, endOffset: NO_OFFSET })] },
      ],
    },
  ],
  // DescribeAcls: the top-level error
  [29, { fixed: { resources: [] } }],
  // CreateAcls: one result per creation
  [30, { mirrors: [{ into: 'results', from: 'creations', copy: {} }] }],
  // DeleteAcls: one result per filter
  [31, { mirrors: [{ into: 'filterResults', from: 'filters', copy: {}, fixed: { matchingAcls: [] } }] }],
  // SaslAuthenticate
  [36, { fixed: { authBytes: EMPTY, sessionLifetimeMs: 0 } }],
  // DescribeLogDirs: the top-level error (v3+); v0-2 have no top-level error field, so the error also travels in a
  // result (log dir '') per topic the request named
  [35, { mirrors: [{ into: 'results', from: 'topics', copy: {}, fixed: { logDir: '', topics: [], totalBytes: -1, usableBytes: -1 } }] }],
  // DescribeConfigs
  [32, { mirrors: [{ into: 'results', from: 'resources', copy: { resourceType: 'resourceType', resourceName: 'resourceName' }, fixed: { configs: [] } }] }],
  // AlterConfigs
  [33, ALTER_CONFIGS],
  // CreatePartitions
  [37, { mirrors: [{ into: 'results', from: 'topics', copy: { name: 'name' } }] }],
  // DeleteGroups
  [42, { mirrors: [{ into: 'results', from: 'groupsNames', copy: { groupId: '' } }] }],
  // ElectLeaders
  [
    43,
    {
      mirrors: [
        {
          into: 'replicaElectionResults',
          from: 'topicPartitions',
          copy: { topic: 'topic' },
          nested: [{ into: 'partitionResult', from: 'partitions', copy: { partitionId: '' } }],
        },
      ],
    },
  ],
  // IncrementalAlterConfigs
  [44, ALTER_CONFIGS],
  // AlterPartitionReassignments: the top-level error and every requested partition's
  [
    45,
    {
      mirrors: [{ into: 'responses', from: 'topics', copy: { name: 'name' }, nested: [partitions('partitions', 'partitions', 'partitionIndex', 'partitionIndex')] }],
    },
  ],
  // ListPartitionReassignments: the top-level error only (its topics carry no error field), as Kafka's
  [46, { fixed: { topics: [] } }],
  // OffsetDelete: the top-level error only, as Kafka's
  [47, { fixed: { topics: [] } }],
  // DescribeClientQuotas: the top-level error
  [48, { fixed: { entries: null } }],
  // AlterClientQuotas: every entity of the request
  [49, { mirrors: [{ into: 'entries', from: 'entries', copy: { entity: 'entity' } }] }],
  // DescribeUserScramCredentials: the top-level error
  [50, { fixed: { results: [] } }],
  // AlterUserScramCredentials: every user named in the request
  [
    51,
    {
      mirrors: [
        { into: 'results', from: 'deletions', copy: { user: 'name' } },
        { into: 'results', from: 'upsertions', copy: { user: 'name' } },
      ],
    },
  ],
  // DescribeCluster
  [60, { fixed: { clusterId: '', controllerId: -1, brokers: [] } }],
  // DescribeProducers
  [
    61,
    {
      mirrors: [
        {
          into: 'topics',
          from: 'topics',
          copy: { name: 'name' },
          nested: [{ into: 'partitions', from: 'partitionIndexes', copy: { partitionIndex: '' }, fixed: { activeProducers: [] } }],
        },
      ],
    },
  ],
  // DescribeTransactions
  [
    65,
    {
      mirrors: [
        {
          into: 'transactionStates',
          from: 'transactionalIds',
          copy: { transactionalId: '' },
          fixed: { transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [] },
        },
      ],
    },
  ],
  // ListTransactions
  [66, { fixed: { unknownStateFilters: [], transactionStates: [] } }],
]);

export interface ApiErrorInfo {
  readonly errorCode: number;
  /** null for UNKNOWN_SERVER_ERROR: Kafka does not echo internal messages to clients (ApiError.fromThrowable). */
  readonly errorMessage: string | null;
}

export const UNKNOWN_SERVER_ERROR: ApiErrorInfo = { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: null };

/** Whether a failed request of this API can be answered (else its connection is closed). */
export function hasErrorResponse(apiKey: number): boolean {
  return ERROR_RESPONSE_SHAPES.has(apiKey);
}

/**
 * The error response body for a decoded request, or null when this API has no error response (or the client
 * expects none): the caller then closes the connection.
 */
export function buildErrorResponse(apiKey: number, apiVersion: number, request: unknown, error: ApiErrorInfo): Record<string, unknown> | null {
  const shape = ERROR_RESPONSE_SHAPES.get(apiKey);
  if (!shape) return null;
  const req = (request ?? {}) as Record<string, unknown>;
  if (shape.expectsNoResponse?.(req)) return null;
  const out: Record<string, unknown> = { throttleTimeMs: 0, errorCode: error.errorCode, errorMessage: error.errorMessage, ...shape.fixed };
  fillMirrors(out, req, shape.mirrors, apiVersion, error);
  return out;
}

function fillMirrors(
  out: Record<string, unknown>,
  source: Record<string, unknown>,
  mirrors: readonly ArrayMirror[] | undefined,
  apiVersion: number,
  error: ApiErrorInfo,
): void {
  for (const m of mirrors ?? []) {
    if (m.versions && (apiVersion < m.versions[0] || apiVersion > m.versions[1])) continue;
    const elements = source[m.from];
    if (!Array.isArray(elements)) continue; // null (e.g. "all topics") or absent in this version
    const entries = (Array.isArray(out[m.into]) ? out[m.into] : []) as Record<string, unknown>[];
    for (const el of elements as unknown[]) {
      const entry: Record<string, unknown> = { [m.errorField ?? 'errorCode']: error.errorCode, errorMessage: error.errorMessage, ...m.fixed };
      for (const [to, from] of Object.entries(m.copy)) {
        entry[to] = from === '' ? el : (el as Record<string, unknown> | null)?.[from];
      }
      if (m.nested && el !== null && typeof el === 'object') fillMirrors(entry, el as Record<string, unknown>, m.nested, apiVersion, error);
      entries.push(entry);
    }
    out[m.into] = entries;
  }
}
