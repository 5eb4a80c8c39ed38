/**
 * ListOffsets (key 2), v0-7, served by the partition's leader (NOT_LEADER_OR_FOLLOWER elsewhere; a debugging
 * client, replica_id -2, may ask any replica). -1 = latest: for clients the high watermark (or the last stable
 * offset for read_committed: the first offset of an open transaction below the high watermark), for a follower (replica_id >= 0) the log end
 * offset; -2 = earliest (the log start offset). Other timestamps return the first offset whose timestamp is at or
 * after it, or -1 when there is none; -3 (v7+, KIP-734) the record with the largest timestamp below the last
 * fetchable offset. current_leader_epoch (v4+) is checked as Kafka does (KIP-320). While a new
 * leader's high watermark has not reached the start of its epoch, clients get OFFSET_NOT_AVAILABLE for latest.
 * v0 answers in its old shape (a list of offsets). v8 (-4, earliest local: tiered storage) is not advertised.
 */
import type { ListOffsetsRequest, ListOffsetsResponseInput } from '../../protocol/generated/list-offsets.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';

const CONSUMER_REPLICA_ID = -1;
const DEBUGGING_REPLICA_ID = -2;

export function listOffsetsHandler(b: BrokerServices): ApiHandler<ListOffsetsRequest, ListOffsetsResponseInput> {
  return {
    apiKey: 2,
    minVersion: 0,
    maxVersion: 7,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const isolation = req.replicaId === CONSUMER_REPLICA_ID ? req.isolationLevel : null;
      const fetchOnlyFromLeader = req.replicaId !== DEBUGGING_REPLICA_ID;
      const topics = [];
      for (const t of req.topics) {
        const partitions = [];
        for (const p of t.partitions) {
          const r = await b.replicaManager.listOffset(t.name, p.partitionIndex, p.timestamp, isolation, p.currentLeaderEpoch, fetchOnlyFromLeader);
          if (v === 0) {
            const offsets = r.errorCode === ErrorCode.NONE && r.offset >= 0 ? [r.offset] : [];
            partitions.push({ partitionIndex: p.partitionIndex, errorCode: r.errorCode, oldStyleOffsets: offsets.slice(0, Math.max(0, p.maxNumOffsets)) });
          } else {
            partitions.push({ partitionIndex: p.partitionIndex, errorCode: r.errorCode, timestamp: r.timestamp, offset: r.offset, leaderEpoch: r.leaderEpoch });
          }
        }
        topics.push({ name: t.name, partitions });
      }
      return { throttleTimeMs: 0, topics };
    },
  };
}
