/**
 * The cluster as a client sees it: a bootstrap list, the latest Metadata, one connection per broker,
 * leader and controller lookup, and a bounded retry loop for the errors Kafka calls retriable.
 */
import { BrokerConnection, ConnectionError, type ConnectionOptions } from './connection.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import type { MetadataResponse } from '../protocol/generated/metadata.js';
import { ErrorCode, KafkaError, errorName } from '../protocol/errors.js';
import { ZERO_UUID } from '../protocol/primitives.js';
import type { ClientSecurity } from '../security/client-security.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface ClusterClientOptions {
  /** `host:port[,host:port]` or a list of `host:port`. */
  bootstrap: string | readonly string[];
  clientId?: string;
  /** Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** How many times a retriable failure is retried (default 8). */
  retries?: number;
  /** First backoff (default 100 ms), doubled per attempt up to retryBackoffMaxMs (default 1000 ms). */
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  /** Lower the max version used for some API keys (testing, compatibility). */
  maxVersions?: Readonly<Record<number, number>>;
  /** TLS and SASL (security.protocol, ...); default PLAINTEXT. */
  security?: ClientSecurity;
}

/** What producers, consumers and admins accept: a cluster client to share, or where to find the cluster. */
export interface ClusterSource {
  cluster?: ClusterClient;
  bootstrap?: string | readonly string[];
  clientId?: string;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** TLS and SASL (security.protocol, ...); default PLAINTEXT. */
  security?: ClientSecurity;
}

/**
 * The cluster client a producer/consumer/admin uses: the one it was given (not closed by it), or a
 * new one on the bootstrap servers (owned: closed with it).
 */
export function clusterFrom(opts: ClusterSource, who: string, defaultClientId: string): { cluster: ClusterClient; owned: boolean } {
  if (opts.cluster) return { cluster: opts.cluster, owned: false };
  if (opts.bootstrap === undefined) throw new Error(`${who}: bootstrap (or cluster) is required`);
  const cluster = new ClusterClient({
    bootstrap: opts.bootstrap,
    clientId: opts.clientId ?? defaultClientId,
    requestTimeoutMs: opts.requestTimeoutMs,
    connectTimeoutMs: opts.connectTimeoutMs,
    ...(opts.security ? { security: opts.security } : {}),
  });
  return { cluster, owned: true };
}

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface PartitionMetadata {
  partition: number;
  errorCode: number;
  /** -1 when the partition has no leader. */
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
}

export interface TopicMetadata {
  name: string;
  topicId: Buffer;
  errorCode: number;
  isInternal: boolean;
  /** Sorted by partition index. */
  partitions: PartitionMetadata[];
}

export interface ClusterMetadata {
  clusterId: string | null;
  controllerId: number;
  brokers: Map<number, BrokerInfo>;
  topics: Map<string, TopicMetadata>;
}

/** Error codes Kafka marks retriable (the operation may succeed after a metadata refresh or a wait). */
export const RETRIABLE_ERROR_CODES: ReadonlySet<number> = new Set<number>([
  ErrorCode.CORRUPT_MESSAGE,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.REQUEST_TIMED_OUT,
  ErrorCode.BROKER_NOT_AVAILABLE,
  ErrorCode.REPLICA_NOT_AVAILABLE,
  ErrorCode.NETWORK_EXCEPTION,
  ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
  ErrorCode.NOT_CONTROLLER,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.OFFSET_NOT_AVAILABLE,
  ErrorCode.THROTTLING_QUOTA_EXCEEDED,
]);

/** Codes of a refused authentication: never retried, reported as they are. */
export const AUTHENTICATION_ERROR_CODES: ReadonlySet<number> = new Set<number>([
  ErrorCode.SASL_AUTHENTICATION_FAILED,
  ErrorCode.UNSUPPORTED_SASL_MECHANISM,
  ErrorCode.ILLEGAL_SASL_STATE,
]);

/** Codes after which the client's metadata is stale (leadership moved, topic appeared or vanished). */
export const METADATA_ERROR_CODES: ReadonlySet<number> = new Set<number>([
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.BROKER_NOT_AVAILABLE,
  ErrorCode.REPLICA_NOT_AVAILABLE,
  ErrorCode.NOT_CONTROLLER,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
]);

