/**
 * The broker config table (Kafka's KafkaConfig, ZooKeeper mode) with Kafka's defaults, except
 * where kfk runs without a properties file: broker.id=0, listeners=PLAINTEXT://localhost:9092 and
 * log.dir=./kfk-data (docs/cli.md, "server start").
 *
 * Unknown keys are accepted and reported in `unknown` (Kafka logs a warning); a known key with a
 * bad value is a ConfigError naming the key and the value, in Kafka's words.
 */
import {
  type ConfigDef,
  type ConfigType,
  type ConfigValue,
  type Importance,
  type Validator,
  ConfigError,
  JAVA_INT_MAX,
  JAVA_LONG_MAX,
  atLeast,
  between,
  configDefMap,
  inStrings,
  parseConfig,
  validList,
} from './config-def.js';
import { readPropertiesFileSync } from './properties.js';

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];

export const COMPRESSION_TYPES = ['uncompressed', 'zstd', 'lz4', 'snappy', 'gzip', 'producer'] as const;
export const TIMESTAMP_TYPES = ['CreateTime', 'LogAppendTime'] as const;
export const CLEANUP_POLICIES = ['compact', 'delete'] as const;

/** kfk's defaults where they differ from Kafka's (Kafka: -1, PLAINTEXT://:9092, /tmp/kafka-logs). */
export const KFK_DEFAULT_BROKER_ID = 0;
export const KFK_DEFAULT_LISTENERS = 'PLAINTEXT://localhost:9092';
export const KFK_DEFAULT_LOG_DIR = './kfk-data';

const HOUR_MS = 60 * 60 * 1000;
const MINUTE_MS = 60 * 1000;

function d(
  name: string,
  type: ConfigType,
  dflt: ConfigValue,
  importance: Importance,
  doc: string,
  validator?: Validator,
): ConfigDef {
  return validator ? { name, type, default: dflt, importance, doc, validator } : { name, type, default: dflt, importance, doc };
}

const IGNORED = ' Accepted for compatibility; kfk runs on one event loop and ignores it.';

