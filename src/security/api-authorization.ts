/**
 * How every API is authorized, as Kafka's KafkaApis (and AuthHelper, AclApis) authorize it, as data: one entry per
 * API key with the operation, resource and error of each check, and a function that applies them to a decoded
 * request. test/unit/api-authorization.test.ts fails when a served API has no entry.
 *
 * A rule's verdict is one of:
 * - null: allowed as it is;
 * - { deny }: the whole request refused: the API's error response (error-response.ts) with that code, as Kafka's
 *   getErrorResponse (an API without one has its connection closed);
 * - { request, after }: the handler runs on the authorized part of the request; `after` adds the refused items to
 *   its response with their error (TOPIC_AUTHORIZATION_FAILED, ...), as Kafka merges unauthorized results;
 * - { respond }: answered here (e.g. AddPartitionsToTxn: nothing is done when a topic is refused);
 * - { close }: the connection is closed (acks=0 Produce with a refused topic, as Kafka).
 * Metadata filters its topics in its handler (metadata.ts), which has the topics to filter.
 */
import { ErrorCode } from '../protocol/errors.js';
import { ERROR_RESPONSE_SHAPES, buildErrorResponse } from '../server/error-response.js';
import { AclOperation as Op, CLUSTER_NAME, ResourceType as R, enumName } from './acl.js';
import type { KafkaPrincipal } from './principal.js';

/** What a rule may ask of the authorizer for the request at hand. */
export interface AuthorizationScope {
  readonly apiKey: number;
  readonly apiVersion: number;
  allowed(operation: number, resourceType: number, name: string): boolean;
  /** Some resource of the type (Kafka's authorizeByResourceType). */
  allowedOnSomeResource(operation: number, resourceType: number): boolean;
  authorizedOperations(resourceType: number, name: string): number;
  /** A topic's name by id (Fetch v13+, DeleteTopics v6), if the broker knows it. */
  topicName(id: Buffer): string | undefined;
}

export type Verdict =
  | null
  | { readonly deny: number }
  | { readonly close: true }
  | { readonly respond: unknown }
  | { readonly request: unknown; after(response: unknown): unknown };

export interface ApiAuthorization {
  /** What is checked, for docs/security.md and the audit log. */
  readonly checks: string;
  authorize(request: any, scope: AuthorizationScope): Verdict;
}

const NONE: ApiAuthorization = { checks: 'none (allowed before and regardless of authentication)', authorize: () => null };

function cluster(op: number, code = ErrorCode.CLUSTER_AUTHORIZATION_FAILED): ApiAuthorization {
  return { checks: `${enumName(Op, op)} on the cluster (${errorNameOf(code)})`, authorize: (_req, s) => (s.allowed(op, R.CLUSTER, CLUSTER_NAME) ? null : { deny: code }) };
}

function group(op: number, field = 'groupId'): ApiAuthorization {
  return { checks: `${enumName(Op, op)} on the group (GROUP_AUTHORIZATION_FAILED)`, authorize: (req, s) => (s.allowed(op, R.GROUP, String(req[field])) ? null : { deny: ErrorCode.GROUP_AUTHORIZATION_FAILED }) };
}

function errorNameOf(code: number): string {
  return Object.entries(ErrorCode).find(([, v]) => v === code)?.[0] ?? String(code);
}

/** The response arrays an API's error response mirrors from the request (where refused items are merged in). */
function mirroredFields(apiKey: number): string[] {
  return [...new Set((ERROR_RESPONSE_SHAPES.get(apiKey)?.mirrors ?? []).map((m) => m.into))];
}

/**
 * Splits a request's array `field` by a check per item (an error code, or null when allowed): the handler gets the
 * allowed items; the refused ones come back through the API's error response, merged into the handler's answer.
 */
