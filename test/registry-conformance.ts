/**
 * Registry conformance suite: the semantics every Registry backend must share (ZooKeeper's).
 *
 * Run it from a *.test.ts file with a factory that opens two sessions on the same tree (or
 * ensemble). The factory's close() must tolerate sessions the test already closed. Every test
 * works under its own random root path, so it can run against a long-lived ZooKeeper ensemble.
 */
import { randomBytes } from 'node:crypto';

import { afterEach, describe, expect, it } from 'vitest';

import { type Registry, RegistryError, type WatchEvent } from '../src/registry/registry.js';
import { quietPeriod, waitFor } from './helpers/wait.js';

export interface RegistryPair {
  a: Registry;
  b: Registry;
  close(): Promise<void>;
}

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Polls until `pred` holds: for a watch event that must fire. */
function eventually(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  return waitFor(pred, { timeoutMs, intervalMs: 5, message: what });
}

/**
 * A negative check's wait, not synchronisation: gives a watch notification that must NOT fire (a second change after
 * a one-shot watch fired, a closed session's watch) the time to arrive before the test asserts that none did.
 * Notifications are never delivered synchronously, so without it such a check could not fail. Under load it can only
 * miss a late notification, never fail a correct backend.
 */
async function settle(ms = 50): Promise<void> {
  await quietPeriod(ms);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<RegistryError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RegistryError);
    expect((e as RegistryError).code).toBe(code);
    return e as RegistryError;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

function recorder(): { events: WatchEvent[]; watch: (e: WatchEvent) => void } {
  const events: WatchEvent[] = [];
  return { events, watch: (e) => events.push(e) };
}

