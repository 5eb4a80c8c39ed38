/**
 * The chaos checker's verdict (scripts/chaos.mjs), as pure functions over what the run recorded, so that each check
 * can be tested on a history with a known fault (test/unit/chaos-checks.test.ts). The invariants are those of
 * docs/operations.md ("Guarantees") and the replication notes ("What a checker should assert"):
 *
 *  1. every acknowledged record (idempotent producer, acks=all, min.insync.replicas=2) is in the log, at the
 *     partition and offset its delivery report gave, and the broker wrote no record twice: two copies of a record
 *     in batches of the same producer epoch are a broker failure (its duplicate detection). Two copies in batches
 *     of different producer epochs are the client's doing: librdkafka (to 2.x) bumps its epoch after an
 *     OUT_OF_ORDER_SEQUENCE_NUMBER for a later in-flight request and sends again the records of requests that were
 *     answered NOT_LEADER_OR_FOLLOWER — which a Kafka broker (and kfk) also answers for an acks=all batch it had
 *     appended when its leadership moved before the batch was committed — and a broker cannot recognise a record
 *     sent again under a new epoch (librdkafka issue #4953, seen against Apache Kafka too). Those are counted and
 *     listed (`clientResentDuplicates`), not failed;
 *  2. in send order per key (the copies a client sent again under a new epoch aside);
 *  3. no record is read (after the run, or by the group) that was never sent;
 *  4. the group's committed offsets never go backwards (the samples of one member, in order; each member's own
 *     acknowledged commits);
 *  5. nothing is handed to a group member below a commit already acknowledged for that partition (at-least-once
 *     between commits is allowed: a record may come again when the commit after it was not acknowledged);
 *  6. the group reads every acknowledged record;
 *  7. every replica of every partition holds the same bytes up to the high watermark (compared by the runner).
 */

/** @typedef {{ partition: number, offset: number, key: string, value: string }} LogRecord */
/** @typedef {{ t: number, member: number, partition: number, offset: number, key: string, value: string }} Delivery */
/** @typedef {{ t: number, member: number, partition: number, offset: number }} Commit */
/** @typedef {{ t: number, partition: number, offset: number }} Sample */
/** @typedef {{ topicPartition: string, brokers: number[], identical: boolean, detail?: string }} ReplicaComparison */
/**
 * @typedef {object} History
 * @property {number} keys the producer's number of keys: value v-<i> has key k-<i mod keys>
 * @property {number} produced records the producer handed to its client: v-0 .. v-(produced-1)
 * @property {Array<[number, number, number]>} acked delivery reports: [i, partition, offset] (offset -1: acknowledged
 *   without an offset, as librdkafka reports a retried batch the broker already had; it must be in the log once, on
 *   that partition)
 * @property {LogRecord[]} log the topic, read from the beginning after the run
 * @property {{ deliveries: Delivery[], commits: Commit[], samples: Sample[] }} group
 * @property {ReplicaComparison[]} replicas
 * @property {BatchInfo[]} [batches] the log's batches (from the segment files): which producer epoch wrote each record
 */
/** @typedef {{ partition: number, baseOffset: number, lastOffset: number, producerEpoch: number }} BatchInfo */

const MAX_LISTED = 20;

class Check {
  /** @param {string} name */
  constructor(name) {
    this.name = name;
    this.count = 0;
    /** @type {string[]} */
    this.violations = [];
  }

  /** @param {string} text */
  violation(text) {
    this.count++;
    if (this.violations.length < MAX_LISTED) this.violations.push(text);
  }

  result() {
    return { name: this.name, ok: this.count === 0, violations: this.count, examples: this.violations };
  }
}

/** The sequence number i of a value v-<i>, or null when it is not one the producer could have sent. */
function sequenceOf(value, key, h) {
  const m = /^v-(\d+)$/.exec(value);
  if (!m) return null;
  const i = Number(m[1]);
  if (i >= h.produced || key !== `k-${i % h.keys}`) return null;
  return i;
}