export const BROKER_CONFIG_DEFS: readonly ConfigDef[] = [
  // ---- identity and cluster ----
  d('broker.id', 'int', KFK_DEFAULT_BROKER_ID, 'high', 'The broker id. kfk defaults to 0 so that it runs without a file; -1 generates one from the registry (/brokers/seqid).'),
  d('broker.id.generation.enable', 'boolean', true, 'medium', 'Generate a broker id when broker.id is -1.'),
  d('reserved.broker.max.id', 'int', 1000, 'medium', 'Maximum number that can be used for broker.id; generated ids start above it.', atLeast(0)),
  d('broker.rack', 'string', null, 'medium', 'Rack of the broker, registered in /brokers/ids/<id>.'),
  d('cluster.id', 'string', null, 'medium', 'kfk extension: the cluster id to create /cluster/id with (a 22-character Kafka Uuid). Default: generated on first start and kept in the registry.'),

  // ---- listeners ----
  d('listeners', 'string', KFK_DEFAULT_LISTENERS, 'high', 'Comma-separated listener URIs, NAME://host:port. An empty host binds all interfaces (PLAINTEXT://:9092).'),
  d('admin.listeners', 'string', null, 'medium', 'kfk extension: comma-separated http://host:port URLs of the admin listener (/metrics, /health/live, /health/ready, the web console). Off when unset.'),
  d('advertised.listeners', 'string', null, 'high', 'Listeners published to clients in metadata, if different from listeners.'),
  d('listener.security.protocol.map', 'string', 'PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL', 'low', 'Map between listener names and security protocols, NAME:PROTOCOL,...'),
  d('inter.broker.listener.name', 'string', null, 'medium', 'Listener used between brokers. Default: the listener named after security.inter.broker.protocol.'),
  d('security.inter.broker.protocol', 'string', 'PLAINTEXT', 'medium', 'Security protocol used between brokers.', inStrings(...SECURITY_PROTOCOLS)),
  d('port', 'int', 9092, 'high', 'Deprecated (Kafka < 3.0): port of the PLAINTEXT listener, used only when listeners is not set.'),
  d('host.name', 'string', '', 'high', 'Deprecated (Kafka < 3.0): host of the PLAINTEXT listener, used only when listeners is not set.'),
  d('advertised.host.name', 'string', null, 'high', 'Deprecated (Kafka < 3.0): advertised host, used only when advertised.listeners is not set.'),
  d('advertised.port', 'int', null, 'high', 'Deprecated (Kafka < 3.0): advertised port, used only when advertised.listeners is not set.'),

  // ---- registry ----
  d('zookeeper.connect', 'string', null, 'high', 'ZooKeeper connection string host:port[,host:port][/chroot]. When unset kfk uses its embedded registry in the data dir.'),
  d('zookeeper.session.timeout.ms', 'int', 18000, 'high', 'ZooKeeper session timeout.'),
  d('zookeeper.connection.timeout.ms', 'int', null, 'high', 'Max time to wait for a ZooKeeper connection. Default: zookeeper.session.timeout.ms.'),
  d('zookeeper.max.in.flight.requests', 'int', 10, 'high', 'Max unacknowledged requests to ZooKeeper.', atLeast(1)),
  d('zookeeper.set.acl', 'boolean', false, 'high', 'Set ACLs on the znodes kfk creates.'),

  // ---- logs ----
  d('log.dirs', 'string', null, 'high', 'Comma-separated data directories. Default: log.dir.'),
  d('log.dir', 'string', KFK_DEFAULT_LOG_DIR, 'high', 'The data directory, used when log.dirs is not set (kfk default ./kfk-data).'),
  d('log.segment.bytes', 'int', 1073741824, 'high', 'Maximum size of a log segment file.', atLeast(14)),
  d('log.roll.ms', 'long', null, 'high', 'Roll a new segment after this time. Default: log.roll.hours.'),
  d('log.roll.hours', 'int', 168, 'high', 'Roll a new segment after this many hours (used when log.roll.ms is unset).', atLeast(1)),
  d('log.roll.jitter.ms', 'long', null, 'high', 'Maximum random jitter subtracted from the roll time. Default: log.roll.jitter.hours.'),
  d('log.roll.jitter.hours', 'int', 0, 'high', 'Maximum jitter in hours (used when log.roll.jitter.ms is unset).', atLeast(0)),
  d('log.retention.ms', 'long', null, 'high', 'Delete segments older than this; -1 keeps them forever. Default: log.retention.minutes.'),
  d('log.retention.minutes', 'int', null, 'high', 'Retention in minutes (used when log.retention.ms is unset). Default: log.retention.hours.'),
  d('log.retention.hours', 'int', 168, 'high', 'Retention in hours (used when log.retention.ms and log.retention.minutes are unset).'),
  d('log.retention.bytes', 'long', -1, 'high', 'Maximum size of a partition log before old segments are deleted; -1 means no limit.'),
  d('log.retention.check.interval.ms', 'long', 300000, 'medium', 'How often retention is checked.', atLeast(1)),
  d('log.segment.delete.delay.ms', 'long', 60000, 'high', 'Delay before a deleted segment is removed from disk.', atLeast(0)),
  d('log.index.interval.bytes', 'int', 4096, 'medium', 'Bytes of log between offset index entries.', atLeast(0)),
  d('log.index.size.max.bytes', 'int', 10485760, 'medium', 'Maximum size of an offset/time index file.', atLeast(4)),
  d('log.flush.interval.messages', 'long', JAVA_LONG_MAX, 'high', 'fsync a log after this many messages (default: leave it to the OS).', atLeast(1)),
  d('log.flush.interval.ms', 'long', null, 'high', 'fsync a log after a message has been this long in memory. Default: log.flush.scheduler.interval.ms.'),
  d('log.flush.scheduler.interval.ms', 'long', JAVA_LONG_MAX, 'high', 'How often the flusher checks whether a log needs an fsync.'),
  d('log.flush.offset.checkpoint.interval.ms', 'int', 60000, 'high', 'How often the recovery point checkpoint is written.', atLeast(0)),
  d('log.flush.start.offset.checkpoint.interval.ms', 'int', 60000, 'high', 'How often the log start offset checkpoint is written.', atLeast(0)),
  d('log.preallocate', 'boolean', false, 'medium', 'Preallocate segment files.'),
  d('log.cleanup.policy', 'list', ['delete'], 'medium', 'Default cleanup policy: delete and/or compact.', validList(...CLEANUP_POLICIES)),
  d('log.cleaner.enable', 'boolean', true, 'medium', 'Run the log cleaner (compaction).'),
  d('log.cleaner.threads', 'int', 1, 'medium', 'Number of cleaner threads.', atLeast(0)),
  d('log.cleaner.backoff.ms', 'long', 15000, 'medium', 'Sleep time when there are no logs to clean.', atLeast(0)),
  d('log.cleaner.delete.retention.ms', 'long', 86400000, 'medium', 'How long tombstones are kept in compacted topics.', atLeast(0)),
  d('log.cleaner.min.compaction.lag.ms', 'long', 0, 'medium', 'Minimum time a message stays uncompacted.', atLeast(0)),
  d('log.cleaner.max.compaction.lag.ms', 'long', JAVA_LONG_MAX, 'medium', 'Maximum time a message stays ineligible for compaction.', atLeast(1)),
  d('log.cleaner.min.cleanable.ratio', 'double', 0.5, 'medium', 'Minimum dirty ratio before a log is cleaned.', between(0, 1)),
  d('log.message.timestamp.type', 'string', 'CreateTime', 'medium', 'CreateTime or LogAppendTime.', inStrings(...TIMESTAMP_TYPES)),
  d('log.message.timestamp.difference.max.ms', 'long', JAVA_LONG_MAX, 'medium', 'Maximum difference between a CreateTime timestamp and the broker time.', atLeast(0)),
  d('log.message.timestamp.before.max.ms', 'long', JAVA_LONG_MAX, 'medium', 'How far in the past a CreateTime timestamp may be.', atLeast(0)),
  d('log.message.timestamp.after.max.ms', 'long', JAVA_LONG_MAX, 'medium', 'How far in the future a CreateTime timestamp may be.', atLeast(0)),
  d('log.message.downconversion.enable', 'boolean', true, 'low', 'Down-convert record batches for old fetch versions.'),
  d('log.message.format.version', 'string', '3.0-IV1', 'medium', 'Accepted for compatibility; kfk always writes record batch v2.'),
  d('compression.type', 'string', 'producer', 'high', 'Final compression of topics: producer keeps the producer\'s codec.', inStrings(...COMPRESSION_TYPES)),
  d('num.recovery.threads.per.data.dir', 'int', 1, 'high', 'Logs of one data dir recovered at a time after an unclean shutdown (kfk: concurrent recoveries on the event loop and the I/O thread pool); the broker serves recovered partitions while the rest recover.', atLeast(1)),
  d('log.max.open.files', 'int', -1, 'medium', 'kfk extension: how many segment and index files the broker keeps open at most (an LRU of descriptors; files open on demand). -1: the process\'s open-file limit (which Node raises to the hard limit at start) minus min(256, half of it), left for connections.', {
    validate(name, value) {
      if (value !== null && value !== -1 && (value as number) < 1) throw ConfigError.invalid(name, value, 'Value must be -1 or at least 1');
    },
    describe() {
      return '-1 or [1,...]';
    },
  }),

  // ---- topics ----
  d('num.partitions', 'int', 1, 'medium', 'Default number of partitions of a new topic.', atLeast(1)),
  d('default.replication.factor', 'int', 1, 'medium', 'Default replication factor of automatically created topics.'),
  d('auto.create.topics.enable', 'boolean', true, 'high', 'Create a topic when a client asks for metadata of a missing one.'),
  d('delete.topic.enable', 'boolean', true, 'high', 'Allow topics to be deleted.'),
  d('min.insync.replicas', 'int', 1, 'high', 'Minimum ISR size for acks=all produce requests to succeed.', atLeast(1)),
  d('unclean.leader.election.enable', 'boolean', false, 'high', 'Elect an out-of-sync replica as leader when no ISR member is alive (may lose data).'),
  d('message.max.bytes', 'int', 1048588, 'high', 'Largest record batch size allowed.', atLeast(0)),
  d('create.topic.policy.class.name', 'class', null, 'low', 'Accepted for compatibility; kfk has no create-topic policies.'),

  // ---- network ----
  d('socket.request.max.bytes', 'int', 104857600, 'high', 'Largest request the broker accepts.', atLeast(1)),
  d('socket.send.buffer.bytes', 'int', 102400, 'high', 'SO_SNDBUF of sockets (-1: OS default).'),
  d('socket.receive.buffer.bytes', 'int', 102400, 'high', 'SO_RCVBUF of sockets (-1: OS default).'),
  d('connections.max.idle.ms', 'long', 600000, 'medium', 'Close a connection that has had no complete request (and no response written, and no request being handled) for this long; -1 never closes one.'),
  d('max.connections', 'int', JAVA_INT_MAX, 'medium', 'Maximum connections to the broker over all listeners; one more is closed when it is accepted.', atLeast(0)),
  d('max.connections.per.ip', 'int', JAVA_INT_MAX, 'medium', 'Maximum connections from one IP address; one more is closed when it is accepted.', atLeast(0)),
  d('max.connections.per.ip.overrides', 'string', '', 'medium', 'Per-address exceptions to max.connections.per.ip, as host-or-IP:count,... (e.g. 127.0.0.1:200).'),
  d('queued.max.requests', 'int', 500, 'high', 'Requests read and waiting to be handled, over the whole broker, before connections with a request already waiting stop being read.', atLeast(1)),
  d('num.network.threads', 'int', 3, 'high', 'Network threads.' + IGNORED, atLeast(1)),
  d('num.io.threads', 'int', 8, 'high', 'Request handler threads.' + IGNORED, atLeast(1)),
  d('background.threads', 'int', 10, 'high', 'Background threads.' + IGNORED, atLeast(1)),
  d('fetch.max.bytes', 'int', 57671680, 'medium', 'Maximum bytes returned by a fetch request.', atLeast(1024)),

  // ---- replication ----
  d('replica.lag.time.max.ms', 'long', 30000, 'high', 'A follower that has not caught up for this long leaves the ISR.'),
  d('replica.socket.timeout.ms', 'int', 30000, 'high', 'Socket timeout of follower fetches.'),
  d('replica.socket.receive.buffer.bytes', 'int', 65536, 'high', 'SO_RCVBUF of follower connections.'),
  d('replica.fetch.max.bytes', 'int', 1048576, 'medium', 'Bytes per partition a follower fetches.', atLeast(0)),
  d('replica.fetch.wait.max.ms', 'int', 500, 'medium', 'Max wait of a follower fetch.'),
  d('replica.fetch.min.bytes', 'int', 1, 'high', 'Min bytes of a follower fetch response.'),
  d('replica.fetch.response.max.bytes', 'int', 10485760, 'medium', 'Max bytes of a follower fetch response.', atLeast(0)),
  d('replica.fetch.backoff.ms', 'int', 1000, 'medium', 'Sleep after a follower fetch error.', atLeast(0)),
  d('replica.high.watermark.checkpoint.interval.ms', 'long', 5000, 'high', 'How often the high watermarks are checkpointed.'),
  d('num.replica.fetchers', 'int', 1, 'high', 'Fetchers per source broker.'),
  d('auto.leader.rebalance.enable', 'boolean', true, 'high', 'Move leadership back to preferred replicas.'),
  d('leader.imbalance.check.interval.seconds', 'long', 300, 'high', 'How often the preferred-leader balance is checked.', atLeast(1)),
  d('leader.imbalance.per.broker.percentage', 'int', 10, 'high', 'Allowed leader imbalance per broker, in percent.'),
  d('controlled.shutdown.enable', 'boolean', true, 'medium', 'Move leadership away before shutting down.'),
  d('controlled.shutdown.max.retries', 'int', 3, 'medium', 'Retries of a controlled shutdown.'),
  d('controlled.shutdown.retry.backoff.ms', 'long', 5000, 'medium', 'Backoff between controlled shutdown retries.'),
  d('inter.broker.protocol.version', 'string', '3.0-IV1', 'medium', 'Accepted for compatibility.'),

  // ---- groups and offsets ----
  d('offsets.topic.num.partitions', 'int', 50, 'high', 'Partitions of __consumer_offsets (do not change after deployment).', atLeast(1)),
  d('offsets.topic.replication.factor', 'short', 3, 'high', 'Replication factor of __consumer_offsets. Unlike Kafka, which refuses to create the topic until enough brokers are alive, kfk clamps it to the number of live brokers.', atLeast(1)),
  d('offsets.topic.segment.bytes', 'int', 104857600, 'high', 'Segment size of __consumer_offsets.', atLeast(1)),
  d('offsets.topic.compression.codec', 'int', 0, 'high', 'Compression codec of __consumer_offsets.'),
  d('offsets.load.buffer.size', 'int', 5242880, 'high', 'Read size when loading offsets.', atLeast(1)),
  d('offsets.retention.minutes', 'int', 10080, 'high', 'Committed offsets of an empty group are kept this long.', atLeast(1)),
  d('offsets.retention.check.interval.ms', 'long', 600000, 'high', 'How often stale offsets are checked.', atLeast(1)),
  d('offsets.commit.timeout.ms', 'int', 5000, 'high', 'Max wait for an offset commit to replicate.', atLeast(1)),
  d('offsets.commit.required.acks', 'short', -1, 'high', 'Acks of offset commits (deprecated in Kafka).'),
  d('group.initial.rebalance.delay.ms', 'int', 3000, 'medium', 'Wait for more members before the first rebalance of an empty group.'),
  d('group.min.session.timeout.ms', 'int', 6000, 'medium', 'Minimum session timeout a member may ask for.'),
  d('group.max.session.timeout.ms', 'int', 1800000, 'medium', 'Maximum session timeout a member may ask for.'),
  d('group.max.size', 'int', JAVA_INT_MAX, 'medium', 'Maximum members in a group.', atLeast(1)),

  // ---- transactions and producer ids ----
  d('transaction.state.log.num.partitions', 'int', 50, 'high', 'Partitions of __transaction_state.', atLeast(1)),
  d('transaction.state.log.replication.factor', 'short', 3, 'high', 'Replication factor of __transaction_state (kfk clamps it to the live brokers).', atLeast(1)),
  d('transaction.state.log.min.isr', 'int', 2, 'high', 'min.insync.replicas of __transaction_state.', atLeast(1)),
  d('transaction.state.log.segment.bytes', 'int', 104857600, 'high', 'Segment size of __transaction_state.', atLeast(1)),
  d('transaction.max.timeout.ms', 'int', 900000, 'high', 'Maximum transaction timeout a producer may ask for.', atLeast(1)),
  d('transactional.id.expiration.ms', 'int', 604800000, 'high', 'Expire a transactional id unused for this long.', atLeast(1)),
  d('transaction.state.log.load.buffer.size', 'int', 5242880, 'low', 'Read size when loading __transaction_state.', atLeast(1)),
  d('transaction.abort.timed.out.transaction.cleanup.interval.ms', 'int', 10000, 'low', 'How often transactions open past their timeout are looked for (and aborted).', atLeast(1)),
  d('transaction.remove.expired.transaction.cleanup.interval.ms', 'int', 3600000, 'low', 'How often transactional ids past transactional.id.expiration.ms are removed.', atLeast(1)),
  d('producer.id.expiration.ms', 'int', 86400000, 'low', 'Expire producer state (without an open transaction) unused for this long.', atLeast(1)),
  d('producer.id.expiration.check.interval.ms', 'int', 600000, 'low', 'How often producer state is checked for producer.id.expiration.ms.', atLeast(1)),

  // ---- security (docs/security.md). Each may be set per listener as listener.name.<listener>.<key>. ----
  d('ssl.keystore.type', 'string', 'JKS', 'medium', 'File format of the keystore: PEM or PKCS12 (JKS, Kafka\'s default, is refused: convert it with keytool).'),
  d('ssl.keystore.location', 'string', null, 'high', 'The keystore: a PEM file with the private key and the certificate chain, or a PKCS12 file.'),
  d('ssl.keystore.password', 'password', null, 'high', 'Password of a PKCS12 keystore.'),
  d('ssl.key.password', 'password', null, 'high', 'Password of an encrypted private key (PEM keystores).'),
  d('ssl.keystore.key', 'password', null, 'high', 'The private key in PEM, inline (with ssl.keystore.type=PEM).'),
  d('ssl.keystore.certificate.chain', 'password', null, 'high', 'The certificate chain in PEM, inline (with ssl.keystore.type=PEM).'),
  d('ssl.truststore.type', 'string', 'JKS', 'medium', 'File format of the truststore: PEM or PKCS12.'),
  d('ssl.truststore.location', 'string', null, 'high', 'The truststore: CA certificates in PEM, or a PKCS12 file.'),
  d('ssl.truststore.password', 'password', null, 'high', 'Password of a PKCS12 truststore (checks its integrity).'),
  d('ssl.truststore.certificates', 'password', null, 'high', 'CA certificates in PEM, inline (with ssl.truststore.type=PEM).'),
  d('ssl.client.auth', 'string', 'none', 'medium', 'Client certificates: required, requested or none.', inStrings('required', 'requested', 'none')),
  d('ssl.principal.mapping.rules', 'string', 'DEFAULT', 'low', 'Rules mapping a client certificate\'s distinguished name to a principal name (RULE:pattern/replacement/[LU], DEFAULT).'),
  d('ssl.enabled.protocols', 'list', ['TLSv1.2', 'TLSv1.3'], 'medium', 'TLS versions offered.'),
  d('ssl.protocol', 'string', 'TLSv1.3', 'medium', 'Accepted for compatibility; the versions offered are ssl.enabled.protocols.'),
  d('ssl.cipher.suites', 'list', [], 'low', 'Refused when set: kfk uses the TLS library\'s default cipher suites.'),
  d('ssl.endpoint.identification.algorithm', 'string', 'https', 'low', 'https: a broker connecting to another checks its host name against the certificate; empty: not.'),
  d('ssl.keymanager.algorithm', 'string', 'SunX509', 'low', 'Accepted for compatibility (Java only).'),
  d('ssl.trustmanager.algorithm', 'string', 'PKIX', 'low', 'Accepted for compatibility (Java only).'),
  d('ssl.secure.random.implementation', 'string', null, 'low', 'Accepted for compatibility (Java only).'),
  d('ssl.engine.factory.class', 'class', null, 'low', 'Refused when set: kfk cannot load Java classes.'),
  d('sasl.enabled.mechanisms', 'list', ['GSSAPI'], 'medium', 'SASL mechanisms enabled on SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (GSSAPI, Kafka\'s default, is refused).'),
  d('sasl.mechanism.inter.broker.protocol', 'string', 'GSSAPI', 'medium', 'SASL mechanism between brokers.'),
  d('sasl.jaas.config', 'password', null, 'medium', 'Brokers take the JAAS line per listener and mechanism: listener.name.<listener>.<mechanism>.sasl.jaas.config.'),
  d('sasl.server.callback.handler.class', 'class', null, 'medium', 'Refused when set: kfk cannot load Java classes.'),
  d('sasl.server.max.receive.size', 'int', 524288, 'low', 'Largest frame accepted before SASL authentication.', atLeast(1)),
  d('connections.max.reauth.ms', 'long', 0, 'medium', 'SASL sessions last this long; clients re-authenticate (KIP-368) or are disconnected. 0: no limit.', atLeast(0)),
  d('connection.failed.authentication.delay.ms', 'int', 100, 'low', 'A failed authentication is answered and the connection closed after this delay.', atLeast(0)),
  d('quota.window.num', 'int', 11, 'low', 'Samples a client quota rate is measured over.', atLeast(1)),
  d('quota.window.size.seconds', 'int', 1, 'low', 'Length of one quota sample.', atLeast(1)),
  d('principal.builder.class', 'class', null, 'medium', 'Refused when set to anything but Kafka\'s DefaultKafkaPrincipalBuilder.'),
  d('authorizer.class.name', 'string', '', 'low', 'Authorizer: kafka.security.authorizer.AclAuthorizer (or kafka.security.auth.SimpleAclAuthorizer, org.apache.kafka.metadata.authorizer.StandardAuthorizer); empty disables authorization.'),
  d('super.users', 'string', null, 'medium', 'Principals allowed everything, separated by semicolons (User:admin;User:broker).'),
  d('allow.everyone.if.no.acl.found', 'boolean', false, 'medium', 'A resource without any ACL may be used by everyone (true) or by nobody but super users (false).'),
];

