import { afterAll } from 'vitest';
import { stopAllBrokers } from './broker-process.js';
import { stopAllProcesses } from './run.js';
import { cleanupTempDirs } from './tmp.js';

/** Stop every background process and broker this worker started, then delete its temp dirs. Never throws. */
export async function cleanupAll(): Promise<void> {
  await stopAllProcesses().catch(() => {});
  await stopAllBrokers().catch(() => {});
  await cleanupTempDirs().catch(() => {});
}

/** Call once at the top level of a test file: registers `afterAll(cleanupAll)`. */
export function registerCleanup(): void {
  afterAll(cleanupAll);
}