function splitItems(req: Record<string, unknown>, scope: AuthorizationScope, field: string, check: (item: any) => number | null): Verdict {
  const items = req[field];
  if (!Array.isArray(items)) return null;
  const refused = new Map<number, unknown[]>();
  const allowed: unknown[] = [];
  for (const item of items) {
    const code = check(item);
    if (code === null) allowed.push(item);
    else refused.set(code, [...(refused.get(code) ?? []), item]);
  }
  if (refused.size === 0) return null;
  const fields = mirroredFields(scope.apiKey);
  return {
    request: { ...req, [field]: allowed },
    after(response) {
      const out = response as Record<string, unknown>;
      for (const [code, list] of refused) {
        const err = buildErrorResponse(scope.apiKey, scope.apiVersion, { ...req, [field]: list }, { errorCode: code, errorMessage: null });
        if (err === null) continue;
        for (const f of fields) if (Array.isArray(err[f])) out[f] = [...((out[f] as unknown[] | undefined) ?? []), ...(err[f] as unknown[])];
      }
      return out;
    },
  };
}

/** Chains verdicts: the first refusal wins; item splits compose (the second runs on the first's request). */
function chain(req: any, scope: AuthorizationScope, ...steps: ((req: any) => Verdict)[]): Verdict {
  let current = req;
  const afters: ((r: unknown) => unknown)[] = [];
  for (const step of steps) {
    const v = step(current);
    if (v === null) continue;
    if (!('request' in v)) return v;
    current = v.request;
    afters.push((r) => v.after(r));
  }
  if (afters.length === 0) return null;
  return { request: current, after: (r) => afters.reduceRight((acc, f) => f(acc), r) };
}

const topicCheck = (s: AuthorizationScope, op: number, name: (item: any) => string) => (item: any) => (s.allowed(op, R.TOPIC, name(item)) ? null : ErrorCode.TOPIC_AUTHORIZATION_FAILED);

function topics(op: number, field: string, nameField = 'name'): ApiAuthorization {
  return {
    checks: `${enumName(Op, op)} on each topic (TOPIC_AUTHORIZATION_FAILED per topic)`,
    authorize: (req, s) => splitItems(req, s, field, topicCheck(s, op, (t) => t[nameField])),
  };
}

const txnCheck = (op: number) => (req: any, s: AuthorizationScope): Verdict =>
  req.transactionalId !== null && req.transactionalId !== undefined && req.transactionalId !== '' && !s.allowed(op, R.TRANSACTIONAL_ID, req.transactionalId)
    ? { deny: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED }
    : null;

/** A follower's replica id (Fetch v15+ carries it in replica_state). */
function replicaIdOf(req: any): number {
  return req.replicaState && req.replicaState.replicaId >= 0 ? req.replicaState.replicaId : (req.replicaId ?? -1);
}

const FETCH: ApiAuthorization = {
  checks: 'followers: ClusterAction on the cluster, else every partition TOPIC_AUTHORIZATION_FAILED; consumers: Read on each topic',
  authorize(req, s) {
    const follower = replicaIdOf(req) >= 0;
    const op = follower ? Op.CLUSTER_ACTION : Op.READ;
    if (follower && s.allowed(Op.CLUSTER_ACTION, R.CLUSTER, CLUSTER_NAME)) return null;
    const nameOf = (t: any): string | undefined => (s.apiVersion >= 13 ? s.topicName(t.topicId) : t.topic);
    // Kafka answers a follower without ClusterAction with TOPIC_AUTHORIZATION_FAILED for every partition
    const refusedTopic = (t: any): boolean => {
      if (follower) return true;
      const name = nameOf(t);
      return name !== undefined && !s.allowed(op, R.TOPIC, name);
    };
    const refused = (req.topics as any[]).filter(refusedTopic);
    if (refused.length === 0) return null;
    return {
      request: { ...req, topics: (req.topics as any[]).filter((t) => !refusedTopic(t)) },
      after(response) {
        const r = response as { responses: unknown[] };
        for (const t of refused) {
          r.responses.push({
            topic: t.topic ?? nameOf(t) ?? '',
            topicId: t.topicId,
            partitions: (t.partitions as any[]).map((p) => ({
              partitionIndex: p.partition,
              errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
              highWatermark: -1,
              lastStableOffset: -1,
              logStartOffset: -1,
              abortedTransactions: null,
              preferredReadReplica: -1,
              records: Buffer.alloc(0),
            })),
          });
        }
        return r;
      },
    };
  },
};