export const BROKER_CONFIG_DEF_MAP: ReadonlyMap<string, ConfigDef> = configDefMap(BROKER_CONFIG_DEFS);

/**
 * Broker configs that stand for the same setting, highest precedence first (Kafka's
 * KafkaConfig.brokerConfigSynonyms). The first is the canonical name.
 */
export const BROKER_CONFIG_SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  'log.roll.ms': ['log.roll.ms', 'log.roll.hours'],
  'log.roll.jitter.ms': ['log.roll.jitter.ms', 'log.roll.jitter.hours'],
  'log.retention.ms': ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours'],
  'log.flush.interval.ms': ['log.flush.interval.ms', 'log.flush.scheduler.interval.ms'],
  'log.dirs': ['log.dirs', 'log.dir'],
};

export interface Listener {
  /** Listener name, upper case (PLAINTEXT, INTERNAL, ...). */
  name: string;
  /** Host name or IP ('' = all interfaces). IPv6 addresses without brackets. */
  host: string;
  port: number;
  securityProtocol: SecurityProtocol;
}

export interface BrokerConfig {
  brokerId: number;
  brokerIdGenerationEnable: boolean;
  reservedBrokerMaxId: number;
  brokerRack: string | null;
  clusterId: string | null;

  listeners: Listener[];
  /** advertised.listeners, or listeners when unset. A '' host is for the broker to fill in. */
  advertisedListeners: Listener[];
  listenerSecurityProtocolMap: Record<string, SecurityProtocol>;
  interBrokerListenerName: string;
  interBrokerSecurityProtocol: SecurityProtocol;