/** True for retriable Kafka error codes and for network errors on a broker that was reachable before. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof KafkaError) return RETRIABLE_ERROR_CODES.has(err.code);
  if (err instanceof ConnectionError) return err.retriable;
  return false;
}

export function needsMetadataRefresh(err: unknown): boolean {
  if (err instanceof KafkaError) return METADATA_ERROR_CODES.has(err.code);
  return err instanceof ConnectionError;
}

/** Exponential backoff with ±20% jitter: base·2^attempt, capped at max. */
export function backoffMs(attempt: number, base: number, max: number): number {
  const raw = Math.min(max, base * 2 ** Math.min(attempt, 20));
  return Math.max(0, Math.round(raw * (0.8 + Math.random() * 0.4)));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A KafkaError for a non-zero code, with Kafka's name and an optional broker message. */
export function kafkaError(code: number, message?: string | null, context?: string): KafkaError {
  const base = message ? message : errorName(code);
  return new KafkaError(code, context ? `${context}: ${base}` : base);
}

/** Parses `host:port[,host:port]` (also `[v6addr]:port`; the port defaults to 9092). */
export function parseBootstrap(bootstrap: string | readonly string[]): HostPort[] {
  const parts = (typeof bootstrap === 'string' ? bootstrap.split(',') : bootstrap.flatMap((s) => s.split(',')))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw new Error('no bootstrap servers given');
  return parts.map((p) => {
    let s = p.replace(/^[a-zA-Z_]+:\/\//, ''); // tolerate PLAINTEXT://host:port
    s = s.replace(/\/+$/, '');
    let host: string;
    let portStr: string | undefined;
    const v6 = /^\[([^\]]+)\](?::(\d*))?$/.exec(s);
    if (v6) {
      host = v6[1]!;
      portStr = v6[2];
    } else {
      const idx = s.lastIndexOf(':');
      if (idx >= 0 && s.indexOf(':') === idx) {
        host = s.slice(0, idx);
        portStr = s.slice(idx + 1);
      } else {
        host = s;
      }
    }
    const port = portStr === undefined || portStr === '' ? 9092 : Number(portStr);
    if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new Error(`invalid bootstrap server '${p}' (expected host:port)`);
    }
    return { host, port };
  });
}

export class ClusterClient {
  readonly bootstrapServers: HostPort[];
  readonly clientId: string;
  readonly retries: number;
  readonly retryBackoffMs: number;
  readonly retryBackoffMaxMs: number;
  /** The security every connection of this client uses. */
  readonly security: ClientSecurity | undefined;
  /** throttle_time_ms of responses, per API key: how many responses carried one, their sum and the largest. */
  readonly throttle = new Map<number, { count: number; totalMs: number; maxMs: number }>();
  metadata: ClusterMetadata = { clusterId: null, controllerId: -1, brokers: new Map(), topics: new Map() };
  private readonly connOpts: Omit<ConnectionOptions, 'host' | 'port'>;
  private readonly connections = new Map<string, Promise<BrokerConnection>>();
  private everConnected = false;
  private closed = false;
  private metadataInFlight: Promise<ClusterMetadata> | undefined;
  /** The per-topic entries of the latest metadata responses, including those with an error. */
  private readonly lastTopicErrors = new Map<string, TopicMetadata>();

  constructor(opts: ClusterClientOptions) {
    this.bootstrapServers = parseBootstrap(opts.bootstrap);
    this.clientId = opts.clientId ?? 'kfk';
    this.retries = opts.retries ?? 8;
    this.retryBackoffMs = opts.retryBackoffMs ?? 100;
    this.retryBackoffMaxMs = opts.retryBackoffMaxMs ?? 1000;
    this.security = opts.security;
    this.connOpts = {
      clientId: this.clientId,
      connectTimeoutMs: opts.connectTimeoutMs,
      requestTimeoutMs: opts.requestTimeoutMs,
      maxVersions: opts.maxVersions,
      ...(opts.security ? { security: opts.security } : {}),
      onThrottle: (apiKey, ms) => {
        let t = this.throttle.get(apiKey);
        if (t === undefined) this.throttle.set(apiKey, (t = { count: 0, totalMs: 0, maxMs: 0 }));
        t.count++;
        t.totalMs += ms;
        if (ms > t.maxMs) t.maxMs = ms;
      },
    };
  }

  /** The bootstrap list as given, for messages. */
  get bootstrapString(): string {
    return this.bootstrapServers.map((b) => `${b.host}:${b.port}`).join(',');
  }

  /** A (cached) connection to host:port. */
  connectTo(host: string, port: number): Promise<BrokerConnection> {
    if (this.closed) return Promise.reject(new ConnectionError('client is closed', 'ECLOSED'));
    const key = `${host}:${port}`;
    let p = this.connections.get(key);
    if (!p) {
      p = BrokerConnection.connect({ ...this.connOpts, host, port }).then(
        (conn) => {
          this.everConnected = true;
          conn.onClose(() => {
            if (this.connections.get(key) === p) this.connections.delete(key);
          });
          if (this.closed) conn.close();
          return conn;
        },
        (err: unknown) => {
          if (this.connections.get(key) === p) this.connections.delete(key);
          throw err;
        },
      );
      this.connections.set(key, p);
    }
    return p;
  }

