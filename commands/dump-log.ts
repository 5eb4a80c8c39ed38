/**
 * `kfk dump-log` (kafka-dump-log.sh): prints segment files in the shape of Kafka's DumpLogSegments.
 *
 * - `.log`: `Log starting offset: N`, then one line per batch (`baseOffset: ... isvalid: true`); with
 *   `--deep-iteration` or `--print-data-log` one `| offset: ...` line per record, with `--print-data-log` its
 *   key and payload (as UTF-8). Non-consecutive offsets (with deep iteration) and trailing bytes are reported.
 * - `.index`: `offset: N position: P` per entry, checked against the batch found at that position.
 * - `.timeindex`: `timestamp: T offset: N` per entry, checked against that batch's max timestamp.
 * - `--verify-index-only`: no entries printed, only the mismatches (on stderr, as Kafka).
 * - Control batches (transaction markers): with `--print-data-log`, `endTxnMarker: COMMIT|ABORT coordinatorEpoch: N`
 *   per record, as Kafka.
 * - `.txnindex`: `version: 0 producerId: P firstOffset: F lastOffset: L lastStableOffset: S` per aborted transaction,
 *   as Kafka; `--transaction-index` also dumps the `.txnindex` of each `.log` given (a kfk addition).
 * - `--transaction-log-decoder`: records of `__transaction_state` decoded as Kafka's TransactionLogMessageParser does
 *   (`key: transaction_metadata::transactionalId=T payload: producerId:P,producerEpoch:E,state=S,partitions=[t-0],...`,
 *   `<DELETE>` for a tombstone).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CliError, writeOut, type Opts } from './common.js';
import { compressionName } from '../src/protocol/compression.js';
import { decodeRecordBatch, verifyBatchCrc, type DecodedBatch } from '../src/protocol/records.js';
import { RECORD_BATCH_OVERHEAD, batchLastOffset, batchMagic, batchMaxTimestamp, batchSize, LOG_OVERHEAD } from '../src/protocol/record-batch-header.js';
import { controlTypeName, readControlRecord, CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT } from '../src/protocol/control-records.js';
import { decodeAbortedTxns } from '../src/log/transaction-index.js';
import { decodeTransactionLogKey, decodeTransactionLogValue } from '../src/transaction/transaction-log.js';

/** Attributes bit 6: the batch carries a delete horizon (compaction, KIP-534). */
const DELETE_HORIZON_FLAG = 0x40;

export interface DumpOptions {
  printDataLog: boolean;
  deepIteration: boolean;
  verifyIndexOnly: boolean;
  /** Dump each .log's .txnindex too. */
  transactionIndex?: boolean;
  /** Decode record keys and values as __transaction_state entries. */
  transactionLogDecoder?: boolean;
}

/** What a dump printed: stdout lines and stderr lines (mismatch reports). */
export interface DumpOutput {
  out: string[];
  err: string[];
}