  /** null: embedded registry. */
  zookeeperConnect: string | null;
  zookeeperSessionTimeoutMs: number;
  zookeeperConnectionTimeoutMs: number;

  logDirs: string[];
  logSegmentBytes: number;
  /** Resolved: log.roll.ms > log.roll.hours. */
  logRollMs: number;
  logRollJitterMs: number;
  /** Resolved: log.retention.ms > minutes > hours; any negative value is -1 (no limit). */
  logRetentionMs: number;
  logRetentionBytes: number;
  logRetentionCheckIntervalMs: number;
  logSegmentDeleteDelayMs: number;
  logIndexIntervalBytes: number;
  logIndexSizeMaxBytes: number;
  logFlushIntervalMessages: number;
  /** Resolved: log.flush.interval.ms > log.flush.scheduler.interval.ms. */
  logFlushIntervalMs: number;
  logFlushSchedulerIntervalMs: number;
  logFlushOffsetCheckpointIntervalMs: number;
  logFlushStartOffsetCheckpointIntervalMs: number;
  logPreallocate: boolean;
  logCleanupPolicy: string[];
  logCleanerEnable: boolean;
  logCleanerThreads: number;
  /** log.max.open.files; -1 = derived from the process's open-file limit. */
  logMaxOpenFiles: number;
  numRecoveryThreadsPerDataDir: number;
  logCleanerBackoffMs: number;
  logCleanerDeleteRetentionMs: number;
  logCleanerMinCompactionLagMs: number;
  logCleanerMaxCompactionLagMs: number;
  logCleanerMinCleanableRatio: number;
  logMessageTimestampType: 'CreateTime' | 'LogAppendTime';
  logMessageTimestampDifferenceMaxMs: number;
  compressionType: string;

