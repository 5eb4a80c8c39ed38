/**
 * Controller epoch fencing (src/cluster/controller-epoch.ts) against both registries, the embedded
 * one and a real ZooKeeper: the election multi-op, a deposed controller's fenced write refused as a
 * whole, and a Controller that has not noticed it was deposed (its watches lost, as for a paused
 * process) resigning on its first write instead of changing anything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/cluster/controller.js';
import { ControllerMovedError, fencedMulti, registerControllerAndIncrementEpoch } from '../../src/cluster/controller-epoch.js';
import { EmbeddedRegistryStore } from '../../src/registry/embedded.js';
import { ZooKeeperRegistry } from '../../src/registry/zookeeper.js';
import { findZooKeeper, startZooKeeper, type RunningZooKeeper } from '../../src/registry/zookeeper-server.js';
import {
  brokerIdPath,
  controllerPath,
  encodeBrokerRegistration,
  ensureBasePaths,
  topicPath,
} from '../../src/registry/paths.js';
import type { MultiOp, MultiResult, NodeData, Registry, SessionListener, Stat, Watcher, CreateMode } from '../../src/registry/registry.js';
import { silentLogger } from '../../src/server/logger.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { controllerEpoch, controllerId } from '../helpers/cluster-state.js';
import { freePort } from '../helpers/ports.js';
import { cleanupTempDirs, makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { randomBytes } from 'node:crypto';

const install = findZooKeeper();
const requireZk = process.env.CI === 'true' || process.env.KFK_REQUIRE_ZOOKEEPER === '1';

/** A session that can stop delivering watch events, like a controller process that is paused. */
class DeafRegistry implements Registry {
  deaf = false;
  constructor(private readonly inner: Registry) {}
  get session() {
    return this.inner.session;
  }
  private w(watch?: Watcher): Watcher | undefined {
    return watch && ((e) => (this.deaf ? undefined : watch(e)));
  }
  create(path: string, data: Buffer | null, mode?: CreateMode): Promise<string> {
    return this.inner.create(path, data, mode);
  }
  get(path: string, watch?: Watcher): Promise<NodeData | null> {
    return this.inner.get(path, this.w(watch));
  }
  set(path: string, data: Buffer | null, v?: number): Promise<Stat> {
    return this.inner.set(path, data, v);
  }
  delete(path: string, v?: number): Promise<void> {
    return this.inner.delete(path, v);
  }
  deleteRecursive(path: string): Promise<boolean> {
    return this.inner.deleteRecursive(path);
  }
  exists(path: string, watch?: Watcher): Promise<Stat | null> {
    return this.inner.exists(path, this.w(watch));
  }
  children(path: string, watch?: Watcher): Promise<string[] | null> {
    return this.inner.children(path, this.w(watch));
  }
  mkdirp(path: string): Promise<void> {
    return this.inner.mkdirp(path);
  }
  multi(ops: MultiOp[]): Promise<MultiResult[]> {
    return this.inner.multi(ops);
  }
  onSessionEvent(l: SessionListener): () => void {
    return this.inner.onSessionEvent(l);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Backend {
  /** A new session on a fresh namespace shared by this test's sessions. */
  session(): Promise<Registry>;
  done(): Promise<void>;
}

async function registerBroker(r: Registry, id: number): Promise<void> {
  await r.create(
    brokerIdPath(id),
    encodeBrokerRegistration({ id, endpoints: [{ listenerName: 'PLAINTEXT', host: '127.0.0.1', port: 9, securityProtocol: 'PLAINTEXT' }], rack: null, timestamp: Date.now(), jmxPort: -1, features: {} }),
    'ephemeral',
  );
}

function controllerOn(registry: Registry, brokerId: number): Controller {
  return new Controller({ registry, brokerId, validateTopicConfig: () => null, reconcileTopic: async () => {}, logger: silentLogger, settings: { autoLeaderRebalanceEnable: false } });
}

function fencingSuite(name: string, backend: () => Promise<Backend>): void {
  describe(`controller fencing (${name})`, () => {
    let b: Backend;
    const controllers: Controller[] = [];
    beforeAll(async () => {
      b = await backend();
    });
    afterAll(async () => {
      for (const c of controllers) await c.shutdown();
      await b?.done();
    });

    it('wins the election once per epoch, and only one broker at a time', async () => {
      const s1 = await b.session();
      const s2 = await b.session();
      await ensureBasePaths(s1);
      const won = await registerControllerAndIncrementEpoch(s1, 1);
      expect(won.epoch).toBe(1);
      await expect(registerControllerAndIncrementEpoch(s2, 2)).rejects.toBeInstanceOf(ControllerMovedError);
      expect(await controllerId(s2)).toBe(1);
      await s1.close(); // its ephemeral /controller goes with the session
      await waitFor(async () => (await controllerId(s2)) === -1, { message: '/controller gone with the session' });
      const next = await registerControllerAndIncrementEpoch(s2, 2);
      expect(next.epoch).toBe(2);
      expect(next.epochZkVersion).toBe(won.epochZkVersion + 1);
      await s2.close();
    });

    it("refuses a deposed controller's write as a whole", async () => {
      const a = await b.session();
      const other = await b.session();
      await ensureBasePaths(a);
      const old = await registerControllerAndIncrementEpoch(a, 1);
      // A is deposed: its /controller is gone (a session timeout as seen by ZooKeeper) and B won.
      await other.delete(controllerPath);
      const fresh = await registerControllerAndIncrementEpoch(other, 2);
      expect(fresh.epoch).toBe(old.epoch + 1);
      const ops: MultiOp[] = [{ op: 'create', path: topicPath('zombie'), data: Buffer.from('{}'), mode: 'persistent' }];
      await expect(fencedMulti(a, old.epochZkVersion, ops)).rejects.toBeInstanceOf(ControllerMovedError);
      expect(await a.exists(topicPath('zombie'))).toBeNull();
      // The current controller's write goes through.
      await fencedMulti(other, fresh.epochZkVersion, ops);
      expect(await a.exists(topicPath('zombie'))).not.toBeNull();
      await a.close();
      await other.close();
    });

    it('a controller that missed its deposition resigns at its first write and changes nothing', async () => {
      const sa = await b.session();
      const sb = await b.session();
      const admin = await b.session();
      await ensureBasePaths(admin);
      await registerBroker(sa, 0);
      await registerBroker(sb, 1);
      const deafA = new DeafRegistry(sa);
      const a = controllerOn(deafA, 0);
      const bc = controllerOn(sb, 1);
      controllers.push(a, bc);
      await a.startup();
      await bc.startup();
      expect(a.isActive).toBe(true);
      expect(bc.isActive).toBe(false);
      const epochA = a.controllerEpoch;

      // Let A finish with what it has heard so far (its own election, B's registration): ZooKeeper delivers a
      // session's watch events before the answer to its next read, and idle() waits for them to be processed.
      await sa.exists(controllerPath);
      await sa.children('/brokers/ids');
      await a.idle();
      await bc.idle();
      // A stops hearing anything (paused); its /controller disappears and B takes over.
      deafA.deaf = true;
      await admin.delete(controllerPath);
      await waitFor(() => bc.isActive, { message: 'broker 1 took over' });
      expect(await controllerEpoch(admin)).toBe(epochA + 1);
      expect(a.isActive).toBe(true); // it has not noticed

      // Its next write is fenced: NOT_CONTROLLER to the caller, nothing written, and it resigns.
      const result = await a.createTopic({ name: 'from-zombie', numPartitions: 1, replicationFactor: 1 });
      expect(result.errorCode).toBe(ErrorCode.NOT_CONTROLLER);
      expect(await admin.exists(topicPath('from-zombie'))).toBeNull();
      await a.idle();
      expect(a.isActive).toBe(false);
      const shutdown = await a.controlledShutdown(1, -1);
      expect(shutdown.errorCode).toBe(ErrorCode.NOT_CONTROLLER);

      // The real controller carries on.
      const ok = await bc.createTopic({ name: 'from-controller', numPartitions: 1, replicationFactor: 2 });
      expect(ok.errorCode).toBe(ErrorCode.NONE);
      await sa.close();
      await sb.close();
      await admin.close();
    });
  });
}

fencingSuite('embedded registry', async () => {
  let store = EmbeddedRegistryStore.inMemory();
  return {
    session: async () => store.connect(),
    done: async () => {
      await store.close();
      store = EmbeddedRegistryStore.inMemory();
    },
  };
});

if (install || requireZk) {
  let zk: RunningZooKeeper | undefined;
  fencingSuite('ZooKeeper', async () => {
    zk = await startZooKeeper({ dataDir: makeTempDir('kfk-fencing-zk-'), port: await freePort(), host: '127.0.0.1' });
    const chroot = `/kfk-fencing-${randomBytes(4).toString('hex')}`;
    const opened: ZooKeeperRegistry[] = [];
    return {
      session: async () => {
        const r = await ZooKeeperRegistry.connect(`${zk!.connectString}${chroot}`, { sessionTimeoutMs: 6000, connectionTimeoutMs: 10_000 });
        opened.push(r);
        return r;
      },
      done: async () => {
        await Promise.all(opened.map((r) => r.close().catch(() => undefined)));
        await zk?.stop();
        await cleanupTempDirs();
      },
    };
  });
}