/** @param {History} h */
export function checkHistory(h) {
  const acknowledged = new Check('every acknowledged record is in the log, where its delivery report said');
  const writtenTwice = new Check('the broker wrote no record twice (no copies within one producer epoch)');
  const ordered = new Check('records are in send order per key');
  const neverSent = new Check('no record is read that was never sent');
  const backwards = new Check('committed offsets never go backwards');
  const pastCommit = new Check('nothing is delivered to the group below an acknowledged commit');
  const groupRead = new Check('the group read every acknowledged record');
  const replicas = new Check('every replica holds the same bytes up to the high watermark');

  // The producer epoch of each record, from the batch headers.
  const batchesOf = new Map();
  for (const b of h.batches ?? []) {
    const list = batchesOf.get(b.partition) ?? [];
    list.push(b);
    batchesOf.set(b.partition, list);
  }
  for (const list of batchesOf.values()) list.sort((a, b) => a.baseOffset - b.baseOffset);
  const epochAt = (partition, offset) => {
    const list = batchesOf.get(partition) ?? [];
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].lastOffset < offset) lo = mid + 1;
      else if (list[mid].baseOffset > offset) hi = mid - 1;
      else return list[mid].producerEpoch;
    }
    return null;
  };

  // Where each sequence number is in the log (all places: a duplicate is two).
  /** @type {Map<number, Array<{ partition: number, offset: number, epoch: number | null }>>} */
  const where = new Map();
  /** @type {Map<string, { i: number, at: string }>} */
  const lastOfKey = new Map();
  const clientResent = [];
  const log = [...h.log].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  for (const r of log) {
    const at = `partition ${r.partition} offset ${r.offset}`;
    const i = sequenceOf(r.value, r.key, h);
    if (i === null) {
      neverSent.violation(`in the log at ${at}: key ${r.key} value ${r.value}`);
      continue;
    }
    const epoch = epochAt(r.partition, r.offset);
    const places = where.get(i) ?? [];
    places.push({ partition: r.partition, offset: r.offset, epoch });
    where.set(i, places);
    if (places.length > 1) {
      const first = places[0];
      const copies = `v-${i} at ${places.map((p) => `${p.partition}/${p.offset} (producer epoch ${p.epoch ?? '?'})`).join(' and ')}`;
      if (epoch !== null && first.epoch !== null && epoch !== first.epoch) clientResent.push(copies);
      else writtenTwice.violation(copies);
      continue; // a copy says nothing about the order the client sent in
    }
    const last = lastOfKey.get(r.key);
    if (last && last.i >= i) ordered.violation(`key ${r.key}: v-${i} at ${at} after v-${last.i} at ${last.at}`);
    lastOfKey.set(r.key, { i, at });
  }

  for (const [i, partition, offset] of h.acked) {
    const places = where.get(i) ?? [];
    if (places.length === 0) acknowledged.violation(`v-${i} acknowledged at partition ${partition} offset ${offset} is not in the log`);
    else if (!places.some((p) => p.partition === partition && (offset < 0 || p.offset === offset))) {
      acknowledged.violation(`v-${i} acknowledged at partition ${partition} offset ${offset} is at ${places.map((p) => `partition ${p.partition} offset ${p.offset}`).join(', ')}`);
    }
  }

  // The group.
  const deliveredSeq = new Set();
  let redelivered = 0;
  const commitsInOrder = [...h.group.commits].sort((a, b) => a.t - b.t);
  const deliveriesInOrder = [...h.group.deliveries].sort((a, b) => a.t - b.t);
  /** @type {Map<number, { offset: number, t: number, member: number }>} */
  const ackedCommit = new Map();
  let c = 0;
  for (const d of deliveriesInOrder) {
    // Commits acknowledged strictly before this delivery.
    for (; c < commitsInOrder.length && commitsInOrder[c].t < d.t; c++) {
      const k = commitsInOrder[c];
      const prev = ackedCommit.get(k.partition);
      if (!prev || k.offset > prev.offset) ackedCommit.set(k.partition, { offset: k.offset, t: k.t, member: k.member });
    }
    const i = sequenceOf(d.value, d.key, h);
    if (i === null) neverSent.violation(`delivered to member ${d.member} at partition ${d.partition} offset ${d.offset}: key ${d.key} value ${d.value}`);
    else if (deliveredSeq.has(i)) redelivered++;
    else deliveredSeq.add(i);
    const committed = ackedCommit.get(d.partition);
    if (committed && d.offset < committed.offset) {
      pastCommit.violation(
        `member ${d.member} got partition ${d.partition} offset ${d.offset} at ${d.t}, after member ${committed.member}'s commit of ${committed.offset} was acknowledged at ${committed.t}`,
      );
    }
  }
  for (const [i] of h.acked) if (!deliveredSeq.has(i)) groupRead.violation(`v-${i} was never delivered to the group`);

  const lastSample = new Map();
  for (const s of h.group.samples) {
    const prev = lastSample.get(s.partition);
    if (prev && s.offset < prev.offset) backwards.violation(`partition ${s.partition}: committed ${prev.offset} (read at ${prev.t}), then ${s.offset} (read at ${s.t})`);
    lastSample.set(s.partition, s);
  }
  const lastCommitOf = new Map();
  for (const k of commitsInOrder) {
    const id = `${k.member}/${k.partition}`;
    const prev = lastCommitOf.get(id);
    if (prev && k.offset < prev.offset) backwards.violation(`member ${k.member} partition ${k.partition}: commit of ${k.offset} acknowledged after its commit of ${prev.offset}`);
    lastCommitOf.set(id, k);
  }

  for (const r of h.replicas) if (!r.identical) replicas.violation(`${r.topicPartition} on brokers ${r.brokers.join(',')}: ${r.detail ?? 'differ'}`);

  const checks = [acknowledged, writtenTwice, ordered, neverSent, backwards, pastCommit, groupRead, replicas].map((x) => x.result());
  const inLog = where.size;
  return {
    ok: checks.every((x) => x.ok),
    checks,
    stats: {
      produced: h.produced,
      acknowledged: h.acked.length,
      inLog,
      // written but not acknowledged (the client gave up or never heard back): allowed, and read back fine
      inLogNotAcknowledged: inLog - h.acked.filter(([i]) => where.has(i)).length,
      acknowledgedWithoutOffset: h.acked.filter(([, , o]) => o < 0).length,
      groupDeliveries: h.group.deliveries.length,
      groupRedeliveries: redelivered,
      commitsAcknowledged: h.group.commits.length,
      committedSamples: h.group.samples.length,
      replicasCompared: h.replicas.length,
      clientResentDuplicates: clientResent.length,
    },
    clientResent: clientResent.slice(0, MAX_LISTED),
  };
}