const PRODUCE: ApiAuthorization = {
  checks: 'Write on the transactional id if any (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); Write on each topic (TOPIC_AUTHORIZATION_FAILED per partition; acks=0: the connection is closed)',
  authorize(req, s) {
    const v = chain(req, s, (r) => txnCheck(Op.WRITE)(r, s), (r) => splitItems(r, s, 'topicData', topicCheck(s, Op.WRITE, (t) => t.name)));
    if (v !== null && req.acks === 0) return { close: true };
    return v;
  },
};

const OFFSET_FETCH: ApiAuthorization = {
  checks: 'Describe on the group (GROUP_AUTHORIZATION_FAILED); Describe on each topic (requested: TOPIC_AUTHORIZATION_FAILED; all: left out)',
  authorize(req, s) {
    const describable = (t: { name: string }) => s.allowed(Op.DESCRIBE, R.TOPIC, t.name);
    const refusedPartition = (name: string, partitionIndex: number) => ({
      name,
      partitionIndex,
      committedOffset: -1,
      committedLeaderEpoch: -1,
      metadata: '',
      errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    });
    if (s.apiVersion < 8) {
      if (!s.allowed(Op.DESCRIBE, R.GROUP, req.groupId)) return { deny: ErrorCode.GROUP_AUTHORIZATION_FAILED };
      const requested = req.topics as { name: string; partitionIndexes: number[] }[] | null;
      const refused = (requested ?? []).filter((t) => !describable(t));
      if (requested !== null && refused.length === 0) return null;
      return {
        request: requested === null ? req : { ...req, topics: requested.filter(describable) },
        after(response) {
          const r = response as { topics: { name: string; partitions: unknown[] }[] };
          if (requested === null) r.topics = r.topics.filter(describable);
          for (const t of refused) r.topics.push({ name: t.name, partitions: t.partitionIndexes.map((p) => refusedPartition(t.name, p)) });
          return r;
        },
      };
    }
    const groups = req.groups as { groupId: string; topics: { name: string; partitionIndexes: number[] }[] | null }[];
    const refusedGroups = groups.filter((g) => !s.allowed(Op.DESCRIBE, R.GROUP, g.groupId));
    const allowedGroups = groups.filter((g) => !refusedGroups.includes(g));
    const refusedTopics = new Map(allowedGroups.map((g) => [g.groupId, (g.topics ?? []).filter((t) => !describable(t))]));
    if (refusedGroups.length === 0 && [...refusedTopics.values()].every((l) => l.length === 0) && allowedGroups.every((g) => g.topics !== null)) return null;
    return {
      request: { ...req, groups: allowedGroups.map((g) => ({ ...g, topics: g.topics === null ? null : g.topics.filter(describable) })) },
      after(response) {
        const r = response as { groups: { groupId: string; topics: { name: string; partitions: unknown[] }[]; errorCode: number }[] };
        for (const g of r.groups) {
          const asked = allowedGroups.find((x) => x.groupId === g.groupId);
          if (asked?.topics === null) g.topics = g.topics.filter(describable);
          for (const t of refusedTopics.get(g.groupId) ?? []) g.topics.push({ name: t.name, partitions: t.partitionIndexes.map((p) => refusedPartition(t.name, p)) });
        }
        for (const g of refusedGroups) r.groups.push({ groupId: g.groupId, topics: [], errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED });
        return r;
      },
    };
  },
};

