/**
 * kfk cluster: an overview Kafka has no tool for: the brokers and the controller, every topic with the health of
 * its partitions, and every consumer group with its state, members and total lag.
 *
 *   kfk cluster [--bootstrap-server S] [--command-config F] [--include-internal]
 *
 * Aligned columns; on a terminal also colour (offline partitions red, under-replicated ones and lag yellow), off
 * with NO_COLOR or --no-color. The shape is kfk's own (no Kafka tool to match), so scripts should prefer the
 * Kafka-shaped tools (topics --describe, consumer-groups --describe).
 */
import { adminFromFlags, writeOut, type Opts } from './common.js';
import { palette, renderTable } from './tty.js';

export async function runCluster(opts: Opts): Promise<number> {
  const p = palette(process.stdout);
  const admin = await adminFromFlags(opts, 'kfk-cluster');
  try {
    const cluster = await admin.describeCluster();
    const topics = (await admin.describeTopics()).filter((t) => opts.includeInternal === true || !t.isInternal).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const live = new Set(cluster.brokers.map((b) => b.nodeId));
    const out: string[] = [];
    out.push(`Cluster id: ${cluster.clusterId ?? '-'}  Controller: ${cluster.controllerId >= 0 ? cluster.controllerId : p.red('none')}  Brokers: ${cluster.brokers.length}  Topics: ${topics.length}\n\n`);

    const leaders = new Map<number, number>();
    for (const t of topics) for (const part of t.partitions) if (part.leader >= 0) leaders.set(part.leader, (leaders.get(part.leader) ?? 0) + 1);
    out.push(
      renderTable(
        ['BROKER', 'HOST', 'PORT', 'RACK', 'LEADERS', 'CONTROLLER'],
        cluster.brokers.map((b) => [String(b.nodeId), b.host, String(b.port), b.rack ?? '-', String(leaders.get(b.nodeId) ?? 0), b.nodeId === cluster.controllerId ? p.bold('yes') : '']),
        p,
      ),
    );

    out.push('\n');
    const topicRows = topics.map((t) => {
      const offline = t.partitions.filter((x) => x.leader < 0 || !live.has(x.leader)).length;
      const under = t.partitions.filter((x) => x.isr.length < x.replicas.length).length;
      const rf = Math.max(0, ...t.partitions.map((x) => x.replicas.length));
      return [t.name, String(t.partitions.length), String(rf), under > 0 ? p.yellow(String(under)) : '0', offline > 0 ? p.red(String(offline)) : '0'];
    });
    out.push(renderTable(['TOPIC', 'PARTITIONS', 'RF', 'UNDER-REPLICATED', 'OFFLINE'], topicRows, p));

    const groups = (await admin.listGroups()).sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
    if (groups.length > 0) {
      out.push('\n');
      const ends = new Map<string, number>();
      const rows: string[][] = [];
      for (const g of groups) {
        const desc = await admin.describeGroup(g.groupId);
        const committed = await admin.listGroupOffsets(g.groupId);
        let lag = 0;
        for (const c of committed) {
          const key = `${c.topic}\u0000${c.partition}`;
          if (!ends.has(key)) {
            for (const o of await admin.listOffsets(c.topic, 'latest').catch(() => [])) ends.set(`${c.topic}\u0000${o.partition}`, o.offset);
          }
          const end = ends.get(key);
          if (end !== undefined && end >= 0 && c.offset >= 0) lag += Math.max(0, end - c.offset);
        }
        const topicsOf = [...new Set(committed.map((c) => c.topic))].sort();
        rows.push([g.groupId, desc.state, String(desc.members.length), topicsOf.join(',') || '-', lag > 0 ? p.yellow(String(lag)) : '0']);
      }
      out.push(renderTable(['GROUP', 'STATE', 'MEMBERS', 'TOPICS', 'LAG'], rows, p));
    }
    await writeOut(out.join(''));
    return 0;
  } finally {
    await admin.close();
  }
}
