/**
 * High watermarks of partitions led by other brokers, for the consumer lag gauges: a group's coordinator holds its
 * committed offsets, but on a cluster most of its partitions are led elsewhere. Asked on a scrape, it sends one
 * ListOffsets (latest, read_uncommitted: the high watermark, as `consumer-groups --describe` reads it) per leader,
 * over the inter-broker listener with its security, on a connection kept per broker. A leader that does not answer
 * leaves its partitions out of that scrape (no series rather than a wrong one).
 */
import { InterBrokerConnections, type PeerRequestOptions } from '../cluster/inter-broker-connections.js';
import { ApiKey } from '../protocol/generated/apis.js';
import type { ListOffsetsResponse } from '../protocol/generated/list-offsets.js';

export interface RemoteHighWatermarksOptions extends PeerRequestOptions {
  /** Per request (default 5 s: a scrape must not hang on a broker that stopped answering). */
  requestTimeoutMs?: number;
}

const LATEST = -1;

export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class RemoteHighWatermarks {
  private readonly connections: InterBrokerConnections;

  constructor(private readonly opts: RemoteHighWatermarksOptions) {
    this.connections = new InterBrokerConnections({
      metadata: opts.metadata,
      clientId: `broker-${opts.brokerId}-metrics`,
      connectTimeoutMs: opts.requestTimeoutMs ?? 5000,
      ...(opts.listenerName !== undefined ? { listenerName: opts.listenerName } : {}),
      ...(opts.security ? { security: opts.security } : {}),
    });
  }

  /** The high watermark of each partition (by tpKey) whose leader answered; partitions led here are not asked. */
  async read(partitions: Iterable<{ topic: string; partition: number }>): Promise<Map<string, number>> {
    const byLeader = new Map<number, Map<string, number[]>>();
    for (const { topic, partition } of partitions) {
      const leader = this.opts.metadata.partition(topic, partition)?.leader ?? -1;
      if (leader < 0 || leader === this.opts.brokerId) continue;
      let topics = byLeader.get(leader);
      if (topics === undefined) byLeader.set(leader, (topics = new Map()));
      let list = topics.get(topic);
      if (list === undefined) topics.set(topic, (list = []));
      if (!list.includes(partition)) list.push(partition);
    }
    const out = new Map<string, number>();
    await Promise.all(
      [...byLeader].map(async ([leader, topics]) => {
        try {
          const conn = await this.connections.get(leader);
          const response = await conn.request<ListOffsetsResponse>(
            ApiKey.ListOffsets,
            {
              replicaId: -1,
              isolationLevel: 0,
              topics: [...topics].map(([name, ps]) => ({ name, partitions: ps.map((p) => ({ partitionIndex: p, currentLeaderEpoch: -1, timestamp: LATEST, maxNumOffsets: 1 })) })),
            },
            { timeoutMs: this.opts.requestTimeoutMs ?? 5000 },
          );
          for (const t of response.topics) {
            for (const p of t.partitions) if (p.errorCode === 0 && Number(p.offset) >= 0) out.set(tpKey(t.name, p.partitionIndex), Number(p.offset));
          }
        } catch (err) {
          this.opts.logger.debug(`metrics: high watermarks from broker ${leader} failed: ${(err as Error).message}`);
          this.connections.drop(leader);
        }
      }),
    );
    return out;
  }

  close(): void {
    this.connections.close();
  }
}
