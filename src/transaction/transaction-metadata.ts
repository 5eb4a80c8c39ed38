/**
 * One transactional id's state on its coordinator (Kafka's TransactionMetadata and TransactionState): the producer id
 * and epoch it hands out, the transaction timeout, the state, the partitions of the ongoing transaction, and the
 * start and last-update times.
 *
 * Every change is prepared first (`prepare*` returns the next state as a TxnTransit and marks it pending; a second
 * change while one is pending is refused), written to `__transaction_state`, and only applied (`completeTransitionTo`)
 * once the write succeeded, so memory never runs ahead of the log. The coordinator answers CONCURRENT_TRANSACTIONS
 * to requests that arrive while a change is pending.
 *
 * States and the transitions Kafka allows (the state ids are the TransactionStatus byte in the log):
 *
 *   Empty(0)            ← Empty, CompleteCommit, CompleteAbort          (InitProducerId: epoch bump)
 *   Ongoing(1)          ← Ongoing, Empty, CompleteCommit, CompleteAbort  (AddPartitionsToTxn, AddOffsetsToTxn)
 *   PrepareCommit(2)    ← Ongoing                                        (EndTxn commit)
 *   PrepareAbort(3)     ← Ongoing, PrepareEpochFence                     (EndTxn abort, timeout, fencing)
 *   CompleteCommit(4)   ← PrepareCommit                                  (every marker written)
 *   CompleteAbort(5)    ← PrepareAbort
 *   Dead(6)             ← Empty, CompleteCommit, CompleteAbort           (transactional.id.expiration.ms)
 *   PrepareEpochFence(7)← Ongoing                                        (in memory only: abort with a bumped epoch)
 */

export type TxnState = 'Empty' | 'Ongoing' | 'PrepareCommit' | 'PrepareAbort' | 'CompleteCommit' | 'CompleteAbort' | 'Dead' | 'PrepareEpochFence';

export const TXN_STATE_IDS: Readonly<Record<TxnState, number>> = {
  Empty: 0,
  Ongoing: 1,
  PrepareCommit: 2,
  PrepareAbort: 3,
  CompleteCommit: 4,
  CompleteAbort: 5,
  Dead: 6,
  PrepareEpochFence: 7,
};

export const TXN_STATES: readonly TxnState[] = Object.keys(TXN_STATE_IDS) as TxnState[];

export function txnStateFromId(id: number): TxnState {
  const s = TXN_STATES.find((n) => TXN_STATE_IDS[n] === id);
  if (s === undefined) throw new Error(`unknown transaction state ${id}`);
  return s;
}

const VALID_PREVIOUS: Readonly<Record<TxnState, readonly TxnState[]>> = {
  Empty: ['Empty', 'CompleteCommit', 'CompleteAbort'],
  Ongoing: ['Ongoing', 'Empty', 'CompleteCommit', 'CompleteAbort'],
  PrepareCommit: ['Ongoing'],
  PrepareAbort: ['Ongoing', 'PrepareEpochFence'],
  CompleteCommit: ['PrepareCommit'],
  CompleteAbort: ['PrepareAbort'],
  Dead: ['Empty', 'CompleteAbort', 'CompleteCommit'],
  PrepareEpochFence: ['Ongoing'],
};

export const NO_PRODUCER_ID = -1;
export const NO_PRODUCER_EPOCH = -1;
const INT16_MAX = 0x7fff;

