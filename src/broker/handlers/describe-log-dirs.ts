/**
 * DescribeLogDirs (key 35), v0-4 (kafka-log-dirs.sh, AdminClient.describeLogDirs), as Kafka's
 * ReplicaManager.describeLogDirs: every log dir of this broker with the partitions it holds (all of them, or those
 * the request names; a null topic list means all), each with its size in bytes and its offset lag (how far the
 * log end offset is below the high watermark, 0 for a replica that is caught up). A dir taken offline by a storage
 * failure is listed with KAFKA_STORAGE_ERROR and no partitions. v4 adds the dir's total and usable bytes
 * (statfs; -1 when they cannot be read).
 */
import { statfs } from 'node:fs/promises';
import type {
  DescribeLogDirsRequest,
  DescribeLogDirsResponseInput,
  DescribeLogDirsResponseDescribeLogDirsResultInput,
  DescribeLogDirsResponseDescribeLogDirsTopicInput,
} from '../../protocol/generated/describe-log-dirs.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { LogManager } from '../../log/log-manager.js';
import type { ReplicaManager } from '../../replication/replica-manager.js';

export interface LogDirServices {
  readonly logManager: LogManager;
  readonly replicaManager: ReplicaManager;
}

async function space(dir: string): Promise<{ totalBytes: number; usableBytes: number }> {
  try {
    const s = await statfs(dir);
    return { totalBytes: s.blocks * s.bsize, usableBytes: s.bavail * s.bsize };
  } catch {
    return { totalBytes: -1, usableBytes: -1 };
  }
}

export function describeLogDirsHandler(b: LogDirServices): ApiHandler<DescribeLogDirsRequest, DescribeLogDirsResponseInput> {
  return {
    apiKey: 35,
    minVersion: 0,
    maxVersion: 4,
    async handle(req) {
      const lm = b.logManager;
      const wanted = req.topics === null ? null : new Map(req.topics.map((t) => [t.topic, new Set(t.partitions)]));
      type DirTopic = { name: string; partitions: { partitionIndex: number; partitionSize: number; offsetLag: number; isFutureKey: boolean }[] };
      const byDir = new Map<string, Map<string, DirTopic>>();
      for (const dir of lm.liveLogDirs) byDir.set(dir, new Map());
      for (const log of lm.allLogs()) {
        if (log.isClosed || log.isOffline) continue;
        if (wanted !== null && !wanted.get(log.topic)?.has(log.partition)) continue;
        const topics = byDir.get(lm.logDirOf(log));
        if (topics === undefined) continue; // its dir went offline
        let t = topics.get(log.topic);
        if (t === undefined) topics.set(log.topic, (t = { name: log.topic, partitions: [] }));
        const hw = b.replicaManager.highWatermarkOf(log);
        t.partitions.push({ partitionIndex: log.partition, partitionSize: log.size, offsetLag: Math.max(0, hw - log.logEndOffset), isFutureKey: false });
      }
      const results: DescribeLogDirsResponseDescribeLogDirsResultInput[] = [];
      for (const [dir, topics] of byDir) {
        const sorted = [...topics.values()].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
        for (const t of sorted) t.partitions.sort((x, y) => x.partitionIndex - y.partitionIndex);
        results.push({ errorCode: ErrorCode.NONE, logDir: dir, topics: sorted satisfies DescribeLogDirsResponseDescribeLogDirsTopicInput[], ...(await space(dir)) });
      }
      for (const dir of lm.offlineLogDirs) results.push({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, logDir: dir, topics: [], totalBytes: -1, usableBytes: -1 });
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, results };
    },
  };
}
