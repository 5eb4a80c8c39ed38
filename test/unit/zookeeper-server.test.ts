import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensembleServerIds, startZooKeeper, zooKeeperConfig } from '../../src/registry/zookeeper-server.js';
import { freePort, makeTempDir } from '../helpers/index.js';

describe('ZooKeeper ensemble configs', () => {
  it('finds the server ids of server.N lines, none for a standalone config', () => {
    expect(ensembleServerIds(zooKeeperConfig({ dataDir: '/tmp/zk', port: 2181 }))).toEqual([]);
    const cfg = zooKeeperConfig({ dataDir: '/tmp/zk', port: 2181, properties: { 'server.1': 'a:2888:3888', 'server.3': 'c:2888:3888', 'server.x': 'no' } });
    expect(ensembleServerIds(cfg).sort()).toEqual([1, 3]);
  });

  it("refuses to start an ensemble member without its id, and one whose id is not among the servers", async () => {
    const dataDir = makeTempDir('kfk-zk-myid-');
    const opts = {
      dataDir,
      port: await freePort(),
      properties: { 'server.1': '127.0.0.1:1:2', 'server.2': '127.0.0.1:3:4' },
      install: { java: '/bin/false', classpath: '' },
    };
    await expect(startZooKeeper(opts)).rejects.toThrow(`${path.join(dataDir, 'myid')} is missing`);
    await expect(startZooKeeper({ ...opts, myid: 5 })).rejects.toThrow('myid 5 is not one of the ensemble');
    expect(fs.existsSync(path.join(dataDir, 'myid'))).toBe(false);
  });
});