  numPartitions: number;
  defaultReplicationFactor: number;
  autoCreateTopicsEnable: boolean;
  deleteTopicEnable: boolean;
  minInsyncReplicas: number;
  uncleanLeaderElectionEnable: boolean;
  messageMaxBytes: number;

  socketRequestMaxBytes: number;
  socketSendBufferBytes: number;
  socketReceiveBufferBytes: number;
  connectionsMaxIdleMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** max.connections.per.ip.overrides by host or IP as written (launch resolves host names). */
  maxConnectionsPerIpOverrides: Record<string, number>;
  queuedMaxRequests: number;
  numNetworkThreads: number;
  numIoThreads: number;
  fetchMaxBytes: number;

  replicaLagTimeMaxMs: number;
  replicaSocketTimeoutMs: number;
  replicaFetchMaxBytes: number;
  replicaFetchWaitMaxMs: number;
  replicaFetchMinBytes: number;
  replicaFetchResponseMaxBytes: number;
  replicaFetchBackoffMs: number;
  replicaHighWatermarkCheckpointIntervalMs: number;
  numReplicaFetchers: number;
  autoLeaderRebalanceEnable: boolean;
  leaderImbalanceCheckIntervalSeconds: number;
  leaderImbalancePerBrokerPercentage: number;
  controlledShutdownEnable: boolean;
  controlledShutdownMaxRetries: number;
  controlledShutdownRetryBackoffMs: number;

  offsetsTopicNumPartitions: number;
  /** Kafka's default is 3; kfk clamps it to the number of live brokers when creating the topic. */
  offsetsTopicReplicationFactor: number;
  offsetsTopicSegmentBytes: number;
  offsetsRetentionMinutes: number;
  offsetsRetentionCheckIntervalMs: number;
  offsetsCommitTimeoutMs: number;
  groupInitialRebalanceDelayMs: number;
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  groupMaxSize: number;

  transactionStateLogNumPartitions: number;
  transactionStateLogReplicationFactor: number;
  transactionStateLogMinIsr: number;
  transactionStateLogSegmentBytes: number;
  transactionStateLogLoadBufferSize: number;
  transactionMaxTimeoutMs: number;
  transactionalIdExpirationMs: number;
  transactionAbortTimedOutTransactionCleanupIntervalMs: number;
  transactionRemoveExpiredTransactionCleanupIntervalMs: number;
  producerIdExpirationMs: number;
  producerIdExpirationCheckIntervalMs: number;

  /** Every defined config by its Kafka name (converted value or default). */
  values: Record<string, ConfigValue>;
  /** Names of the defined configs that were set in the file or overrides. */
  explicit: Set<string>;
  /** Keys with no definition, as given (Kafka warns about them). */
  unknown: Record<string, string>;
  /** The merged raw input (file, then overrides). */
  originals: Record<string, string>;
}

/** Parse "PLAINTEXT:PLAINTEXT,SSL:SSL" (names are upper-cased, as Kafka normalises them). */
export function parseSecurityProtocolMap(value: string, configName = 'listener.security.protocol.map'): Record<string, SecurityProtocol> {
  const out: Record<string, SecurityProtocol> = {};
  const trimmed = value.trim();
  if (trimmed === '') return out;
  for (const entry of trimmed.split(/\s*,\s*/)) {
    const i = entry.lastIndexOf(':');
    if (i <= 0 || i === entry.length - 1) {
      throw ConfigError.invalid(configName, value, `Map entry '${entry}' is not of the form LISTENER_NAME:SECURITY_PROTOCOL`);
    }
    const name = entry.slice(0, i).trim().toUpperCase();
    const proto = entry.slice(i + 1).trim().toUpperCase();
    if (!(SECURITY_PROTOCOLS as readonly string[]).includes(proto)) {
      throw ConfigError.invalid(configName, value, `Unknown security protocol ${proto} (one of: ${SECURITY_PROTOCOLS.join(', ')})`);
    }
    out[name] = proto as SecurityProtocol;
  }
  return out;
}

