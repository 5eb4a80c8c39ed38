/**
 * Producer id allocation as Kafka's ZooKeeper-mode ProducerIdManager does it: each broker reserves blocks
 * of PRODUCER_ID_BLOCK_SIZE ids in `/latest_producer_id_block` with a compare-and-set on the znode version
 * (`{"version":1,"broker":N,"block_start":"S","block_end":"E"}`), and hands ids out of its current block.
 * Blocks are never given back, so ids are unique across brokers and restarts; a crashed broker just
 * leaves the rest of its block unused.
 */
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { isRegistryError, type Registry } from '../registry/registry.js';
import { decodeProducerIdBlock, encodeProducerIdBlock, latestProducerIdBlockPath, type ProducerIdBlock } from '../registry/paths.js';

/** Ids per block (Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE). */
export const PRODUCER_ID_BLOCK_SIZE = 1000;
/** Producer ids are int64 in the protocol, but stay below 2^53 here so they fit a JS number exactly. */
const MAX_PRODUCER_ID = Number.MAX_SAFE_INTEGER;
const MAX_CAS_ATTEMPTS = 50;

export class ProducerIdManager {
  private block: ProducerIdBlock | null = null;
  private next = 0;
  /** A block reservation in flight; concurrent callers share it. */
  private fetching: Promise<void> | null = null;

  constructor(
    private readonly registry: Registry,
    private readonly brokerId: number,
    private readonly blockSize = PRODUCER_ID_BLOCK_SIZE,
  ) {}

  /** The next unused producer id (reserving a new block in the registry when the current one is used up). */
  async generateProducerId(): Promise<number> {
    for (;;) {
      if (this.block !== null && this.next <= this.block.blockEnd) return this.next++;
      if (this.fetching === null) {
        this.fetching = this.reserveBlock().finally(() => {
          this.fetching = null;
        });
      }
      await this.fetching;
    }
  }

  /** Reserves the block after the latest one with a conditional update of the znode; retries on a lost race. */
  private async reserveBlock(): Promise<void> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const node = await this.registry.get(latestProducerIdBlockPath);
      const latest = node ? decodeProducerIdBlock(node.data) : null;
      const start = latest === null ? 0 : latest.blockEnd + 1;
      if (start > MAX_PRODUCER_ID - this.blockSize) {
        throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, 'producer ids are exhausted');
      }
      const block: ProducerIdBlock = { brokerId: this.brokerId, blockStart: start, blockEnd: start + this.blockSize - 1 };
      const data = encodeProducerIdBlock(block);
      try {
        if (node === null) await this.registry.create(latestProducerIdBlockPath, data, 'persistent');
        else await this.registry.set(latestProducerIdBlockPath, data, node.stat.version);
      } catch (err) {
        if (isRegistryError(err, 'BAD_VERSION') || isRegistryError(err, 'NODE_EXISTS') || isRegistryError(err, 'NO_NODE')) continue;
        throw err;
      }
      this.block = block;
      this.next = block.blockStart;
      return;
    }
    throw new KafkaError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 'could not reserve a producer id block (too much contention)');
  }
}