const FIND_COORDINATOR: ApiAuthorization = {
  checks: 'Describe on the group (GROUP_AUTHORIZATION_FAILED) or the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), per key',
  authorize(req, s) {
    const code = (key: string, keyType: number): number | null => {
      if (keyType === 1) return s.allowed(Op.DESCRIBE, R.TRANSACTIONAL_ID, key) ? null : ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
      if (keyType === 0) return s.allowed(Op.DESCRIBE, R.GROUP, key) ? null : ErrorCode.GROUP_AUTHORIZATION_FAILED;
      return null;
    };
    const keyType = s.apiVersion >= 1 ? req.keyType : 0;
    if (s.apiVersion < 4) {
      const c = code(req.key, keyType);
      return c === null ? null : { deny: c };
    }
    const keys = req.coordinatorKeys as string[];
    const refused = keys.map((k) => [k, code(k, keyType)] as const).filter(([, c]) => c !== null);
    if (refused.length === 0) return null;
    return {
      request: { ...req, coordinatorKeys: keys.filter((k) => code(k, keyType) === null) },
      after(response) {
        const r = response as { coordinators: unknown[] };
        for (const [key, c] of refused) r.coordinators.push({ key, nodeId: -1, host: '', port: -1, errorCode: c, errorMessage: null });
        return r;
      },
    };
  },
};

const DESCRIBE_GROUPS: ApiAuthorization = {
  checks: 'Describe on each group (GROUP_AUTHORIZATION_FAILED per group); authorized_operations when asked',
  authorize(req, s) {
    const v = splitItems(req, s, 'groups', (g: string) => (s.allowed(Op.DESCRIBE, R.GROUP, g) ? null : ErrorCode.GROUP_AUTHORIZATION_FAILED));
    if (!req.includeAuthorizedOperations) return v;
    const fill = (response: unknown) => {
      const r = response as { groups: { groupId: string; errorCode: number; authorizedOperations: number }[] };
      for (const g of r.groups) if (g.errorCode === ErrorCode.NONE) g.authorizedOperations = s.authorizedOperations(R.GROUP, g.groupId);
      return r;
    };
    return v === null ? { request: req, after: fill } : 'request' in v ? { request: v.request, after: (r) => fill(v.after(r)) } : v;
  },
};

const LIST_GROUPS: ApiAuthorization = {
  checks: 'Describe on the cluster lists every group; otherwise only the groups with Describe',
  authorize(req, s) {
    if (s.allowed(Op.DESCRIBE, R.CLUSTER, CLUSTER_NAME)) return null;
    return {
      request: req,
      after(response) {
        const r = response as { groups: { groupId: string }[] };
        r.groups = r.groups.filter((g) => s.allowed(Op.DESCRIBE, R.GROUP, g.groupId));
        return r;
      },
    };
  },
};

const CREATE_TOPICS: ApiAuthorization = {
  checks: 'Create on the cluster, else Create on each topic (TOPIC_AUTHORIZATION_FAILED); configs returned only with DescribeConfigs on the topic',
  authorize(req, s) {
    const v = s.allowed(Op.CREATE, R.CLUSTER, CLUSTER_NAME) ? null : splitItems(req, s, 'topics', topicCheck(s, Op.CREATE, (t) => t.name));
    const hideConfigs = (response: unknown) => {
      const r = response as { topics: { name: string; errorCode: number; configs: unknown; topicConfigErrorCode: number }[] };
      for (const t of r.topics) {
        if (t.errorCode === ErrorCode.NONE && !s.allowed(Op.DESCRIBE_CONFIGS, R.TOPIC, t.name)) {
          t.configs = [];
          t.topicConfigErrorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
        }
      }
      return r;
    };
    if (s.apiVersion < 5) return v;
    return v === null ? { request: req, after: hideConfigs } : 'request' in v ? { request: v.request, after: (r) => hideConfigs(v.after(r)) } : v;
  },
};

