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

async function setup(readDelayMs = 0): Promise<{ registry: Registry; follower: ConfigChangeFollower; reads: () => number; maxOverlap: () => number; notify: (entity: string) => Promise<void> }> {
  store = EmbeddedRegistryStore.inMemory();
  const registry = store.connect();
  await registry.mkdirp(configChangesPath);
  let reads = 0;
  let running = 0;
  let maxOverlap = 0;
  const follower = new ConfigChangeFollower(registry, silentLogger, {
    what: 'test configs',
    concerns: (entityPath) => entityPath === 'brokers/1' || entityPath === 'brokers/<default>',
    reread: async () => {
      running++;
      maxOverlap = Math.max(maxOverlap, running);
      // a read that takes a while, so that notifications arrive while it runs
      if (readDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, readDelayMs));
      reads++;
      running--;
    },
  });
  followers.push(follower);
  const notify = async (entity: string): Promise<void> => {
    const [type, name] = entity.split('/') as [string, string];
    await registry.create(`${configChangesPath}/${configChangePrefix}`, encodeConfigChangeNotification(type as 'brokers', name), 'persistent_sequential');
  };
  return { registry, follower, reads: () => reads, maxOverlap: () => maxOverlap, notify };
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
    const t = await setup(30);
    await t.follower.start();
    for (let i = 0; i < 20; i++) await t.notify('brokers/1');
    // until the reads stop: the burst's last read done
    let settled = -1;
    await waitFor(
      async () => {
        const before = t.reads();
        await quietPeriod(100);
        settled = t.reads();
        return settled === before && settled >= 2;
      },
      { message: 'reads after the burst to stop' },
    );
    // the burst is coalesced: fewer reads than notifications, and none running at once
    expect(settled).toBeLessThan(21);
    expect(t.maxOverlap()).toBe(1);
    // one more notification after the burst is always followed by a read
    await t.notify('brokers/1');
    await waitFor(() => t.reads() > settled, { message: 'a read after the last notification' });
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
