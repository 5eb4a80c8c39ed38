/**
 * Broker membership as the controller sees it (Kafka's BrokerChange handling): the registered
 * brokers with their broker epochs (the czxid of their ephemeral /brokers/ids/<id>), and what
 * changed since the last look. A broker whose epoch changed between two looks died and came back
 * unseen ("bounced"): it is handled as a death followed by a start, because its log may have lost
 * an unflushed tail and it must not stay in any ISR on the strength of its old registration.
 */
import type { Registry, Watcher } from '../registry/registry.js';
import { brokerIdPath, brokerIdsPath } from '../registry/paths.js';

/** broker id → broker epoch. With a watch, it is armed on /brokers/ids (children). */
export async function readBrokerEpochs(registry: Registry, watch?: Watcher): Promise<Map<number, number>> {
  const ids = (await registry.children(brokerIdsPath, watch)) ?? [];
  const out = new Map<number, number>();
  for (const idText of ids) {
    const id = Number(idText);
    if (!Number.isInteger(id)) continue;
    const node = await registry.get(brokerIdPath(id));
    if (node) out.set(id, node.stat.czxid);
  }
  return out;
}

export interface BrokerChanges {
  added: number[];
  dead: number[];
  bounced: number[];
}

export function diffBrokers(previous: ReadonlyMap<number, number>, current: ReadonlyMap<number, number>): BrokerChanges {
  const added: number[] = [];
  const dead: number[] = [];
  const bounced: number[] = [];
  for (const [id, epoch] of current) {
    const before = previous.get(id);
    if (before === undefined) added.push(id);
    else if (before !== epoch) bounced.push(id);
  }
  for (const id of previous.keys()) if (!current.has(id)) dead.push(id);
  const byId = (a: number, b: number): number => a - b;
  return { added: added.sort(byId), dead: dead.sort(byId), bounced: bounced.sort(byId) };
}