const DELETE_TOPICS: ApiAuthorization = {
  checks: 'Delete on each topic (TOPIC_AUTHORIZATION_FAILED); by id also Describe',
  authorize(req, s) {
    if (s.apiVersion < 6) return splitItems(req, s, 'topicNames', (name: string) => (s.allowed(Op.DELETE, R.TOPIC, name) ? null : ErrorCode.TOPIC_AUTHORIZATION_FAILED));
    return splitItems(req, s, 'topics', (t: { name: string | null; topicId: Buffer }) => {
      const name = t.name ?? s.topicName(t.topicId);
      if (name === undefined) return null; // unknown id: the handler answers UNKNOWN_TOPIC_ID
      if (t.name === null && !s.allowed(Op.DESCRIBE, R.TOPIC, name)) return ErrorCode.TOPIC_AUTHORIZATION_FAILED;
      return s.allowed(Op.DELETE, R.TOPIC, name) ? null : ErrorCode.TOPIC_AUTHORIZATION_FAILED;
    });
  },
};

const INIT_PRODUCER_ID: ApiAuthorization = {
  checks: 'a transactional id: Write on it (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); none: IdempotentWrite on the cluster or Write on some topic (CLUSTER_AUTHORIZATION_FAILED)',
  authorize(req, s) {
    if (req.transactionalId !== null && req.transactionalId !== undefined) return txnCheck(Op.WRITE)(req, s);
    return s.allowed(Op.IDEMPOTENT_WRITE, R.CLUSTER, CLUSTER_NAME) || s.allowedOnSomeResource(Op.WRITE, R.TOPIC) ? null : { deny: ErrorCode.CLUSTER_AUTHORIZATION_FAILED };
  },
};

const OFFSET_FOR_LEADER_EPOCH: ApiAuthorization = {
  checks: 'ClusterAction on the cluster, else Describe on each topic (TOPIC_AUTHORIZATION_FAILED)',
  authorize: (req, s) => (s.allowed(Op.CLUSTER_ACTION, R.CLUSTER, CLUSTER_NAME) ? null : splitItems(req, s, 'topics', topicCheck(s, Op.DESCRIBE, (t) => t.topic))),
};

/** DescribeConfigs, AlterConfigs, IncrementalAlterConfigs: per resource, the cluster for brokers, the topic for topics. */
function configResources(op: number): ApiAuthorization {
  return {
    checks: `${enumName(Op, op)} on the cluster for broker resources (CLUSTER_AUTHORIZATION_FAILED), on the topic for topics (TOPIC_AUTHORIZATION_FAILED)`,
    authorize: (req, s) =>
      splitItems(req, s, 'resources', (r: { resourceType: number; resourceName: string }) => {
        if (r.resourceType === 2) return s.allowed(op, R.TOPIC, r.resourceName) ? null : ErrorCode.TOPIC_AUTHORIZATION_FAILED;
        if (r.resourceType === 4 || r.resourceType === 8) return s.allowed(op, R.CLUSTER, CLUSTER_NAME) ? null : ErrorCode.CLUSTER_AUTHORIZATION_FAILED;
        if (r.resourceType === 32) return s.allowed(op, R.GROUP, r.resourceName) ? null : ErrorCode.GROUP_AUTHORIZATION_FAILED;
        return null;
      }),
  };
}

const OFFSET_DELETE: ApiAuthorization = {
  checks: 'Delete on the group (GROUP_AUTHORIZATION_FAILED); Read on each topic (TOPIC_AUTHORIZATION_FAILED per partition)',
  authorize(req, s) {
    if (!s.allowed(Op.DELETE, R.GROUP, req.groupId)) return { deny: ErrorCode.GROUP_AUTHORIZATION_FAILED };
    const refused = (req.topics as { name: string; partitions: { partitionIndex: number }[] }[]).filter((t) => !s.allowed(Op.READ, R.TOPIC, t.name));
    if (refused.length === 0) return null;
    return {
      request: { ...req, topics: (req.topics as { name: string }[]).filter((t) => !refused.includes(t as never)) },
      after(response) {
        const r = response as { topics: unknown[] };
        for (const t of refused) r.topics.push({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED })) });
        return r;
      },
    };
  },
};

