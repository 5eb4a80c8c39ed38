/** What handlers may use of the broker: one narrow surface, so each handler stays a function of (request, context). */
import type { MetadataCache } from '../../cluster/metadata-cache.js';
import type { ReplicaManager } from '../../replication/replica-manager.js';
import type { Controller } from '../../cluster/controller.js';
import type { Logger } from '../../server/logger.js';

import type { AutoTopicCreator } from '../../cluster/auto-topic-creation.js';
import type { RequestAuthorizer } from '../../security/authorizing-handler.js';

export interface BrokerSettings {
  brokerId: number;
  autoCreateTopicsEnable: boolean;
  numPartitions: number;
  defaultReplicationFactor: number;
  deleteTopicEnable: boolean;
  offsetsTopicNumPartitions: number;
  offsetsTopicReplicationFactor: number;
  offsetsTopicSegmentBytes: number;
  transactionStateLogNumPartitions: number;
  transactionStateLogReplicationFactor: number;
  transactionStateLogMinIsr: number;
  transactionStateLogSegmentBytes: number;
}

export interface BrokerServices {
  readonly settings: BrokerSettings;
  readonly metadata: MetadataCache;
  readonly replicaManager: ReplicaManager;
  readonly controller: Controller;
  /** For failures a handler answers itself (e.g. one partition's append) rather than leaving to the connection layer. */
  readonly logger?: Logger;

  /** Creates topics clients did not create explicitly: on the controller, or forwarded to it. */
  readonly autoTopicCreator: AutoTopicCreator;
  /** The error that keeps a partition assigned here from being served (its log could not be created yet), if any. */
  partitionFailure?(topic: string, partition: number): Error | undefined;

  /** With an authorizer: checks on behalf of a request, for handlers that filter what they return (Metadata). */
  readonly requestAuthorizer?: RequestAuthorizer | null;
}
