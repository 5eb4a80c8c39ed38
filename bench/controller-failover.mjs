#!/usr/bin/env node
/**
 * How long the controller takes to act, on a three-broker cluster in one process (startCluster, embedded
 * registry, so a killed broker's registration vanishes at once: on ZooKeeper add the session timeout):
 *  - kill: killBroker(b) until Metadata (from another broker) shows a new live leader for every partition b led;
 *  - controlled shutdown: stopBroker(b) until it has stopped, its leaderships moved first;
 *  - controller failover: killBroker(controller) until another broker is controller and has moved the
 *    dead controller's leaderships.
 *
 *   node bench/controller-failover.mjs [--partitions 300] [--runs 5]
 *
 * Needs `npm run build` (it uses dist/). Prints each run and the medians.
 */
import { startCluster, createAdmin } from '../dist/src/index.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const partitions = opt('partitions', 300);
const runs = opt('runs', 5);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(fn, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(5);
  }
}

async function oneRun() {
  const cluster = await startCluster({ brokers: 3, config: { 'auto.leader.rebalance.enable': 'false' } });
  const watcherOf = (exclude) => cluster.brokers.find((b) => b.running && !exclude.includes(b.id));
  try {
    // Each phase gets a fresh topic with every broker in its ISRs (without follower replication a broker
    // that was down does not rejoin the ISRs of older topics).
    let topic = '';
    const freshTopic = async (name) => {
      const setup = createAdmin({ bootstrap: watcherOf([]).bootstrap });
      await setup.createTopics([{ name, numPartitions: partitions, replicationFactor: 3 }]);
      await setup.close();
      topic = name;
    };
    const leadersSeenBy = async (broker) => {
      const admin = createAdmin({ bootstrap: broker.bootstrap });
      try {
        return (await admin.describeTopics([topic]))[0].partitions.map((p) => p.leader);
      } finally {
        await admin.close();
      }
    };
    const controller = async () => {
      const admin = createAdmin({ bootstrap: watcherOf([]).bootstrap });
      try {
        return (await admin.describeCluster()).controllerId;
      } finally {
        await admin.close();
      }
    };

    // 1. kill -9 of a broker that is not the controller
    await freshTopic('bench1');
    let ctl = await controller();
    const victim = [0, 1, 2].find((id) => id !== ctl);
    const led = (await leadersSeenBy(watcherOf([victim]))).filter((l) => l === victim).length;
    let t0 = performance.now();
    await cluster.killBroker(victim);
    await until(async () => (await leadersSeenBy(watcherOf([victim]))).every((l) => l >= 0 && l !== victim));
    const kill = performance.now() - t0;
    await cluster.restartBroker(victim);
    await sleep(200);

    // 2. controlled shutdown of the non-controller broker that leads the most
    await freshTopic('bench2');
    const leaders = await leadersSeenBy(watcherOf([]));
    const busiest = [0, 1, 2].filter((id) => id !== ctl).sort((a, b) => leaders.filter((l) => l === b).length - leaders.filter((l) => l === a).length)[0];
    const movedByShutdown = leaders.filter((l) => l === busiest).length;
    t0 = performance.now();
    await cluster.stopBroker(busiest);
    const shutdown = performance.now() - t0;
    await cluster.restartBroker(busiest);
    await sleep(200);

    // 3. kill -9 of the controller
    await freshTopic('bench3');
    ctl = await controller();
    t0 = performance.now();
    await cluster.killBroker(ctl);
    await until(async () => {
      const w = watcherOf([ctl]);
      const admin = createAdmin({ bootstrap: w.bootstrap });
      try {
        const c = (await admin.describeCluster()).controllerId;
        if (c < 0 || c === ctl) return false;
        return (await admin.describeTopics([topic]))[0].partitions.every((p) => p.leader >= 0 && p.leader !== ctl);
      } finally {
        await admin.close();
      }
    });
    const failover = performance.now() - t0;
    return { kill, led, shutdown, movedByShutdown, failover };
  } finally {
    await cluster.stop();
  }
}

const results = [];
for (let i = 0; i < runs; i++) {
  const r = await oneRun();
  results.push(r);
  console.log(
    `run ${i + 1}: kill -9 ${r.kill.toFixed(0)} ms (${r.led} leaderships), controlled shutdown ${r.shutdown.toFixed(0)} ms (${r.movedByShutdown} leaderships), controller failover ${r.failover.toFixed(0)} ms`,
  );
}
console.log(
  `medians over ${runs} runs, ${partitions} partitions x 3 replicas: kill -9 → new leaders ${median(results.map((r) => r.kill)).toFixed(0)} ms, ` +
    `controlled shutdown ${median(results.map((r) => r.shutdown)).toFixed(0)} ms, controller failover → new leaders ${median(results.map((r) => r.failover)).toFixed(0)} ms`,
);
