/**
 * The controller's event queue (Kafka's ControllerEventManager): watches, timers and API calls
 * each put an event; one event is processed at a time, to completion, so the controller never
 * acts on a view another event is halfway through changing. Events carry no data from the watch
 * that fired: each handler re-reads what it covers (level-triggered).
 */
import type { Logger } from '../server/logger.js';

export interface ControllerEvent {
  /** For logs: BrokerChange, TopicChange, ControlledShutdown(2), ... */
  readonly name: string;
  process(): Promise<void>;
  /** Called instead of process() when the event is dropped (the controller resigned or closed): answer callers. */
  preempt?(): void;
}

export class ControllerEventQueue {
  private readonly queue: ControllerEvent[] = [];
  private running = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly logger: Logger,
    /** Handles a failure of process(): logs, resigns on ControllerMovedError. */
    private readonly onError: (event: ControllerEvent, err: unknown) => Promise<void>,
  ) {}

  put(event: ControllerEvent): void {
    if (this.closed) {
      event.preempt?.();
      return;
    }
    this.queue.push(event);
    this.pump();
  }

  /** Drops every queued event (preempting it), then queues `event` (Kafka's clearAndPut, on session expiry). */
  clearAndPut(event: ControllerEvent): void {
    for (const e of this.queue.splice(0)) e.preempt?.();
    this.put(event);
  }

  /** Resolves once the queue is empty and nothing is processing (tests, shutdown). */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking events; queued ones are preempted. Resolves when the event in progress is done. */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.queue.splice(0)) e.preempt?.();
    await this.idle();
  }

  private pump(): void {
    if (this.running) return;
    this.running = true;
    void (async () => {
      try {
        for (;;) {
          const event = this.queue.shift();
          if (!event) break;
          try {
            await event.process();
          } catch (err) {
            try {
              await this.onError(event, err);
            } catch (inner) {
              this.logger.error(`controller: error while handling the failure of ${event.name}: ${(inner as Error).stack ?? String(inner)}`);
            }
          }
        }
      } finally {
        this.running = false;
        const waiters = this.idleWaiters.splice(0);
        for (const w of waiters) w();
      }
    })();
  }
}
