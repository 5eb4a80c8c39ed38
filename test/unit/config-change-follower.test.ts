/**
 * ConfigChangeFollower (src/registry/config-change-follower.ts) against a real embedded registry: a reader is made
 * to read again by notifications naming its entities and only by them, its reads never overlap however fast
 * notifications come, the last one is always followed by a read, and start/reload read whatever the notifications say.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigChangeFollower } from '../../src/registry/config-change-follower.js';
import { EmbeddedRegistryStore } from '../../src/registry/embedded.js';
import { configChangePrefix, configChangesPath, encodeConfigChangeNotification } from '../../src/registry/paths.js';
import type { Registry } from '../../src/registry/registry.js';
import { silentLogger } from '../../src/server/logger.js';
import { quietPeriod, waitFor } from '../helpers/wait.js';

let store: EmbeddedRegistryStore | undefined;
const followers: ConfigChangeFollower[] = [];

afterEach(() => {
  for (const f of followers.splice(0)) f.close();
  store?.close();
  store = undefined;
});

interface Setup {
  registry: Registry;
  follower: ConfigChangeFollower;
  reads: () => number;
  running: () => number;
  maxOverlap: () => number;
  notify: (entity: string) => Promise<void>;
  /** Reads started from now on wait until release(): notifications can then arrive while one runs. */
  hold: () => void;
  release: () => void;
}

async function setup(): Promise<Setup> {
  store = EmbeddedRegistryStore.inMemory();
  const registry = store.connect();
  await registry.mkdirp(configChangesPath);
  let reads = 0;
  let running = 0;
  let maxOverlap = 0;
  let gate: { promise: Promise<void>; open: () => void } | null = null;
  const follower = new ConfigChangeFollower(registry, silentLogger, {
    what: 'test configs',
    concerns: (entityPath) => entityPath === 'brokers/1' || entityPath === 'brokers/<default>',
    reread: async () => {
      running++;
      maxOverlap = Math.max(maxOverlap, running);
      if (gate) await gate.promise;
      reads++;
      running--;
    },
  });
  followers.push(follower);
  const notify = async (entity: string): Promise<void> => {
    const [type, name] = entity.split('/') as [string, string];
    await registry.create(`${configChangesPath}/${configChangePrefix}`, encodeConfigChangeNotification(type as 'brokers', name), 'persistent_sequential');
  };
  const hold = (): void => {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    gate = { promise, open };
  };
  const release = (): void => {
    gate?.open();
    gate = null;
  };
  return { registry, follower, reads: () => reads, running: () => running, maxOverlap: () => maxOverlap, notify, hold, release };
}

describe('ConfigChangeFollower', () => {
  it('reads at start, then on notifications naming its entities only', async () => {
    const t = await setup();
    await t.follower.start();
    expect(t.reads()).toBe(1);
    await t.notify('brokers/2');
    await t.notify('users/alice');
    await quietPeriod(200);
    expect(t.reads()).toBe(1);
    await t.notify('brokers/1');
    await waitFor(() => t.reads() === 2, { message: 'a read after brokers/1 changed' });
    await t.notify('brokers/<default>');
    await waitFor(() => t.reads() === 3, { message: 'a read after the broker default changed' });
  });

  it('never overlaps reads, and reads after the last of a burst of notifications', async () => {
    const t = await setup();
    await t.follower.start();
    expect(t.reads()).toBe(1);
    // a read held open, and twenty notifications while it runs
    t.hold();
    await t.notify('brokers/1');
    await waitFor(() => t.running() === 1, { message: 'a read under way' });
    for (let i = 0; i < 19; i++) await t.notify('brokers/1');
    t.release();
    // the burst is coalesced into one more read after the held one, and no read runs beside another
    await waitFor(() => t.reads() === 3, { message: 'the held read and one read after the burst' });
    await quietPeriod(200);
    expect(t.reads()).toBe(3);
    expect(t.maxOverlap()).toBe(1);
    // one more notification after the burst is always followed by a read
    await t.notify('brokers/1');
    await waitFor(() => t.reads() === 4, { message: 'a read after the last notification' });
  });

  it('reload reads again without a new notification; close stops following', async () => {
    const t = await setup();
    await t.follower.start();
    await t.follower.reload();
    expect(t.reads()).toBe(2);
    t.follower.close();
    await t.notify('brokers/1');
    await quietPeriod(200);
    expect(t.reads()).toBe(2);
  });
});