  /**
   * A connection to any broker: an open one if there is one, else known brokers, else the bootstrap
   * list in order. If no broker was ever reachable, the error is not retriable (fail fast in the CLI).
   */
  async anyConnection(): Promise<BrokerConnection> {
    for (const p of this.connections.values()) {
      try {
        const c = await p;
        if (!c.closed) return c;
      } catch {
        // that connection attempt failed (its caller got the error): try the next, then the known brokers
      }
    }
    const candidates: HostPort[] = [...this.metadata.brokers.values()].map((b) => ({ host: b.host, port: b.port }));
    for (const b of this.bootstrapServers) {
      if (!candidates.some((c) => c.host === b.host && c.port === b.port)) candidates.push(b);
    }
    const errors: Error[] = [];
    for (const c of candidates) {
      try {
        return await this.connectTo(c.host, c.port);
      } catch (err) {
        // a refused authentication is the answer, not a broker that could not be reached
        if (err instanceof KafkaError && AUTHENTICATION_ERROR_CODES.has(err.code)) throw err;
        errors.push(err as Error);
      }
    }
    const reasons = errors.map((e) => /\(([^)]*)\)\s*$/.exec(e.message)?.[1] ?? e.message);
    const sameReason = reasons.every((r) => r === reasons[0]);
    const where = candidates.map((c) => `${c.host}:${c.port}`).join(',');
    const message = sameReason ? `no broker at ${where} (${reasons[0]})` : `no broker reachable: ${errors.map((e) => e.message).join('; ')}`;
    throw new ConnectionError(message, (errors[0] as ConnectionError | undefined)?.code, this.everConnected);
  }

  /** A connection to broker `nodeId` (from metadata; refreshed once if the id is unknown). */
  async connection(nodeId: number): Promise<BrokerConnection> {
    let b = this.metadata.brokers.get(nodeId);
    if (!b) {
      await this.refreshMetadata([]);
      b = this.metadata.brokers.get(nodeId);
      if (!b) throw new KafkaError(ErrorCode.BROKER_NOT_AVAILABLE, `broker ${nodeId} is not in the cluster metadata`);
    }
    return this.connectTo(b.host, b.port);
  }

  /**
   * Sends a Metadata request to any broker and merges the answer: `null` = all topics (replaces the topic
   * map), `[]` = brokers only, names = those topics. Concurrent all-topic refreshes share one request.
   */
  async refreshMetadata(topics: readonly string[] | null = null, opts: { allowAutoTopicCreation?: boolean } = {}): Promise<ClusterMetadata> {
    if (topics === null && this.metadataInFlight) return this.metadataInFlight;
    const run = async (): Promise<ClusterMetadata> => {
      const conn = await this.anyConnection();
      const version = conn.versionFor(ApiKey.Metadata);
      const body = {
        topics: topics === null ? null : topics.map((name) => ({ name, topicId: ZERO_UUID })),
        allowAutoTopicCreation: opts.allowAutoTopicCreation ?? false,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      };
      const resp = await conn.request<MetadataResponse>(ApiKey.Metadata, body, { version });
      this.applyMetadata(resp, topics === null);
      return this.metadata;
    };
    if (topics !== null) return run();
    this.metadataInFlight = run().finally(() => {
      this.metadataInFlight = undefined;
    });
    return this.metadataInFlight;
  }

  private applyMetadata(resp: MetadataResponse, allTopics: boolean): void {
    const brokers = new Map<number, BrokerInfo>();
    for (const b of resp.brokers) brokers.set(b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack });
    const topicsMap = allTopics ? new Map<string, TopicMetadata>() : new Map(this.metadata.topics);
    for (const t of resp.topics) {
      if (t.name === null) continue;
      const tm: TopicMetadata = {
        name: t.name,
        topicId: t.topicId,
        errorCode: t.errorCode,
        isInternal: t.isInternal,
        partitions: t.partitions
          .map((p) => ({
            partition: p.partitionIndex,
            errorCode: p.errorCode,
            leader: p.leaderId,
            leaderEpoch: p.leaderEpoch,
            replicas: p.replicaNodes,
            isr: p.isrNodes,
            offlineReplicas: p.offlineReplicas,
          }))
          .sort((a, b) => a.partition - b.partition),
      };
      if (t.errorCode === ErrorCode.NONE) topicsMap.set(t.name, tm);
      else if (allTopics || t.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) topicsMap.delete(t.name);
      this.lastTopicErrors.set(t.name, tm);
    }
    this.metadata = { clusterId: resp.clusterId, controllerId: resp.controllerId, brokers, topics: topicsMap };
  }

  /**
   * Metadata for one topic, refreshed when missing (or when `refresh`), retrying LEADER_NOT_AVAILABLE and
   * (if `waitForLeaders`) leaderless partitions. UNKNOWN_TOPIC_OR_PARTITION is retried only with
   * `retryUnknown` (a topic that was just created); otherwise it throws at once.
   */
  async topicMetadata(
    topic: string,
    opts: { refresh?: boolean; allowAutoTopicCreation?: boolean; retryUnknown?: boolean; waitForLeaders?: boolean } = {},
  ): Promise<TopicMetadata> {
    if (!opts.refresh) {
      const cached = this.metadata.topics.get(topic);
      if (cached && (!opts.waitForLeaders || cached.partitions.every((p) => p.leader >= 0))) return cached;
    }
    const unknown = (): KafkaError => new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic}' does not exist.`);
    return this.retry(
      async () => {
        await this.refreshMetadata([topic], { allowAutoTopicCreation: opts.allowAutoTopicCreation });
        const t = this.metadata.topics.get(topic);
        if (!t) {
          const code = this.lastTopicErrors.get(topic)?.errorCode ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          if (code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) throw unknown();
          if (code === ErrorCode.INVALID_TOPIC_EXCEPTION) throw new KafkaError(code, `Invalid topic name '${topic}'`);
          throw kafkaError(code, null, `topic '${topic}'`);
        }
        if (t.partitions.length === 0) throw new KafkaError(ErrorCode.LEADER_NOT_AVAILABLE, `topic '${topic}' has no partitions yet`);
        if (opts.waitForLeaders && t.partitions.some((p) => p.leader < 0)) {
          throw new KafkaError(ErrorCode.LEADER_NOT_AVAILABLE, `topic '${topic}' has partitions without a leader`);
        }
        return t;
      },
      {
        shouldRetry: (err) =>
          opts.retryUnknown === true || !(err instanceof KafkaError && err.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
      },
    );
  }

  /** The leader of topic/partition from cached metadata (refreshing if unknown); -1 if none. */
  async leaderFor(topic: string, partition: number, refresh = false): Promise<number> {
    const t = await this.topicMetadata(topic, { refresh });
    const p = t.partitions[partition] ?? t.partitions.find((x) => x.partition === partition);
    if (!p) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${topic}' has no partition ${partition}`);
    return p.leader;
  }

  /** The leader of topic/partition in the cached metadata, without a request: -1 when none or not known. */
  cachedLeader(topic: string, partition: number): number {
    const t = this.metadata.topics.get(topic);
    if (!t) return -1;
    const p = t.partitions[partition]?.partition === partition ? t.partitions[partition] : t.partitions.find((x) => x.partition === partition);
    return p ? p.leader : -1;
  }

  /** A connection to the controller (from Metadata; any broker when the controller is unknown). */
  async controllerConnection(): Promise<BrokerConnection> {
    if (this.metadata.controllerId < 0 || !this.metadata.brokers.has(this.metadata.controllerId)) {
      await this.refreshMetadata([]);
    }
    const id = this.metadata.controllerId;
    if (id >= 0 && this.metadata.brokers.has(id)) return this.connection(id);
    return this.anyConnection();
  }

  /**
   * Runs fn, retrying retriable failures (up to `retries` times, with exponential backoff); metadata
   * errors invalidate the cached controller so the next attempt looks it up again.
   */
  async retry<T>(
    fn: (attempt: number) => Promise<T>,
    opts: { retries?: number; shouldRetry?: (err: unknown) => boolean } = {},
  ): Promise<T> {
    const retries = opts.retries ?? this.retries;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (err) {
        if (this.closed || !isRetriable(err) || attempt >= retries) throw err;
        if (opts.shouldRetry && !opts.shouldRetry(err)) throw err;
        if (err instanceof KafkaError && err.code === ErrorCode.NOT_CONTROLLER) this.metadata.controllerId = -1;
        await sleep(backoffMs(attempt, this.retryBackoffMs, this.retryBackoffMaxMs));
      }
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(
      all.map(async (p) => {
        try {
          (await p).close();
        } catch {
          // this connection never opened (its caller got the error): there is nothing to close
        }
      }),
    );
  }
}
