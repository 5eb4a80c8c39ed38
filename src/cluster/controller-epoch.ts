/**
 * Controller election and epoch fencing, as Kafka's KafkaZkClient does them in ZooKeeper mode:
 *  - Winning: one multi-op creates the ephemeral /controller and bumps /controller_epoch with a
 *    compare-and-set on its znode version. The winner remembers the version it wrote.
 *  - Fencing: every write of a controller is a multi-op whose first operation checks that
 *    /controller_epoch still has that version. Once another broker has won (and bumped it), a
 *    deposed controller's write fails as a whole with ControllerMovedError, and it resigns.
 */
import { isRegistryError, type MultiOp, type MultiResult, type Registry } from '../registry/registry.js';
import {
  controllerEpochPath,
  controllerPath,
  decodeController,
  decodeControllerEpoch,
  encodeController,
  encodeControllerEpoch,
} from '../registry/paths.js';

/** Kafka's KafkaController.InitialControllerEpoch: the value /controller_epoch is created with. */
export const INITIAL_CONTROLLER_EPOCH = 0;

/** This broker is not (or no longer) the controller: another one won, or /controller went away. */
export class ControllerMovedError extends Error {
  override readonly name = 'ControllerMovedError';
}

export interface ControllerEpoch {
  /** The controller epoch this controller writes into partition states. */
  epoch: number;
  /** The znode version of /controller_epoch it wrote; every fenced write checks it. */
  epochZkVersion: number;
}

/** The broker id in /controller, or -1 when there is no controller. */
export async function getControllerId(registry: Registry): Promise<number> {
  const node = await registry.get(controllerPath);
  return node ? decodeController(node.data).brokerId : -1;
}

/**
 * Becomes the controller: reads /controller_epoch (creating it with 0 when missing), then in one
 * multi-op creates /controller and sets the epoch + 1 with the version read. Throws
 * ControllerMovedError when another broker got there first.
 */
export async function registerControllerAndIncrementEpoch(registry: Registry, brokerId: number, now: number = Date.now()): Promise<ControllerEpoch> {
  const { epoch: current, version } = await readOrCreateControllerEpoch(registry);
  const newEpoch = current + 1;
  try {
    const results = await registry.multi([
      { op: 'create', path: controllerPath, data: encodeController({ brokerId, timestamp: now }), mode: 'ephemeral' },
      { op: 'set', path: controllerEpochPath, data: encodeControllerEpoch(newEpoch), version },
    ]);
    const set = results[1] as Extract<MultiResult, { op: 'set' }>;
    return { epoch: newEpoch, epochZkVersion: set.stat.version };
  } catch (err) {
    if (!isRegistryError(err, 'NODE_EXISTS') && !isRegistryError(err, 'BAD_VERSION')) throw err;
    // A retried request may have won already (its first answer was lost): accept only that case.
    const controller = await registry.get(controllerPath);
    if (controller && decodeController(controller.data).brokerId === brokerId && controller.stat.ephemeralOwner === registry.session.id) {
      const epochNode = await registry.get(controllerEpochPath);
      if (epochNode && decodeControllerEpoch(epochNode.data) === newEpoch) return { epoch: newEpoch, epochZkVersion: epochNode.stat.version };
    }
    throw new ControllerMovedError(`controller moved to another broker (broker ${brokerId} lost the election)`);
  }
}

async function readOrCreateControllerEpoch(registry: Registry): Promise<{ epoch: number; version: number }> {
  for (;;) {
    const node = await registry.get(controllerEpochPath);
    if (node) return { epoch: decodeControllerEpoch(node.data), version: node.stat.version };
    try {
      await registry.create(controllerEpochPath, encodeControllerEpoch(INITIAL_CONTROLLER_EPOCH), 'persistent');
      return { epoch: INITIAL_CONTROLLER_EPOCH, version: 0 };
    } catch (err) {
      if (!isRegistryError(err, 'NODE_EXISTS')) throw err;
    }
  }
}

/**
 * Runs `ops` atomically, guarded by the controller epoch: the first operation checks that
 * /controller_epoch still has `epochZkVersion`. A failed check throws ControllerMovedError; any
 * other failure is rethrown with `opIndex` counted within `ops` (not counting the check).
 */
export async function fencedMulti(registry: Registry, epochZkVersion: number, ops: MultiOp[]): Promise<MultiResult[]> {
  try {
    const results = await registry.multi([{ op: 'check', path: controllerEpochPath, version: epochZkVersion }, ...ops]);
    return results.slice(1);
  } catch (err) {
    if (isRegistryError(err) && err.opIndex === 0) {
      throw new ControllerMovedError(`controller epoch znode version is no longer ${epochZkVersion}: another broker is controller`);
    }
    if (isRegistryError(err) && err.opIndex !== undefined) err.opIndex -= 1;
    throw err;
  }
}

/** Deletes /controller if this controller's epoch is still current (Kafka's deleteController, used to force a new election). */
export async function deleteController(registry: Registry, epochZkVersion: number): Promise<void> {
  try {
    await fencedMulti(registry, epochZkVersion, [{ op: 'delete', path: controllerPath, version: -1 }]);
  } catch (err) {
    if (!isRegistryError(err, 'NO_NODE')) throw err;
  }
}