const OFFSET_COMMIT: ApiAuthorization = {
  checks: 'Read on the group (GROUP_AUTHORIZATION_FAILED); Read on each topic (TOPIC_AUTHORIZATION_FAILED)',
  authorize: (req, s) => chain(req, s, (r) => group(Op.READ).authorize(r, s), (r) => splitItems(r, s, 'topics', topicCheck(s, Op.READ, (t) => t.name))),
};

const TXN_OFFSET_COMMIT: ApiAuthorization = {
  checks: 'Write on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); Read on the group (GROUP_AUTHORIZATION_FAILED); Read on each topic (TOPIC_AUTHORIZATION_FAILED)',
  authorize: (req, s) =>
    chain(req, s, (r) => txnCheck(Op.WRITE)(r, s), (r) => group(Op.READ).authorize(r, s), (r) => splitItems(r, s, 'topics', topicCheck(s, Op.READ, (t) => t.name))),
};

const ADD_PARTITIONS_TO_TXN: ApiAuthorization = {
  checks: 'v4+ (between brokers): ClusterAction; v0-3: Write on the transactional id, Write on each topic (refused topics TOPIC_AUTHORIZATION_FAILED, the others OPERATION_NOT_ATTEMPTED)',
  authorize(req, s) {
    if (s.apiVersion >= 4) return s.allowed(Op.CLUSTER_ACTION, R.CLUSTER, CLUSTER_NAME) ? null : { deny: ErrorCode.CLUSTER_AUTHORIZATION_FAILED };
    if (!s.allowed(Op.WRITE, R.TRANSACTIONAL_ID, req.v3AndBelowTransactionalId)) return { deny: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED };
    const topicsOf = req.v3AndBelowTopics as { name: string; partitions: number[] }[];
    if (topicsOf.every((t) => s.allowed(Op.WRITE, R.TOPIC, t.name))) return null;
    return {
      respond: {
        throttleTimeMs: 0,
        errorCode: ErrorCode.NONE,
        resultsByTransaction: [],
        resultsByTopicV3AndBelow: topicsOf.map((t) => {
          const code = s.allowed(Op.WRITE, R.TOPIC, t.name) ? ErrorCode.OPERATION_NOT_ATTEMPTED : ErrorCode.TOPIC_AUTHORIZATION_FAILED;
          return { name: t.name, resultsByPartition: t.partitions.map((p) => ({ partitionIndex: p, partitionErrorCode: code })) };
        }),
      },
    };
  },
};

const LIST_TRANSACTIONS: ApiAuthorization = {
  checks: 'lists only the transactional ids with Describe',
  authorize: (req, s) => ({
    request: req,
    after(response) {
      const r = response as { transactionStates: { transactionalId: string }[] };
      if (Array.isArray(r.transactionStates)) r.transactionStates = r.transactionStates.filter((t) => s.allowed(Op.DESCRIBE, R.TRANSACTIONAL_ID, t.transactionalId));
      return r;
    },
  }),
};

const DESCRIBE_TRANSACTIONS: ApiAuthorization = {
  checks: 'Describe on each transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)',
  authorize(req, s) {
    const refused = (req.transactionalIds as string[]).filter((t) => !s.allowed(Op.DESCRIBE, R.TRANSACTIONAL_ID, t));
    if (refused.length === 0) return null;
    return {
      request: { ...req, transactionalIds: (req.transactionalIds as string[]).filter((t) => !refused.includes(t)) },
      after(response) {
        const r = response as { transactionStates: unknown[] };
        for (const t of refused) {
          r.transactionStates.push({ errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, transactionalId: t, transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [] });
        }
        return r;
      },
    };
  },
};

