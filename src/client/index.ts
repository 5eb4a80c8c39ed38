/**
 * kfk's Kafka client: producer, consumer (assign mode) and admin, over one ClusterClient each (or a
 * shared one via the `cluster` option).
 *
 * ```ts
 * const producer = createProducer({ bootstrap: 'localhost:9092' });
 * await producer.send('test', { key: 'k', value: 'hello' });
 * await producer.close();
 * ```
 */
export { Producer, createProducer, normalizeAcks } from './producer.js';
export type { Acks, ProduceCallback, ProducerOptions, ProducerRecord, RecordMetadata, ProducerTransport, ConsumerGroupMetadata, TransactionalOffset } from './producer.js';
export { Consumer, createConsumer, listOffsets } from './consumer.js';
export type { Assignment, ConsumerOptions, ConsumerRecord, IsolationLevel, OffsetSpec } from './consumer.js';
export type { RecordView } from './record-view.js';
export { GroupConsumer, CommitFailedError, createGroupConsumer } from './group-consumer.js';
export type { GroupConsumerOptions, CommittedOffset } from './group-consumer.js';
export { rangeAssignor, roundRobinAssignor, assignorByName } from './assignors.js';
export type { Assignor, TopicPartition, MemberSubscription, GroupAssignment } from './assignors.js';
export { Admin, TopicError, createAdmin } from './admin.js';
export type { AdminOptions, NewTopic, CreatedTopic, TopicDescription, PartitionDescription, ClusterDescription } from './admin.js';
export type { GroupListing, GroupDescription, GroupMemberDescription, GroupOffset } from './admin.js';
export type { TransactionListing, TransactionDescription, ProducerStateDescription, AbortTransactionSpec } from './admin.js';
export { ClusterClient, parseBootstrap, isRetriable } from './cluster-client.js';
export type { ClusterClientOptions, BrokerInfo, TopicMetadata, PartitionMetadata, ClusterMetadata } from './cluster-client.js';
export { BrokerConnection, ConnectionError, RequestTimeoutError } from './connection.js';
export type { ConnectionOptions, RequestOptions } from './connection.js';
export { murmur2, partitionForKey, toPositive } from './partitioner.js';
export type { RecordHeader } from '../protocol/records.js';
export { KafkaError, ErrorCode, errorName } from '../protocol/errors.js';
