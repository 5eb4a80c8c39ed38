/**
 * kfk console-producer (kafka-console-producer.sh): each line of standard input becomes one record.
 * Input is streamed (read, split, queued) with back-pressure from the producer's buffer, and records are
 * batched per partition with several requests in flight, so a large file loads at broker speed.
 *
 * Line format (Kafka's LineMessageReader): with parse.headers=true, `h1:v1,h2:v2<headers.delimiter>` first;
 * with parse.key=true, `key<key.separator>` next; then the value. null.marker turns a key, value or header
 * value equal to it into null.
 */
import {
  CliError,
  bootstrapFrom,
  clientSecurityOf,
  parseIntFlag,
  parseKeyValues,
  readPropertiesFlag,
  type Opts,
} from './common.js';
import { Producer, normalizeAcks, type ProducerOptions, type ProducerRecord } from '../src/client/producer.js';
import { compressionFromName } from '../src/protocol/compression.js';
import type { RecordHeader } from '../src/protocol/records.js';

export interface LineReaderConfig {
  parseKey: boolean;
  keySeparator: string;
  parseHeaders: boolean;
  headersDelimiter: string;
  headersSeparator: string;
  headersKeySeparator: string;
  nullMarker: string | undefined;
  ignoreError: boolean;
}

function bool(v: string | undefined): boolean {
  return v !== undefined && v.trim().toLowerCase() === 'true';
}

export function lineReaderConfig(props: Record<string, string>): LineReaderConfig {
  const cfg: LineReaderConfig = {
    parseKey: bool(props['parse.key']),
    keySeparator: props['key.separator'] ?? '\t',
    parseHeaders: bool(props['parse.headers']),
    headersDelimiter: props['headers.delimiter'] ?? '\t',
    headersSeparator: props['headers.separator'] ?? ',',
    headersKeySeparator: props['headers.key.separator'] ?? ':',
    nullMarker: props['null.marker'],
    ignoreError: bool(props['ignore.error']),
  };
  if (cfg.parseKey && cfg.keySeparator === '') throw new CliError('key.separator must not be empty');
  if (cfg.parseHeaders) {
    if (cfg.headersDelimiter === '') throw new CliError('headers.delimiter must not be empty');
    if (cfg.headersSeparator === '' || cfg.headersKeySeparator === '') {
      throw new CliError('headers.separator and headers.key.separator must not be empty');
    }
    if (cfg.headersSeparator === cfg.headersKeySeparator) {
      throw new CliError('headers.separator and headers.key.separator must differ');
    }
  }
  if (cfg.nullMarker !== undefined && cfg.nullMarker === '') cfg.nullMarker = undefined;
  return cfg;
}

/** Turns one input line into a record (key, value, headers), as Kafka's LineMessageReader does. */
export function parseLine(line: string, lineNumber: number, cfg: LineReaderConfig): ProducerRecord {
  let rest = line;
  let headers: RecordHeader[] | undefined;
  if (cfg.parseHeaders) {
    const idx = rest.indexOf(cfg.headersDelimiter);
    if (idx < 0) {
      if (!cfg.ignoreError) throw new CliError(`No headers delimiter found on line number ${lineNumber}: '${line}'`);
    } else {
      const headerText = rest.slice(0, idx);
      rest = rest.slice(idx + cfg.headersDelimiter.length);
      headers = [];
      if (headerText !== '') {
        for (const pair of headerText.split(cfg.headersSeparator)) {
          const k = pair.indexOf(cfg.headersKeySeparator);
          if (k < 0) {
            if (cfg.ignoreError) continue;
            throw new CliError(`No header key separator found in pair '${pair}' on line number ${lineNumber}`);
          }
          const key = pair.slice(0, k);
          const value = pair.slice(k + cfg.headersKeySeparator.length);
          if (cfg.nullMarker !== undefined && key === cfg.nullMarker) {
            throw new CliError(`Header keys should not be equal to the null marker '${cfg.nullMarker}' as they can't be null`);
          }
          headers.push({ key, value: cfg.nullMarker !== undefined && value === cfg.nullMarker ? null : Buffer.from(value, 'utf8') });
        }
      }
    }
  }
  let key: string | null = null;
  if (cfg.parseKey) {
    const idx = rest.indexOf(cfg.keySeparator);
    if (idx < 0) {
      if (!cfg.ignoreError) throw new CliError(`No key separator found on line number ${lineNumber}: '${line}'`);
    } else {
      key = rest.slice(0, idx);
      rest = rest.slice(idx + cfg.keySeparator.length);
      if (cfg.nullMarker !== undefined && key === cfg.nullMarker) key = null;
    }
  }
  const value = cfg.nullMarker !== undefined && rest === cfg.nullMarker ? null : rest;
  return { key, value, headers };
}