export async function runDumpLog(opts: Opts): Promise<number> {
  const files = String(opts.files ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  if (files.length === 0) throw new CliError('Missing required argument "[files]"');
  const decodeTxnLog = opts.transactionLogDecoder === true;
  const options: DumpOptions = {
    printDataLog: opts.printDataLog === true || decodeTxnLog,
    deepIteration: opts.deepIteration === true || opts.printDataLog === true || decodeTxnLog,
    verifyIndexOnly: opts.verifyIndexOnly === true,
    transactionIndex: opts.transactionIndex === true,
    transactionLogDecoder: decodeTxnLog,
  };
  for (const file of files) {
    if (!fs.existsSync(file)) throw new CliError(`file '${file}' does not exist`);
  }
  const reports: string[] = [];
  // Several files on a terminal: which one is being read, on stderr (stdout keeps Kafka's shape)
  const progress = files.length > 1 && process.stderr.isTTY === true ? new (await import('./tty.js')).Progress(process.stderr) : undefined;
  for (const [i, file] of files.entries()) {
    progress?.update(`dumping ${i + 1}/${files.length}: ${file}`, true);
    const one = dumpFile(file, options);
    progress?.done();
    await writeOut(one.out.map((l) => `${l}\n`).join(''));
    reports.push(...one.err);
  }
  if (reports.length > 0) process.stderr.write(reports.map((l) => `${l}\n`).join(''));
  return 0;
}

/** Dumps one file (by its suffix). */
export function dumpFile(file: string, opts: DumpOptions): DumpOutput {
  const out: string[] = [`Dumping ${file}`];
  const err: string[] = [];
  const name = path.basename(file);
  const suffix = name.slice(name.lastIndexOf('.'));
  if (suffix === '.log') {
    dumpLog(file, opts, out, err);
    if (opts.transactionIndex) {
      const txnIndex = path.join(path.dirname(file), `${path.basename(file).split('.')[0]!}.txnindex`);
      out.push(`Dumping ${txnIndex}`);
      if (fs.existsSync(txnIndex)) dumpTxnIndex(txnIndex, out);
      else out.push(`${txnIndex} does not exist (no aborted transaction in this segment).`);
    }
  } else if (suffix === '.index') dumpIndex(file, opts, out, err);
  else if (suffix === '.timeindex') dumpTimeIndex(file, opts, out, err);
  else if (suffix === '.txnindex') dumpTxnIndex(file, out);
  else err.push(`Ignoring unknown file ${file}`);
  return { out, err };
}

/** Kafka's dumpTxnIndex: one line per aborted transaction. */
function dumpTxnIndex(file: string, out: string[]): void {
  for (const t of decodeAbortedTxns(fs.readFileSync(file))) {
    out.push(`version: 0 producerId: ${t.producerId} firstOffset: ${t.firstOffset} lastOffset: ${t.lastOffset} lastStableOffset: ${t.lastStableOffset}`);
  }
}

/** A __transaction_state record as Kafka's TransactionLogMessageParser prints it. */
function transactionLogRecord(key: Buffer | null, value: Buffer | null): string {
  const id = key === null ? null : decodeTransactionLogKey(key);
  if (id === null) return ` key: unknown::version=${key === null || key.length < 2 ? -1 : key.readInt16BE(0)}`;
  let payload: string;
  if (value === null) payload = '<DELETE>';
  else {
    let t;
    try {
      t = decodeTransactionLogValue(value);
    } catch (err) {
      return ` key: transaction_metadata::transactionalId=${id} payload: <unreadable value: ${(err as Error).message}>`;
    }
    payload =
      `producerId:${t.producerId},producerEpoch:${t.producerEpoch},state=${t.state},` +
      `partitions=[${t.partitions.map((p) => `${p.topic}-${p.partition}`).join(',')}],` +
      `txnLastUpdateTimestamp=${t.txnLastUpdateTimestamp},txnTimeoutMs=${t.txnTimeoutMs}`;
  }
  return ` key: transaction_metadata::transactionalId=${id} payload: ${payload}`;
}

function baseOffsetOf(file: string): number {
  const stem = path.basename(file).split('.')[0]!;
  if (!/^\d+$/.test(stem)) throw new CliError(`${file}: the file name is not a segment base offset`);
  return Number(stem);
}

function logFileFor(indexFile: string): string {
  return path.join(path.dirname(indexFile), `${path.basename(indexFile).split('.')[0]!}.log`);
}

function utf8(b: Buffer | null): string {
  return b === null ? 'null' : b.toString('utf8');
}

function batchLine(b: DecodedBatch, position: number, valid: boolean): string {
  const deleteHorizon = (b.attributes & DELETE_HORIZON_FLAG) !== 0 ? `OptionalLong[${b.baseTimestamp}]` : 'OptionalLong.empty';
  const lastSequence = b.baseSequence < 0 ? -1 : b.baseSequence + (b.lastOffset - b.baseOffset);
  return (
    `baseOffset: ${b.baseOffset} lastOffset: ${b.lastOffset} count: ${b.recordsCount} baseSequence: ${b.baseSequence} ` +
    `lastSequence: ${lastSequence} producerId: ${b.producerId} producerEpoch: ${b.producerEpoch} ` +
    `partitionLeaderEpoch: ${b.partitionLeaderEpoch} isTransactional: ${b.isTransactional} isControl: ${b.isControl} ` +
    `deleteHorizonMs: ${deleteHorizon} position: ${position} ${b.timestampType}: ${b.maxTimestamp} size: ${b.sizeInBytes} ` +
    `magic: ${b.magic} compresscodec: ${compressionName(b.compression)} crc: ${b.crc} isvalid: ${valid}`
  );
}

function dumpLog(file: string, opts: DumpOptions, out: string[], err: string[]): void {
  out.push(`Log starting offset: ${baseOffsetOf(file)}`);
  const buf = fs.readFileSync(file);
  let pos = 0;
  let lastOffset = -1;
  const nonConsecutive: [number, number][] = [];
  while (pos + RECORD_BATCH_OVERHEAD <= buf.length) {
    const size = batchSize(buf, pos);
    if (size < RECORD_BATCH_OVERHEAD || pos + size > buf.length || batchMagic(buf, pos) !== 2) break;
    const valid = verifyBatchCrc(buf, pos);
    let batch: DecodedBatch;
    try {
      batch = decodeRecordBatch(buf, pos);
    } catch {
      break; // undecodable bytes are reported as invalid trailing bytes below
    }
    out.push(batchLine(batch, pos, valid));
    if (opts.deepIteration) {
      for (const r of batch.records) {
        if (lastOffset !== -1 && r.offset !== lastOffset + 1) nonConsecutive.push([lastOffset, r.offset]);
        lastOffset = r.offset;
        const sequence = batch.baseSequence < 0 ? -1 : batch.baseSequence + (r.offset - batch.baseOffset);
        let line =
          `| offset: ${r.offset} ${batch.timestampType}: ${r.timestamp} keySize: ${r.key?.length ?? -1} ` +
          `valueSize: ${r.value?.length ?? -1} sequence: ${sequence} headerKeys: [${r.headers.map((h) => h.key).join(',')}]`;
        if (opts.printDataLog && batch.isControl) {
          const marker = readControlRecord(buf, pos);
          if (marker !== null && (marker.type === CONTROL_TYPE_COMMIT || marker.type === CONTROL_TYPE_ABORT)) {
            line += ` endTxnMarker: ${controlTypeName(marker.type)} coordinatorEpoch: ${marker.coordinatorEpoch}`;
          }
        } else if (opts.printDataLog && opts.transactionLogDecoder) {
          line += transactionLogRecord(r.key, r.value);
        } else if (opts.printDataLog) {
          if (r.key !== null) line += ` key: ${utf8(r.key)}`;
          if (r.value !== null) line += ` payload: ${utf8(r.value)}`;
        }
        out.push(line);
      }
    }
    pos += size;
  }
  const trailing = buf.length - pos;
  if (trailing > 0) out.push(`Found ${trailing} invalid bytes at the end of ${path.basename(file)}`);
  if (nonConsecutive.length > 0) {
    err.push(`Non-consecutive offsets in ${path.resolve(file)}`);
    for (const [a, b] of nonConsecutive) err.push(`  ${a} is followed by ${b}`);
  }
}

/** The first batch at or after `position` in the log buffer: its last offset and max timestamp, or null. */
function batchAt(log: Buffer, position: number): { lastOffset: number; maxTimestamp: number; size: number } | null {
  if (position < 0 || position + LOG_OVERHEAD > log.length || position + RECORD_BATCH_OVERHEAD > log.length) return null;
  const size = batchSize(log, position);
  if (size < RECORD_BATCH_OVERHEAD || position + size > log.length) return null;
  return { lastOffset: batchLastOffset(log, position), maxTimestamp: batchMaxTimestamp(log, position), size };
}

/** The segment's log file, or nothing when the index is dumped without its log (then every entry is a mismatch). */
function readLogOrEmpty(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw e;
  }
}