export function registryConformance(name: string, makeRegistry: () => Promise<RegistryPair>): void {
  describe(`Registry conformance: ${name}`, () => {
    let pair: RegistryPair | null = null;
    let root = '';

    async function setup(): Promise<RegistryPair> {
      pair = await makeRegistry();
      root = `/kfk-conformance-${randomBytes(6).toString('hex')}`;
      await pair.a.mkdirp(root);
      return pair;
    }

    afterEach(async () => {
      if (!pair) return;
      const p = pair;
      pair = null;
      try {
        await p.b.deleteRecursive(root);
      } catch {
        // the session may have been closed by the test
      }
      await p.close();
    });

    it('creates, reads, lists and deletes nodes', async () => {
      const { a, b } = await setup();
      expect(await a.create(`${root}/x`, buf('hello'), 'persistent')).toBe(`${root}/x`);
      const got = await b.get(`${root}/x`);
      expect(got?.data?.toString()).toBe('hello');
      expect(got?.stat.version).toBe(0);
      expect(got?.stat.ephemeralOwner).toBe(0);
      expect(await a.create(`${root}/empty`, null)).toBe(`${root}/empty`);
      const empty = await b.get(`${root}/empty`);
      expect(empty).not.toBeNull();
      expect(empty!.data === null || empty!.data.length === 0).toBe(true);
      await a.create(`${root}/c`, null);
      await a.create(`${root}/a`, null);
      expect(await b.children(root)).toEqual(['a', 'c', 'empty', 'x']);
      expect((await b.exists(root))?.numChildren).toBe(4);
      expect(await b.get(`${root}/missing`)).toBeNull();
      expect(await b.exists(`${root}/missing`)).toBeNull();
      expect(await b.children(`${root}/missing`)).toBeNull();
      await expectCode(a.create(`${root}/x`, null), 'NODE_EXISTS');
      await expectCode(a.create(`${root}/no/parent`, null), 'NO_NODE');
      await b.delete(`${root}/x`);
      expect(await a.get(`${root}/x`)).toBeNull();
      await expectCode(a.delete(`${root}/x`), 'NO_NODE');
    });

    it('compare-and-set on versions', async () => {
      const { a, b } = await setup();
      const p = `${root}/cas`;
      await a.create(p, buf('v0'));
      const s1 = await a.set(p, buf('v1'), 0);
      expect(s1.version).toBe(1);
      await expectCode(b.set(p, buf('stale'), 0), 'BAD_VERSION');
      expect((await b.get(p))?.data?.toString()).toBe('v1');
      const s2 = await b.set(p, buf('v2'), 1);
      expect(s2.version).toBe(2);
      const s3 = await a.set(p, buf('any'));
      expect(s3.version).toBe(3);
      const s4 = await a.set(p, buf('any2'), -1);
      expect(s4.version).toBe(4);
      expect(s4.mzxid).toBeGreaterThan(s1.mzxid);
      await expectCode(a.set(`${root}/missing`, buf('x')), 'NO_NODE');
      await expectCode(a.delete(p, 0), 'BAD_VERSION');
      expect(await a.exists(p)).not.toBeNull();
      await a.delete(p, 4);
      expect(await a.exists(p)).toBeNull();
    });

    it('czxid increases with each creation', async () => {
      const { a, b } = await setup();
      await a.create(`${root}/z1`, null);
      await b.create(`${root}/z2`, null, 'ephemeral');
      const z1 = (await a.exists(`${root}/z1`))!;
      const z2 = (await a.exists(`${root}/z2`))!;
      expect(z2.czxid).toBeGreaterThan(z1.czxid);
      const s = await a.set(`${root}/z1`, buf('x'));
      expect(s.czxid).toBe(z1.czxid);
      expect(s.mzxid).toBeGreaterThan(z2.czxid);
    });

    it('names sequential nodes with a 10-digit counter per parent', async () => {
      const { a, b } = await setup();
      await a.mkdirp(`${root}/seq`);
      await a.mkdirp(`${root}/other`);
      const n0 = await a.create(`${root}/seq/item-`, buf('0'), 'persistent_sequential');
      const n1 = await b.create(`${root}/seq/item-`, buf('1'), 'persistent_sequential');
      const n2 = await a.create(`${root}/seq/eph-`, null, 'ephemeral_sequential');
      const o0 = await a.create(`${root}/other/item-`, null, 'persistent_sequential');
      expect(n0).toBe(`${root}/seq/item-0000000000`);
      expect(n1).toBe(`${root}/seq/item-0000000001`);
      expect(n2).toBe(`${root}/seq/eph-0000000002`);
      expect(o0).toBe(`${root}/other/item-0000000000`);
      expect((await b.get(n1))?.data?.toString()).toBe('1');
      await a.delete(n1);
      const n3 = await a.create(`${root}/seq/item-`, null, 'persistent_sequential');
      expect(n3).toMatch(/\/item-\d{10}$/);
      expect(Number(n3.slice(-10))).toBeGreaterThan(2);
      expect(await a.children(`${root}/seq`)).toEqual([n2, n0, n3].map((p) => p.slice(p.lastIndexOf('/') + 1)).sort());
    });

    it('refuses to delete a node with children (NOT_EMPTY); deleteRecursive removes a subtree', async () => {
      const { a, b } = await setup();
      await a.mkdirp(`${root}/p/q/r`);
      await a.create(`${root}/p/q/s`, buf('s'));
      await expectCode(b.delete(`${root}/p`), 'NOT_EMPTY');
      await expectCode(b.delete(`${root}/p/q`), 'NOT_EMPTY');
      expect(await a.children(`${root}/p/q`)).toEqual(['r', 's']);
      expect(await b.deleteRecursive(`${root}/p`)).toBe(true);
      expect(await a.exists(`${root}/p`)).toBeNull();
      expect(await b.deleteRecursive(`${root}/p`)).toBe(false);
    });

    it('mkdirp creates missing ancestors and is idempotent', async () => {
      const { a, b } = await setup();
      await a.mkdirp(`${root}/m/n/o`);
      await b.mkdirp(`${root}/m/n/o`);
      await b.mkdirp(`${root}/m/n`);
      expect(await a.children(`${root}/m`)).toEqual(['n']);
      const o = await b.get(`${root}/m/n/o`);
      expect(o).not.toBeNull();
      expect(o!.stat.ephemeralOwner).toBe(0);
    });

    it('removes ephemeral nodes when their session closes, and the other session sees it', async () => {
      const { a, b } = await setup();
      expect(a.session.id).not.toBe(b.session.id);
      expect(a.session.id).not.toBe(0);
      await b.mkdirp(`${root}/ids`);
      await a.create(`${root}/ids/1`, buf('{"broker":1}'), 'ephemeral');
      await a.create(`${root}/ids/seq-`, null, 'ephemeral_sequential');
      await a.create(`${root}/ids/persist`, null, 'persistent');
      const stat = await b.exists(`${root}/ids/1`);
      expect(stat?.ephemeralOwner).toBe(a.session.id);
      await expectCode(a.create(`${root}/ids/1/child`, null), 'NO_CHILDREN_FOR_EPHEMERALS');

      const del = recorder();
      const kids = recorder();
      await b.exists(`${root}/ids/1`, del.watch);
      expect(await b.children(`${root}/ids`, kids.watch)).toHaveLength(3);
      await a.close();
      await eventually(() => del.events.length > 0 && kids.events.length > 0, 'ephemeral deletion events');
      expect(del.events).toEqual([{ type: 'deleted', path: `${root}/ids/1` }]);
      expect(kids.events).toEqual([{ type: 'children', path: `${root}/ids` }]);
      expect(await b.exists(`${root}/ids/1`)).toBeNull();
      expect(await b.children(`${root}/ids`)).toEqual(['persist']);
    });

    it('fires a data watch once for changes', async () => {
      const { a, b } = await setup();
      const p = `${root}/w`;
      await a.create(p, buf('0'));
      const r = recorder();
      await b.get(p, r.watch);
      const pending = a.set(p, buf('1'));
      expect(r.events).toEqual([]); // never synchronously
      await pending;
      await eventually(() => r.events.length > 0, 'changed event');
      await a.set(p, buf('2'));
      await settle();
      expect(r.events).toEqual([{ type: 'changed', path: p }]);
    });

    it('fires a child watch once for creations and deletions of children', async () => {
      const { a, b } = await setup();
      const r = recorder();
      expect(await b.children(root, r.watch)).toEqual([]);
      await a.create(`${root}/k1`, null);
      await eventually(() => r.events.length > 0, 'children event');
      await a.create(`${root}/k2`, null);
      await settle();
      expect(r.events).toEqual([{ type: 'children', path: root }]);
      // Re-arm: a deletion also fires it; data changes of a child do not.
      const r2 = recorder();
      await b.children(root, r2.watch);
      await a.set(`${root}/k1`, buf('data'));
      await settle();
      expect(r2.events).toEqual([]);
      await a.delete(`${root}/k2`);
      await eventually(() => r2.events.length > 0, 'children event on delete');
      expect(r2.events).toEqual([{ type: 'children', path: root }]);
    });

    it('fires watches on deletion: data, exists and children', async () => {
      const { a, b } = await setup();
      const p = `${root}/d`;
      await a.create(p, null);
      const data = recorder();
      const ex = recorder();
      const ch = recorder();
      await b.get(p, data.watch);
      await b.exists(p, ex.watch);
      await b.children(p, ch.watch);
      await a.delete(p);
      await eventually(() => data.events.length > 0 && ex.events.length > 0 && ch.events.length > 0, 'deleted events');
      await settle();
      expect(data.events).toEqual([{ type: 'deleted', path: p }]);
      expect(ex.events).toEqual([{ type: 'deleted', path: p }]);
      expect(ch.events).toEqual([{ type: 'deleted', path: p }]);
    });

    it('exists on a missing node watches for its creation', async () => {
      const { a, b } = await setup();
      const p = `${root}/later`;
      const r = recorder();
      expect(await b.exists(p, r.watch)).toBeNull();
      await a.create(p, buf('x'), 'ephemeral');
      await eventually(() => r.events.length > 0, 'created event');
      await a.set(p, buf('y'));
      await settle();
      expect(r.events).toEqual([{ type: 'created', path: p }]);
    });

    it('a watcher registered by both get and exists fires once per event', async () => {
      const { a, b } = await setup();
      const p = `${root}/dup`;
      await a.create(p, null);
      const r = recorder();
      await b.get(p, r.watch);
      await b.exists(p, r.watch);
      await b.get(p, r.watch);
      await a.set(p, buf('x'));
      await eventually(() => r.events.length > 0, 'changed event');
      await settle();
      expect(r.events).toEqual([{ type: 'changed', path: p }]);
    });

    it('get and children on a missing node set no watch', async () => {
      const { a, b } = await setup();
      const p = `${root}/nowatch`;
      const r = recorder();
      expect(await b.get(p, r.watch)).toBeNull();
      expect(await b.children(p, r.watch)).toBeNull();
      await a.create(p, null);
      await a.create(`${p}/c`, null);
      await settle();
      expect(r.events).toEqual([]);
    });

    it('multi applies all operations or none', async () => {
      const { a, b } = await setup();
      await a.create(`${root}/y`, buf('y0'));
      await a.create(`${root}/gone`, null);
      const r = recorder();
      await b.exists(`${root}/new`, r.watch);

      const err = await expectCode(
        a.multi([
          { op: 'create', path: `${root}/new`, data: buf('n') },
          { op: 'delete', path: `${root}/gone` },
          { op: 'set', path: `${root}/y`, data: buf('y1'), version: 7 },
        ]),
        'BAD_VERSION',
      );
      expect(err.opIndex).toBe(2);
      expect(await b.exists(`${root}/new`)).toBeNull();
      expect(await b.exists(`${root}/gone`)).not.toBeNull();
      expect((await b.get(`${root}/y`))?.data?.toString()).toBe('y0');
      await expectCode(a.multi([{ op: 'check', path: `${root}/y`, version: 3 }]), 'BAD_VERSION');
      await expectCode(
        a.multi([
          { op: 'create', path: `${root}/new`, data: null },
          { op: 'create', path: `${root}/new`, data: null },
        ]),
        'NODE_EXISTS',
      );
      expect(await b.exists(`${root}/new`)).toBeNull();
      await settle();
      expect(r.events).toEqual([]); // nothing happened, nothing fired

      const results = await a.multi([
        { op: 'check', path: `${root}/y`, version: 0 },
        { op: 'create', path: `${root}/new`, data: buf('n') },
        { op: 'create', path: `${root}/new/child-`, data: null, mode: 'persistent_sequential' },
        { op: 'set', path: `${root}/y`, data: buf('y1'), version: 0 },
        { op: 'delete', path: `${root}/gone`, version: 0 },
      ]);
      expect(results.map((x) => x.op)).toEqual(['check', 'create', 'create', 'set', 'delete']);
      expect(results[1]).toEqual({ op: 'create', path: `${root}/new` });
      expect(results[2]).toEqual({ op: 'create', path: `${root}/new/child-0000000000` });
      expect(results[3]!.op === 'set' && results[3]!.stat.version).toBe(1);
      expect((await b.get(`${root}/new`))?.data?.toString()).toBe('n');
      expect((await b.get(`${root}/y`))?.data?.toString()).toBe('y1');
      expect(await b.exists(`${root}/gone`)).toBeNull();
      await eventually(() => r.events.length > 0, 'created event from multi');
      expect(r.events).toEqual([{ type: 'created', path: `${root}/new` }]);
    });

    it('does not fire the watches of a closed session', async () => {
      const { a, b } = await setup();
      const p = `${root}/closedwatch`;
      await b.create(p, null);
      const r = recorder();
      await a.get(p, r.watch);
      await a.close();
      await b.set(p, buf('x'));
      await settle();
      expect(r.events).toEqual([]);
    });
  });
}
