/**
 * `--zookeeper host:port[/chroot]` (Kafka 0.11's tools): find the cluster's brokers through the
 * registrations under /brokers/ids and use them as the bootstrap list.
 */
import { CliError } from './common.js';

export async function bootstrapFromZooKeeper(connect: string): Promise<string> {
  const { ZooKeeperRegistry } = await import('../src/registry/zookeeper.js');
  const { brokerIdPath, brokerIdsPath, decodeBrokerRegistration } = await import('../src/registry/paths.js');
  let registry;
  try {
    // A read-only lookup: never create the chroot.
    registry = await ZooKeeperRegistry.connect(connect, { sessionTimeoutMs: 10_000, connectionTimeoutMs: 5_000, createChroot: false });
  } catch (err) {
    throw new CliError(`no ZooKeeper at ${connect}: ${(err as Error).message}`);
  }
  try {
    const ids = (await registry.children(brokerIdsPath)) ?? [];
    const endpoints: string[] = [];
    for (const id of ids) {
      const node = await registry.get(brokerIdPath(Number(id)));
      if (!node) continue;
      const reg = decodeBrokerRegistration(Number(id), node.data);
      const ep = reg.endpoints.find((e) => e.securityProtocol === 'PLAINTEXT') ?? reg.endpoints[0];
      if (ep) endpoints.push(`${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`);
    }
    if (endpoints.length === 0) {
      throw new CliError(`no broker is registered in ZooKeeper at ${connect}. Start one with: kfk server start config/server.properties`);
    }
    return endpoints.join(',');
  } finally {
    await registry.close();
  }
}