/**
 * Parse a listener list ("PLAINTEXT://:9092,SSL://host:9093") as Kafka's
 * CoreUtils.listenerListToEndPoints does.
 */
export function parseListeners(
  value: string,
  protocolMap: Record<string, SecurityProtocol>,
  configName = 'listeners',
): Listener[] {
  const trimmed = value.trim();
  if (trimmed === '') return [];
  const listeners: Listener[] = [];
  for (const s of trimmed.split(/\s*,\s*/)) {
    const m = /^(.*):\/\/\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$/.exec(s);
    if (!m) throw ConfigError.invalid(configName, value, `Unable to parse ${s} to a broker endpoint`);
    const name = m[1]!.toUpperCase();
    const port = Number(m[3]);
    if (port < 0 || port > 65535) throw ConfigError.invalid(configName, value, `Invalid port ${port} in ${s}`);
    const securityProtocol = protocolMap[name];
    if (!securityProtocol) throw ConfigError.invalid(configName, value, `No security protocol defined for listener ${name}`);
    listeners.push({ name, host: m[2]!, port, securityProtocol });
  }
  const names = new Set<string>();
  for (const l of listeners) {
    if (names.has(l.name)) {
      throw ConfigError.invalid(configName, value, `Each listener must have a different name, listeners: ${trimmed}`);
    }
    names.add(l.name);
  }
  return listeners;
}

/** Format listeners back to "NAME://host:port,..." (IPv6 hosts in brackets). */
export function formatListeners(listeners: readonly Listener[]): string {
  return listeners.map((l) => `${l.name}://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`).join(',');
}

/** Parse max.connections.per.ip.overrides: "host-or-ip:count,..." (the count after the last ':', so IPv6 works). */
export function parseConnectionOverrides(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of splitCsv(value)) {
    const i = entry.lastIndexOf(':');
    const host = i > 0 ? entry.slice(0, i).trim().replace(/^\[(.*)\]$/, '$1') : '';
    const count = i > 0 ? entry.slice(i + 1).trim() : '';
    if (host === '' || !/^\d+$/.test(count) || Number(count) > JAVA_INT_MAX) {
      throw ConfigError.invalid('max.connections.per.ip.overrides', value, `Map entry '${entry}' is not of the form host:count with a count from 0 to ${JAVA_INT_MAX}`);
    }
    out[host] = Number(count);
  }
  return out;
}

function splitCsv(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/**
 * Unknown keys, less the listener-prefixed forms of known ones (listener.name.<l>.<key>, and
 * listener.name.<l>.<mechanism>.<key> for SASL settings), which Kafka reads per listener and does not warn about.
 */
function withoutListenerSettings(unknown: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(unknown)) {
    const m = /^listener\.name\.[^.]+\.(.+)$/.exec(k);
    const rest = m?.[1];
    const known = rest !== undefined && (BROKER_CONFIG_DEF_MAP.has(rest) || BROKER_CONFIG_DEF_MAP.has(rest.replace(/^(plain|scram-sha-256|scram-sha-512|gssapi|oauthbearer)\./i, '')));
    if (!known) out[k] = v;
  }
  return out;
}

