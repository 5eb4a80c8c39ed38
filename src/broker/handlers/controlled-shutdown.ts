/**
 * ControlledShutdown (key 7), v0-3: a broker about to stop asks the controller to move its
 * leaderships away (src/cluster/controller.ts). Answered by the controller (NOT_CONTROLLER elsewhere)
 * with the replicated partitions the broker still leads. v0 has the request header without client
 * id (handled by the connection layer); v2+ carries the broker epoch, checked against the
 * registration (STALE_BROKER_EPOCH for an old one).
 */
import type { ControlledShutdownRequest, ControlledShutdownResponseInput } from '../../protocol/generated/controlled-shutdown.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';

export function controlledShutdownHandler(b: BrokerServices): ApiHandler<ControlledShutdownRequest, ControlledShutdownResponseInput> {
  return {
    apiKey: 7,
    minVersion: 0,
    maxVersion: 3,
    async handle(req, ctx) {
      const r = await b.controller.controlledShutdown(req.brokerId, ctx.apiVersion >= 2 ? req.brokerEpoch : -1);
      return {
        errorCode: r.errorCode,
        remainingPartitions: r.remaining.map((tp) => ({ topicName: tp.topic, partitionIndex: tp.partition })),
      };
    },
  };
}
