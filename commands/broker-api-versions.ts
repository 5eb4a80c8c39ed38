/**
 * kfk broker-api-versions (kafka-broker-api-versions.sh): the API versions each broker of the cluster serves, and
 * which version kfk's client would use (Kafka's NodeApiVersions format).
 *
 *   localhost:9092 (id: 0 rack: null) -> (
 *   	Produce(0): 0 to 11 [usable: 11],
 *   	...
 *   	SaslHandshake(17): UNSUPPORTED,
 *   )
 *
 * Every API of the protocol is listed in key order: `min to max [usable: v]` when the broker serves it (`[unusable:
 * node too old]` / `[unusable: node too new]` when no version overlaps kfk's), `UNSUPPORTED` when it does not.
 */
import { adminFromFlags, writeOut, type Opts } from './common.js';
import { API_TABLE } from '../src/protocol/generated/api-table.js';
import { clientVersionRange } from '../src/client/connection.js';

export function formatApiVersions(versions: ReadonlyMap<number, { min: number; max: number }>): string[] {
  const lines: string[] = [];
  const keys = [...new Set([...API_TABLE.keys(), ...versions.keys()])].sort((a, b) => a - b);
  for (const key of keys) {
    const info = API_TABLE.get(key);
    const name = info ? `${info.name}(${key})` : `UNKNOWN(${key})`;
    const v = versions.get(key);
    if (v === undefined) {
      lines.push(`${name}: UNSUPPORTED`);
      continue;
    }
    const range = v.min === v.max ? `${v.min}` : `${v.min} to ${v.max}`;
    const client = info ? (clientVersionRange(key) ?? [info.minVersion, info.maxStableVersion]) : undefined;
    let usable: string;
    if (client === undefined) usable = '';
    else if (client[1] < v.min) usable = ' [unusable: node too new]';
    else if (client[0] > v.max) usable = ' [unusable: node too old]';
    else usable = ` [usable: ${Math.min(client[1], v.max)}]`;
    lines.push(`${name}: ${range}${usable}`);
  }
  return lines;
}

export async function runBrokerApiVersions(opts: Opts): Promise<number> {
  const admin = await adminFromFlags(opts, 'kfk-broker-api-versions');
  try {
    const out: string[] = [];
    for (const { broker, versions } of await admin.brokerApiVersions()) {
      out.push(`${broker.host}:${broker.port} (id: ${broker.nodeId} rack: ${broker.rack ?? 'null'}) -> (\n${formatApiVersions(versions).map((l) => `\t${l}`).join(',\n')}\n)\n`);
    }
    await writeOut(out.join(''));
    return 0;
  } finally {
    await admin.close();
  }
}