/** Kafka's TransactionMetadata.isEpochExhausted: a producer id is replaced before its epoch can overflow. */
export function isEpochExhausted(epoch: number): boolean {
  return epoch >= INT16_MAX - 1;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** The state a prepared change leads to (Kafka's TxnTransitMetadata). */
export interface TxnTransit {
  producerId: number;
  lastProducerId: number;
  producerEpoch: number;
  lastProducerEpoch: number;
  txnTimeoutMs: number;
  state: TxnState;
  partitions: TopicPartition[];
  txnStartTimestamp: number;
  txnLastUpdateTimestamp: number;
}

export class IllegalTxnTransitionError extends Error {}

export class TransactionMetadata {
  /** The change being written, if any. */
  pendingState: TxnState | null = null;
  /** An epoch fence whose write failed: the next fence does not bump the epoch again. */
  hasFailedEpochFence = false;
  readonly partitions = new Map<string, TopicPartition>();

  constructor(
    readonly transactionalId: string,
    public producerId: number,
    public lastProducerId: number,
    public producerEpoch: number,
    public lastProducerEpoch: number,
    public txnTimeoutMs: number,
    public state: TxnState,
    partitions: readonly TopicPartition[],
    public txnStartTimestamp: number,
    public txnLastUpdateTimestamp: number,
  ) {
    for (const tp of partitions) this.partitions.set(tpKey(tp.topic, tp.partition), tp);
  }

  static fromTransit(transactionalId: string, t: TxnTransit): TransactionMetadata {
    return new TransactionMetadata(
      transactionalId,
      t.producerId,
      t.lastProducerId,
      t.producerEpoch,
      t.lastProducerEpoch,
      t.txnTimeoutMs,
      t.state,
      t.partitions,
      t.txnStartTimestamp,
      t.txnLastUpdateTimestamp,
    );
  }

  get pendingTransitionInProgress(): boolean {
    return this.pendingState !== null;
  }

  get isProducerEpochExhausted(): boolean {
    return isEpochExhausted(this.producerEpoch);
  }

  partitionList(): TopicPartition[] {
    return [...this.partitions.values()];
  }

  /** The current state as a transit (Kafka's prepareNoTransit). */
  snapshot(): TxnTransit {
    return {
      producerId: this.producerId,
      lastProducerId: this.lastProducerId,
      producerEpoch: this.producerEpoch,
      lastProducerEpoch: this.lastProducerEpoch,
      txnTimeoutMs: this.txnTimeoutMs,
      state: this.state,
      partitions: this.partitionList(),
      txnStartTimestamp: this.txnStartTimestamp,
      txnLastUpdateTimestamp: this.txnLastUpdateTimestamp,
    };
  }

  /** Aborting an open transaction of a producer being fenced (InitProducerId from a new instance, or a timeout). */
  prepareFenceProducerEpoch(): TxnTransit {
    if (this.producerEpoch >= INT16_MAX) throw new IllegalTxnTransitionError(`cannot fence producer ${this.producerId} at epoch ${this.producerEpoch}`);
    const bumped = this.hasFailedEpochFence ? this.producerEpoch : this.producerEpoch + 1;
    return this.prepareTransitionTo('PrepareEpochFence', {
      producerEpoch: bumped,
      lastProducerEpoch: NO_PRODUCER_EPOCH,
    });
  }

  /**
   * InitProducerId for a producer of this transactional id: epoch + 1 (Kafka's prepareIncrementProducerEpoch). With
   * the epoch the producer already has (v3+): the same, a retry of a bump it never got an answer for, or PRODUCER_FENCED.
   */
  prepareIncrementProducerEpoch(newTxnTimeoutMs: number, expectedEpoch: number | null, now: number): TxnTransit | 'PRODUCER_FENCED' {
    if (this.isProducerEpochExhausted) throw new IllegalTxnTransitionError(`producer ${this.producerId}'s epoch is exhausted`);
    const bumped = this.producerEpoch + 1;
    let next: [number, number];
    if (expectedEpoch === null) next = [bumped, NO_PRODUCER_EPOCH];
    else if (this.producerEpoch === NO_PRODUCER_EPOCH || expectedEpoch === this.producerEpoch) next = [bumped, this.producerEpoch];
    else if (expectedEpoch === this.lastProducerEpoch) next = [this.producerEpoch, this.lastProducerEpoch];
    else return 'PRODUCER_FENCED';
    return this.prepareTransitionTo('Empty', {
      producerEpoch: next[0],
      lastProducerEpoch: next[1],
      txnTimeoutMs: newTxnTimeoutMs,
      partitions: [],
      txnStartTimestamp: -1,
      txnLastUpdateTimestamp: now,
    });
  }

  /** A new producer id once the epoch is exhausted (Kafka's prepareProducerIdRotation). */
  prepareProducerIdRotation(newProducerId: number, newTxnTimeoutMs: number, now: number, recordLastEpoch: boolean): TxnTransit {
    return this.prepareTransitionTo('Empty', {
      producerId: newProducerId,
      lastProducerId: this.producerId,
      producerEpoch: 0,
      lastProducerEpoch: recordLastEpoch ? this.producerEpoch : NO_PRODUCER_EPOCH,
      txnTimeoutMs: newTxnTimeoutMs,
      partitions: [],
      txnStartTimestamp: -1,
      txnLastUpdateTimestamp: now,
    });
  }

  /** AddPartitionsToTxn: the partitions join the transaction, which starts now unless it is already open. */
  prepareAddPartitions(added: readonly TopicPartition[], now: number): TxnTransit {
    const start = this.state === 'Empty' || this.state === 'CompleteAbort' || this.state === 'CompleteCommit' ? now : this.txnStartTimestamp;
    const all = new Map(this.partitions);
    for (const tp of added) all.set(tpKey(tp.topic, tp.partition), tp);
    return this.prepareTransitionTo('Ongoing', { partitions: [...all.values()], txnStartTimestamp: start, txnLastUpdateTimestamp: now });
  }

  prepareAbortOrCommit(next: 'PrepareCommit' | 'PrepareAbort', now: number): TxnTransit {
    return this.prepareTransitionTo(next, { txnLastUpdateTimestamp: now });
  }

  /** Every marker is written: CompleteCommit or CompleteAbort, with no partitions. */
  prepareComplete(now: number): TxnTransit {
    const next: TxnState = this.state === 'PrepareCommit' ? 'CompleteCommit' : 'CompleteAbort';
    this.hasFailedEpochFence = false;
    return this.prepareTransitionTo(next, { partitions: [], txnLastUpdateTimestamp: now });
  }

  /** transactional.id.expiration.ms: the id is removed (a tombstone in the log). */
  prepareDead(): TxnTransit {
    return this.prepareTransitionTo('Dead', { partitions: [] });
  }

  private prepareTransitionTo(state: TxnState, changes: Partial<TxnTransit>): TxnTransit {
    if (this.pendingState !== null) {
      throw new IllegalTxnTransitionError(`${this.transactionalId}: preparing a transition to ${state} while ${this.pendingState} is pending`);
    }
    if (!VALID_PREVIOUS[state].includes(this.state)) {
      throw new IllegalTxnTransitionError(`${this.transactionalId}: ${this.state} cannot become ${state}`);
    }
    const transit: TxnTransit = { ...this.snapshot(), ...changes, state };
    this.pendingState = state;
    return transit;
  }

  /** Applies a change once it is in the log (Kafka's completeTransitionTo). */
  completeTransitionTo(t: TxnTransit): void {
    this.producerId = t.producerId;
    this.lastProducerId = t.lastProducerId;
    this.producerEpoch = t.producerEpoch;
    this.lastProducerEpoch = t.lastProducerEpoch;
    this.txnTimeoutMs = t.txnTimeoutMs;
    this.state = t.state;
    this.partitions.clear();
    for (const tp of t.partitions) this.partitions.set(tpKey(tp.topic, tp.partition), tp);
    this.txnStartTimestamp = t.txnStartTimestamp;
    this.txnLastUpdateTimestamp = t.txnLastUpdateTimestamp;
    this.pendingState = null;
  }
}