/**
 * Splits a byte stream into lines (\n or \r\n), without buffering more than one partial line.
 * Calls onLine(bytes) for each complete line; returns a function to call at EOF for the last one.
 */
export class LineSplitter {
  private partial: Buffer[] = [];

  push(chunk: Buffer, onLine: (line: Buffer) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      let line = chunk.subarray(start, nl);
      if (this.partial.length > 0) {
        this.partial.push(line);
        line = Buffer.concat(this.partial);
        this.partial = [];
      }
      if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
      onLine(line);
      start = nl + 1;
    }
    if (start < chunk.length) this.partial.push(chunk.subarray(start));
  }

  end(onLine: (line: Buffer) => void): void {
    if (this.partial.length === 0) return;
    let line = Buffer.concat(this.partial);
    this.partial = [];
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    onLine(line);
  }
}

/** Producer settings from Kafka producer properties (file, then --producer-property), then explicit flags. */
export function producerOptions(props: Record<string, string>, opts: Opts): ProducerOptions {
  const num = (v: string | undefined, name: string, min = 0): number | undefined =>
    v === undefined ? undefined : parseIntFlag(v, name, min);
  const out: ProducerOptions = {
    clientId: props['client.id'] ?? 'console-producer',
    acks: props.acks !== undefined ? (props.acks.trim() as ProducerOptions['acks']) : undefined,
    lingerMs: num(props['linger.ms'], 'linger.ms'),
    batchSize: num(props['batch.size'], 'batch.size', 1),
    retries: num(props.retries, 'retries'),
    retryBackoffMs: num(props['retry.backoff.ms'], 'retry.backoff.ms'),
    requestTimeoutMs: num(props['request.timeout.ms'], 'request.timeout.ms', 1),
    deliveryTimeoutMs: num(props['delivery.timeout.ms'], 'delivery.timeout.ms', 1),
    maxInFlight: num(props['max.in.flight.requests.per.connection'], 'max.in.flight.requests.per.connection', 1),
    bufferMemory: num(props['buffer.memory'], 'buffer.memory', 1),
    maxRequestSize: num(props['max.request.size'], 'max.request.size', 1),
  };
  // Explicit flags win over properties.
  const acksFlag = opts.requestRequiredAcks ?? opts.acks;
  if (acksFlag !== undefined) out.acks = String(acksFlag).trim() as ProducerOptions['acks'];
  let compression: string | undefined = props['compression.type'];
  if (opts.compressionCodec !== undefined) {
    compression = opts.compressionCodec === true ? 'gzip' : String(opts.compressionCodec);
  }
  const linger = opts.lingerMs ?? opts.timeout;
  if (linger !== undefined) out.lingerMs = parseIntFlag(linger, opts.lingerMs !== undefined ? '--linger-ms' : '--timeout', 0);
  const batch = opts.batchSize ?? opts.maxPartitionMemoryBytes;
  if (batch !== undefined) out.batchSize = parseIntFlag(batch, opts.batchSize !== undefined ? '--batch-size' : '--max-partition-memory-bytes', 1);
  if (opts.messageSendMaxRetries !== undefined) out.retries = parseIntFlag(opts.messageSendMaxRetries, '--message-send-max-retries', 0);
  if (opts.retryBackoffMs !== undefined) out.retryBackoffMs = parseIntFlag(opts.retryBackoffMs, '--retry-backoff-ms', 0);
  if (opts.requestTimeoutMs !== undefined) out.requestTimeoutMs = parseIntFlag(opts.requestTimeoutMs, '--request-timeout-ms', 1);
  if (opts.maxMemoryBytes !== undefined) out.bufferMemory = parseIntFlag(opts.maxMemoryBytes, '--max-memory-bytes', 1);
  if (opts.sync) {
    // Each record waits for its acknowledgement anyway: do not linger.
    out.lingerMs = 0;
  }
  // Validate what the producer constructor would reject, with the flag's name.
  try {
    normalizeAcks(out.acks);
  } catch {
    throw new CliError(`invalid value '${String(out.acks)}' for --request-required-acks: expected 0, 1, -1 or all`);
  }
  if (compression !== undefined) {
    try {
      out.compression = compressionFromName(compression);
    } catch {
      throw new CliError(`invalid value '${compression}' for --compression-codec: expected none, gzip, snappy, lz4 or zstd`);
    }
  }
  for (const k of Object.keys(out) as Array<keyof ProducerOptions>) if (out[k] === undefined) delete out[k];
  return out;
}

