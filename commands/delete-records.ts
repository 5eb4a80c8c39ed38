/**
 * kfk delete-records (kafka-delete-records.sh): moves the log start offset of partitions forward.
 *
 *   --offset-json-file F   {"partitions":[{"topic":"t","partition":0,"offset":3}],"version":1} (offset -1: the high watermark)
 *   --command-config, --bootstrap-server
 *
 * Output, as Kafka's DeleteRecordsCommand:
 *   Executing records delete operation
 *   Records delete operation completed:
 *   partition: t-0	low_watermark: 3
 *   partition: t-1	error: <what failed>
 * Exit code 1 when a partition failed.
 */
import { readFile } from 'node:fs/promises';
import { CliError, adminFromFlags, writeOut, type Opts } from './common.js';

export function parseOffsetJson(text: string): { topic: string; partition: number; offset: number }[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CliError(`The offset JSON file is not valid JSON: ${(err as Error).message}`);
  }
  const parts = (doc as { partitions?: unknown } | null)?.partitions;
  if (!Array.isArray(parts)) throw new CliError('The offset JSON file must be {"partitions":[{"topic":"t","partition":0,"offset":0}],"version":1}');
  const seen = new Set<string>();
  return parts.map((p: unknown, i: number) => {
    const e = p as { topic?: unknown; partition?: unknown; offset?: unknown };
    if (typeof e.topic !== 'string' || !Number.isInteger(e.partition) || !Number.isInteger(e.offset) || (e.partition as number) < 0) {
      throw new CliError(`Entry ${i} of "partitions" must have a "topic" (string), a "partition" (integer) and an "offset" (integer)`);
    }
    const key = `${e.topic}-${e.partition as number}`;
    if (seen.has(key)) throw new CliError(`Offset json file contains duplicate topic partitions: ${key}`);
    seen.add(key);
    return { topic: e.topic, partition: e.partition as number, offset: e.offset as number };
  });
}

export async function runDeleteRecords(opts: Opts): Promise<number> {
  if (opts.offsetJsonFile === undefined) throw new CliError('Missing required option(s): offset-json-file');
  let text: string;
  try {
    text = await readFile(String(opts.offsetJsonFile), 'utf8');
  } catch (err) {
    throw new CliError(`cannot read --offset-json-file ${String(opts.offsetJsonFile)}: ${(err as Error).message}`);
  }
  const targets = parseOffsetJson(text);
  const admin = await adminFromFlags(opts, 'kfk-delete-records');
  try {
    await writeOut('Executing records delete operation\n');
    const results = await admin.deleteRecords(targets);
    const lines = ['Records delete operation completed:'];
    let failed = 0;
    for (const r of results) {
      if (r.error === null) lines.push(`partition: ${r.topic}-${r.partition}\tlow_watermark: ${r.lowWatermark}`);
      else {
        failed++;
        lines.push(`partition: ${r.topic}-${r.partition}\terror: ${r.error.message}`);
      }
    }
    await writeOut(lines.map((l) => `${l}\n`).join(''));
    if (failed > 0) throw new CliError(`${failed} partition(s) could not be deleted`);
    return 0;
  } finally {
    await admin.close();
  }
}