/** Build the typed broker config from raw key/values (file and overrides already merged). */
export function brokerConfigFromProperties(raw: Record<string, string>): BrokerConfig {
  const parsed = parseConfig(BROKER_CONFIG_DEF_MAP, raw);
  const v = parsed.values;
  const has = (k: string): boolean => parsed.explicit.has(k);
  const num = (k: string): number => v[k] as number;
  const numOrNull = (k: string): number | null => v[k] as number | null;
  const bool = (k: string): boolean => v[k] as boolean;
  const str = (k: string): string => v[k] as string;
  const strOrNull = (k: string): string | null => v[k] as string | null;

  // broker.id (KafkaConfig.validateValues)
  const brokerId = num('broker.id');
  const generation = bool('broker.id.generation.enable');
  const maxReserved = num('reserved.broker.max.id');
  if (generation) {
    if (brokerId < -1 || brokerId > maxReserved) {
      throw ConfigError.invalid('broker.id', brokerId, 'broker.id must be greater than or equal to -1 and not greater than reserved.broker.max.id');
    }
  } else if (brokerId < 0) {
    throw ConfigError.invalid('broker.id', brokerId, 'broker.id must be greater than or equal to 0');
  }

  // listeners
  const protocolMap = parseSecurityProtocolMap(str('listener.security.protocol.map'));
  let listenersValue = str('listeners');
  if (!has('listeners') && (has('port') || has('host.name'))) {
    listenersValue = `PLAINTEXT://${str('host.name')}:${num('port')}`;
  }
  const listeners = parseListeners(listenersValue, protocolMap, 'listeners');
  if (listeners.length === 0) throw ConfigError.invalid('listeners', listenersValue, 'At least one listener is required');
  const ports = new Set<number>();
  for (const l of listeners) {
    if (l.port !== 0 && ports.has(l.port)) {
      throw ConfigError.invalid('listeners', listenersValue, `Each listener must have a different port, listeners: ${listenersValue}`);
    }
    ports.add(l.port);
  }

  let advertisedListeners: Listener[];
  const advertisedValue = strOrNull('advertised.listeners');
  if (advertisedValue !== null) {
    advertisedListeners = parseListeners(advertisedValue, protocolMap, 'advertised.listeners');
  } else if (has('advertised.host.name') || has('advertised.port')) {
    const host = strOrNull('advertised.host.name') ?? str('host.name');
    const port = numOrNull('advertised.port') ?? num('port');
    advertisedListeners = parseListeners(`PLAINTEXT://${host}:${port}`, protocolMap, 'advertised.listeners');
  } else {
    advertisedListeners = listeners.map((l) => ({ ...l }));
  }
  for (const l of advertisedListeners) {
    if (l.host === '0.0.0.0') {
      throw ConfigError.invalid(
        'advertised.listeners',
        advertisedValue ?? listenersValue,
        'advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.',
      );
    }
    if (!listeners.some((x) => x.name === l.name)) {
      throw ConfigError.invalid(
        'advertised.listeners',
        advertisedValue,
        'advertised.listeners listener names must be equal to or a subset of the ones defined in listeners',
      );
    }
  }

  const interBrokerSecurityProtocol = str('security.inter.broker.protocol') as SecurityProtocol;
  const explicitInterName = strOrNull('inter.broker.listener.name');
  if (explicitInterName !== null && has('security.inter.broker.protocol')) {
    throw new ConfigError(
      'Only one of inter.broker.listener.name and security.inter.broker.protocol should be set.',
      'inter.broker.listener.name',
      explicitInterName,
    );
  }
  const interBrokerListenerName = explicitInterName !== null ? explicitInterName.toUpperCase() : interBrokerSecurityProtocol;
  if (!advertisedListeners.some((l) => l.name === interBrokerListenerName)) {
    throw ConfigError.invalid(
      explicitInterName !== null ? 'inter.broker.listener.name' : 'security.inter.broker.protocol',
      explicitInterName ?? interBrokerSecurityProtocol,
      `inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are ${advertisedListeners
        .map((l) => l.name)
        .join(',')}`,
    );
  }
  const interBrokerProtocol = protocolMap[interBrokerListenerName] ?? interBrokerSecurityProtocol;

  // Kafka's KafkaConfig.validateValues: a follower's fetch wait must fit in its socket timeout and in the ISR lag.
  if (num('replica.fetch.wait.max.ms') > num('replica.socket.timeout.ms')) {
    throw new ConfigError(
      'replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms to prevent unnecessary socket timeouts',
      'replica.socket.timeout.ms',
      String(num('replica.socket.timeout.ms')),
    );
  }
  if (num('replica.fetch.wait.max.ms') > num('replica.lag.time.max.ms')) {
    throw new ConfigError(
      'replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR',
      'replica.fetch.wait.max.ms',
      String(num('replica.fetch.wait.max.ms')),
    );
  }

  // log dirs: log.dirs > log.dir
  const logDirsValue = strOrNull('log.dirs') ?? str('log.dir');
  const logDirs = splitCsv(logDirsValue);
  if (logDirs.length === 0) {
    throw ConfigError.invalid(has('log.dirs') ? 'log.dirs' : 'log.dir', logDirsValue, 'At least one log directory must be defined via log.dirs or log.dir.');
  }

  // time precedence (KafkaConfig.logRetentionTimeMillis, logRollTimeMillis, ...)
  const retentionMs = ((): number => {
    const ms = numOrNull('log.retention.ms');
    const minutes = numOrNull('log.retention.minutes');
    const millis = ms !== null ? ms : minutes !== null ? minutes * MINUTE_MS : num('log.retention.hours') * HOUR_MS;
    return millis < 0 ? -1 : millis;
  })();
  const rollMs = numOrNull('log.roll.ms') ?? num('log.roll.hours') * HOUR_MS;
  const rollJitterMs = numOrNull('log.roll.jitter.ms') ?? num('log.roll.jitter.hours') * HOUR_MS;
  const flushIntervalMs = numOrNull('log.flush.interval.ms') ?? num('log.flush.scheduler.interval.ms');
  const sessionTimeout = num('zookeeper.session.timeout.ms');

  // connection limits (KafkaConfig: max.connections.per.ip may be 0 only with overrides)
  const maxConnectionsPerIp = num('max.connections.per.ip');
  const maxConnectionsPerIpOverrides = parseConnectionOverrides(str('max.connections.per.ip.overrides'));
  if (maxConnectionsPerIp === 0 && Object.keys(maxConnectionsPerIpOverrides).length === 0) {
    throw ConfigError.invalid(
      'max.connections.per.ip',
      0,
      'max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides property is set.',
    );
  }

  return {
    brokerId,
    brokerIdGenerationEnable: generation,
    reservedBrokerMaxId: maxReserved,
    brokerRack: strOrNull('broker.rack'),
    clusterId: strOrNull('cluster.id'),

    listeners,
    advertisedListeners,
    listenerSecurityProtocolMap: protocolMap,
    interBrokerListenerName,
    interBrokerSecurityProtocol: interBrokerProtocol,

    zookeeperConnect: strOrNull('zookeeper.connect') || null,
    zookeeperSessionTimeoutMs: sessionTimeout,
    zookeeperConnectionTimeoutMs: numOrNull('zookeeper.connection.timeout.ms') ?? sessionTimeout,

    logDirs,
    logSegmentBytes: num('log.segment.bytes'),
    logRollMs: rollMs,
    logRollJitterMs: rollJitterMs,
    logRetentionMs: retentionMs,
    logRetentionBytes: num('log.retention.bytes'),
    logRetentionCheckIntervalMs: num('log.retention.check.interval.ms'),
    logSegmentDeleteDelayMs: num('log.segment.delete.delay.ms'),
    logIndexIntervalBytes: num('log.index.interval.bytes'),
    logIndexSizeMaxBytes: num('log.index.size.max.bytes'),
    logFlushIntervalMessages: num('log.flush.interval.messages'),
    logFlushIntervalMs: flushIntervalMs,
    logFlushSchedulerIntervalMs: num('log.flush.scheduler.interval.ms'),
    logFlushOffsetCheckpointIntervalMs: num('log.flush.offset.checkpoint.interval.ms'),
    logFlushStartOffsetCheckpointIntervalMs: num('log.flush.start.offset.checkpoint.interval.ms'),
    logPreallocate: bool('log.preallocate'),
    logCleanupPolicy: v['log.cleanup.policy'] as string[],
    logCleanerEnable: bool('log.cleaner.enable'),
    logCleanerThreads: num('log.cleaner.threads'),
    logMaxOpenFiles: num('log.max.open.files'),
    numRecoveryThreadsPerDataDir: num('num.recovery.threads.per.data.dir'),
    logCleanerBackoffMs: num('log.cleaner.backoff.ms'),
    logCleanerDeleteRetentionMs: num('log.cleaner.delete.retention.ms'),
    logCleanerMinCompactionLagMs: num('log.cleaner.min.compaction.lag.ms'),
    logCleanerMaxCompactionLagMs: num('log.cleaner.max.compaction.lag.ms'),
    logCleanerMinCleanableRatio: num('log.cleaner.min.cleanable.ratio'),
    logMessageTimestampType: str('log.message.timestamp.type') as 'CreateTime' | 'LogAppendTime',
    logMessageTimestampDifferenceMaxMs: num('log.message.timestamp.difference.max.ms'),
    compressionType: str('compression.type'),

    numPartitions: num('num.partitions'),
    defaultReplicationFactor: num('default.replication.factor'),
    autoCreateTopicsEnable: bool('auto.create.topics.enable'),
    deleteTopicEnable: bool('delete.topic.enable'),
    minInsyncReplicas: num('min.insync.replicas'),
    uncleanLeaderElectionEnable: bool('unclean.leader.election.enable'),
    messageMaxBytes: num('message.max.bytes'),

    socketRequestMaxBytes: num('socket.request.max.bytes'),
    socketSendBufferBytes: num('socket.send.buffer.bytes'),
    socketReceiveBufferBytes: num('socket.receive.buffer.bytes'),
    connectionsMaxIdleMs: num('connections.max.idle.ms'),
    maxConnections: num('max.connections'),
    maxConnectionsPerIp,
    maxConnectionsPerIpOverrides,
    queuedMaxRequests: num('queued.max.requests'),
    numNetworkThreads: num('num.network.threads'),
    numIoThreads: num('num.io.threads'),
    fetchMaxBytes: num('fetch.max.bytes'),

    replicaLagTimeMaxMs: num('replica.lag.time.max.ms'),
    replicaSocketTimeoutMs: num('replica.socket.timeout.ms'),
    replicaFetchMaxBytes: num('replica.fetch.max.bytes'),
    replicaFetchWaitMaxMs: num('replica.fetch.wait.max.ms'),
    replicaFetchMinBytes: num('replica.fetch.min.bytes'),
    replicaFetchResponseMaxBytes: num('replica.fetch.response.max.bytes'),
    replicaFetchBackoffMs: num('replica.fetch.backoff.ms'),
    replicaHighWatermarkCheckpointIntervalMs: num('replica.high.watermark.checkpoint.interval.ms'),
    numReplicaFetchers: num('num.replica.fetchers'),
    autoLeaderRebalanceEnable: bool('auto.leader.rebalance.enable'),
    leaderImbalanceCheckIntervalSeconds: num('leader.imbalance.check.interval.seconds'),
    leaderImbalancePerBrokerPercentage: num('leader.imbalance.per.broker.percentage'),
    controlledShutdownEnable: bool('controlled.shutdown.enable'),
    controlledShutdownMaxRetries: num('controlled.shutdown.max.retries'),
    controlledShutdownRetryBackoffMs: num('controlled.shutdown.retry.backoff.ms'),

    offsetsTopicNumPartitions: num('offsets.topic.num.partitions'),
    offsetsTopicReplicationFactor: num('offsets.topic.replication.factor'),
    offsetsTopicSegmentBytes: num('offsets.topic.segment.bytes'),
    offsetsRetentionMinutes: num('offsets.retention.minutes'),
    offsetsRetentionCheckIntervalMs: num('offsets.retention.check.interval.ms'),
    offsetsCommitTimeoutMs: num('offsets.commit.timeout.ms'),
    groupInitialRebalanceDelayMs: num('group.initial.rebalance.delay.ms'),
    groupMinSessionTimeoutMs: num('group.min.session.timeout.ms'),
    groupMaxSessionTimeoutMs: num('group.max.session.timeout.ms'),
    groupMaxSize: num('group.max.size'),

    transactionStateLogNumPartitions: num('transaction.state.log.num.partitions'),
    transactionStateLogReplicationFactor: num('transaction.state.log.replication.factor'),
    transactionStateLogMinIsr: num('transaction.state.log.min.isr'),
    transactionStateLogSegmentBytes: num('transaction.state.log.segment.bytes'),
    transactionStateLogLoadBufferSize: num('transaction.state.log.load.buffer.size'),
    transactionMaxTimeoutMs: num('transaction.max.timeout.ms'),
    transactionalIdExpirationMs: num('transactional.id.expiration.ms'),
    transactionAbortTimedOutTransactionCleanupIntervalMs: num('transaction.abort.timed.out.transaction.cleanup.interval.ms'),
    transactionRemoveExpiredTransactionCleanupIntervalMs: num('transaction.remove.expired.transaction.cleanup.interval.ms'),
    producerIdExpirationMs: num('producer.id.expiration.ms'),
    producerIdExpirationCheckIntervalMs: num('producer.id.expiration.check.interval.ms'),

    values: v,
    explicit: parsed.explicit,
    unknown: withoutListenerSettings(parsed.unknown),
    originals: { ...raw },
  };
}

