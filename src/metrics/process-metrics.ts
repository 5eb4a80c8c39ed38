/**
 * The process's own metrics (prom-client's defaults: CPU, memory, event-loop lag, GC), in one registry per process,
 * created the first time an admin listener serves /metrics: brokers without one (and several brokers in one
 * process) start no event-loop monitor or GC observer for it.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

let registry: Registry | null = null;

export function processMetrics(): Registry {
  if (registry === null) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  }
  return registry;
}