/** Every API key the broker may serve, with its rule. */
export const API_AUTHORIZATION: ReadonlyMap<number, ApiAuthorization> = new Map<number, ApiAuthorization>([
  [0, PRODUCE],
  [1, FETCH],
  [2, { ...topics(Op.DESCRIBE, 'topics'), checks: 'Describe on each topic (TOPIC_AUTHORIZATION_FAILED per partition)' }],
  [3, { checks: 'Describe on each topic: all topics lists only those; requested ones TOPIC_AUTHORIZATION_FAILED; auto-creation needs Create on the cluster or the topic (in the handler)', authorize: () => null }],
  [4, cluster(Op.CLUSTER_ACTION)],
  [5, cluster(Op.CLUSTER_ACTION)],
  [6, cluster(Op.CLUSTER_ACTION)],
  [7, cluster(Op.CLUSTER_ACTION)],
  [8, OFFSET_COMMIT],
  [9, OFFSET_FETCH],
  [10, FIND_COORDINATOR],
  [11, group(Op.READ)],
  [12, group(Op.READ)],
  [13, group(Op.READ)],
  [14, group(Op.READ)],
  [15, DESCRIBE_GROUPS],
  [16, LIST_GROUPS],
  [17, NONE],
  [18, NONE],
  [19, CREATE_TOPICS],
  [20, DELETE_TOPICS],
  [21, topics(Op.DELETE, 'topics')],
  [22, INIT_PRODUCER_ID],
  [23, OFFSET_FOR_LEADER_EPOCH],
  [24, ADD_PARTITIONS_TO_TXN],
  [25, { checks: 'Write on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); Read on the group (GROUP_AUTHORIZATION_FAILED)', authorize: (req, s) => chain(req, s, (r) => txnCheck(Op.WRITE)(r, s), (r) => group(Op.READ).authorize(r, s)) }],
  [26, { checks: 'Write on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)', authorize: (req, s) => txnCheck(Op.WRITE)(req, s) }],
  [27, cluster(Op.CLUSTER_ACTION)],
  [28, TXN_OFFSET_COMMIT],
  [29, cluster(Op.DESCRIBE)],
  [30, cluster(Op.ALTER)],
  [31, cluster(Op.ALTER)],
  [32, configResources(Op.DESCRIBE_CONFIGS)],
  [33, configResources(Op.ALTER_CONFIGS)],
  [34, cluster(Op.ALTER)],
  [35, cluster(Op.DESCRIBE)],
  [36, NONE],
  [37, topics(Op.ALTER, 'topics')],
  [42, { ...topics(Op.DELETE, 'groupsNames'), checks: 'Delete on each group (GROUP_AUTHORIZATION_FAILED per group)', authorize: (req, s) => splitItems(req, s, 'groupsNames', (g: string) => (s.allowed(Op.DELETE, R.GROUP, g) ? null : ErrorCode.GROUP_AUTHORIZATION_FAILED)) }],
  [43, cluster(Op.ALTER)],
  [44, configResources(Op.ALTER_CONFIGS)],
  [45, cluster(Op.ALTER)],
  [46, cluster(Op.DESCRIBE)],
  [47, OFFSET_DELETE],
  [48, cluster(Op.DESCRIBE_CONFIGS)],
  [49, cluster(Op.ALTER_CONFIGS)],
  [50, cluster(Op.DESCRIBE)],
  [51, cluster(Op.ALTER)],
  [60, { checks: 'none (cluster authorized operations when asked)', authorize: () => null }],
  [61, topics(Op.READ, 'topics')],
  [65, DESCRIBE_TRANSACTIONS],
  [66, LIST_TRANSACTIONS],
  [67, cluster(Op.CLUSTER_ACTION)],
]);

export type { KafkaPrincipal };