export interface LoadBrokerConfigOptions {
  /** A server.properties file. */
  file?: string;
  /** `--override key=value` pairs; they win over the file. */
  overrides?: Record<string, string>;
}

/** Read the properties file (if any) and apply overrides: the raw properties a broker starts from. */
export function loadBrokerProperties(opts: LoadBrokerConfigOptions = {}): Record<string, string> {
  let fromFile: Record<string, string> = {};
  if (opts.file !== undefined) {
    try {
      fromFile = readPropertiesFileSync(opts.file);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
      throw new ConfigError(`Cannot read config file ${opts.file}: ${why}`);
    }
  }
  return { ...fromFile, ...(opts.overrides ?? {}) };
}

/** Read the properties file (if any), apply overrides, and build the typed config. */
export function loadBrokerConfig(opts: LoadBrokerConfigOptions = {}): BrokerConfig {
  return brokerConfigFromProperties(loadBrokerProperties(opts));
}

/** Parse `key=value` (as given to --override); the value may contain '='. */
export function parseOverride(s: string): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new ConfigError(`Invalid override '${s}': expected key=value`);
  return [s.slice(0, i).trim(), s.slice(i + 1)];
}

/** Where a broker config's value comes from, for DescribeConfigs. */
export function brokerConfigSource(config: BrokerConfig, name: string): 'STATIC_BROKER_CONFIG' | 'DEFAULT_CONFIG' {
  const names = BROKER_CONFIG_SYNONYMS[name] ?? [name];
  return names.some((n) => config.explicit.has(n)) ? 'STATIC_BROKER_CONFIG' : 'DEFAULT_CONFIG';
}