export async function runConsoleProducer(opts: Opts): Promise<number> {
  const topic = opts.topic as string | undefined;
  if (!topic) throw new CliError('Missing required option --topic');
  if (opts.lineReader !== undefined && !/LineMessageReader$/.test(String(opts.lineReader))) {
    throw new CliError(`--line-reader ${String(opts.lineReader)} is not supported (only the default line reader)`);
  }
  const fileProps = { ...(await readPropertiesFlag(opts.commandConfig, '--command-config')), ...(await readPropertiesFlag(opts['producer.config'], '--producer.config')) };
  const props = { ...fileProps, ...parseKeyValues(opts.producerProperty as string[] | undefined, '--producer-property') };
  const security = await clientSecurityOf(props);
  const readerProps = {
    ...(await readPropertiesFlag(opts.readerConfig, '--reader-config')),
    ...parseKeyValues(opts.property as string[] | undefined, '--property'),
  };
  const cfg = lineReaderConfig(readerProps);
  const producerOpts = producerOptions(props, opts);
  const bootstrap = bootstrapFrom(opts.bootstrapServer ?? opts.brokerList, props);
  const producer = new Producer({ ...producerOpts, bootstrap, ...(security ? { security } : {}) });
  const sync = opts.sync === true;

  let failure: Error | undefined;
  let failed = 0;
  const onError = (err: Error): void => {
    failed++;
    failure ??= err;
  };
  const onResult = (err: Error | null): void => {
    if (err) onError(err);
  };

  let lineNumber = 0;
  const splitter = new LineSplitter();
  const lines: Buffer[] = [];
  const collectLine = (line: Buffer): void => {
    lines.push(line);
  };
  /** Queues (or, with --sync, sends and awaits) the lines collected so far. */
  const sendLines = async (): Promise<void> => {
    for (const bytes of lines.splice(0)) {
      lineNumber++;
      const rec: ProducerRecord =
        !cfg.parseKey && !cfg.parseHeaders && cfg.nullMarker === undefined
          ? { value: bytes }
          : parseLine(bytes.toString('utf8'), lineNumber, cfg);
      if (sync) {
        await producer.send(topic, rec).catch(onError);
        if (failure) return;
      } else {
        producer.produce(topic, rec, onResult); // no promise per line
      }
    }
  };

  const stdin = process.stdin;
  // Like Kafka's LineMessageReader: a '>' prompt when a person is typing at a terminal.
  const prompt = stdin.isTTY === true && process.stdout.isTTY === true;
  if (prompt) process.stdout.write('>');
  // Ctrl-C / SIGTERM: stop reading, deliver what was read, exit (a second signal exits at once).
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    stdin.destroy();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    try {
      for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
        splitter.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk, collectLine);
        await sendLines();
        if (!sync) await producer.waitForBufferSpace();
        if (failure || interrupted) break;
        if (prompt) process.stdout.write('>');
      }
    } catch (err) {
      if (!interrupted) throw err; // a destroyed stdin ends the loop with a premature-close error
    }
    if (!failure && !interrupted) {
      splitter.end(collectLine);
      await sendLines();
    }
    await producer.flush();
  } catch (err) {
    // A malformed line (parse.key without a separator, ...): send what came before it, then fail. The flush
    // only waits: each record's own failure already reached onError through its send().
    await producer.flush().catch(() => {});
    failure ??= err as Error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (failure) stdin.destroy();
    // Records' failures reached onError; a failure to close the connections afterwards loses nothing, but say so.
    await producer.close().catch((err: unknown) => warn(`could not close the producer cleanly: ${errorText(err)}`));
  }
  if (failure) {
    if (failure instanceof CliError) throw failure;
    const note = failed > 1 && failure.name !== 'ConnectionError' ? ` (${failed} records failed)` : '';
    const err = failure as Error & { code?: string };
    const wrapped = new Error(`${err.message}${note}`);
    wrapped.name = err.name;
    (wrapped as Error & { code?: string }).code = err.code;
    wrapped.stack = err.stack;
    throw wrapped;
  }
  return 0;
}

function warn(msg: string): void {
  process.stderr.write(`Warning: ${msg}\n`);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