function dumpIndex(file: string, opts: DumpOptions, out: string[], err: string[]): void {
  const base = baseOffsetOf(file);
  const index = fs.readFileSync(file);
  const log = readLogOrEmpty(logFileFor(file));
  const entries = Math.floor(index.length / 8);
  if (entries === 0) {
    out.push(`${file} is empty.`);
    return;
  }
  const mismatches: [number, number][] = [];
  for (let i = 0; i < entries; i++) {
    const offset = base + index.readInt32BE(i * 8);
    const position = index.readInt32BE(i * 8 + 4);
    // a preallocated (sparse) index ends in zero entries
    if (offset === base && i > 0) break;
    const batch = batchAt(log, position);
    const logOffset = batch?.lastOffset ?? -1;
    if (logOffset !== offset) mismatches.push([offset, logOffset]);
    if (!opts.verifyIndexOnly) out.push(`offset: ${offset} position: ${position}`);
  }
  if (mismatches.length > 0) {
    err.push(`Mismatches in :${path.resolve(file)}`);
    for (const [indexOffset, logOffset] of mismatches) err.push(`  Index offset: ${indexOffset}, log offset: ${logOffset}`);
  }
}

function dumpTimeIndex(file: string, opts: DumpOptions, out: string[], err: string[]): void {
  const base = baseOffsetOf(file);
  const timeIndex = fs.readFileSync(file);
  const log = readLogOrEmpty(logFileFor(file));
  const entries = Math.floor(timeIndex.length / 12);
  const mismatches: string[] = [];
  let prev = -1;
  for (let i = 0; i < entries; i++) {
    const timestamp = Number(timeIndex.readBigInt64BE(i * 12));
    const offset = base + timeIndex.readInt32BE(i * 12 + 8);
    if (offset === base && i > 0) break;
    // the batch whose last offset is the entry's offset, scanning the log from the start
    let pos = 0;
    let found: { lastOffset: number; maxTimestamp: number; size: number } | null = null;
    for (let b = batchAt(log, pos); b !== null; pos += b.size, b = batchAt(log, pos)) {
      if (b.lastOffset >= offset) {
        found = b;
        break;
      }
    }
    if (found === null || found.lastOffset !== offset) {
      mismatches.push(`  Indexed offset: ${offset}, found log offset: ${found?.lastOffset ?? -1}`);
    } else {
      if (found.maxTimestamp !== timestamp) mismatches.push(`  Index timestamp: ${timestamp}, log timestamp: ${found.maxTimestamp}`);
      if (prev >= timestamp) mismatches.push(`  Index timestamp: ${timestamp}, Previously indexed timestamp: ${prev}`);
    }
    if (!opts.verifyIndexOnly) out.push(`timestamp: ${timestamp} offset: ${offset}`);
    prev = timestamp;
  }
  if (mismatches.length > 0) {
    err.push(`Found timestamp mismatch in :${path.resolve(file)}`);
    err.push(...mismatches);
  }
}
