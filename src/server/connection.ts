/**
 * One client connection: frames requests, queues them, and has the RequestRunner handle them one at a time
 * (as Kafka mutes a channel while a request is in flight, so responses leave strictly in request order).
 *
 * What may fail is owned by RequestRunner, which never throws or rejects; this class only moves bytes and
 * applies back-pressure and limits:
 * - a client that does not read its responses: once the socket's write buffer is full, no further request
 *   is handled and nothing more is read until it drains (one response at most waits in memory);
 * - a client that pipelines: reading stops while the connection has queued.max.requests' broker-wide budget
 *   spent or its own byte allowance (ConnectionLimits.queuedMaxBytesPerConnection) waiting;
 * - idleness: `idleSince()` tells the SocketServer's sweep how long the connection has had no complete
 *   request, no response written and no request in a handler (connections.max.idle.ms).
 */
import type { Socket } from 'node:net';
import { FrameDecoder, requestFramePool } from './frame-decoder.js';
import type { ConnectionAuthenticator, AuthStep } from './authenticator.js';
import { ANONYMOUS, type KafkaPrincipal } from '../security/principal.js';
import type { RequestRunner } from './request-runner.js';
import { normaliseIp, type RequestQueueBudget } from './connection-quotas.js';
import type { Logger } from './logger.js';
import { fetchReadPool } from '../log/read-buffer-pool.js';

const PRODUCE_API_KEY = 0;

export interface ConnectionOptions {
  maxRequestBytes: number;
  runner: RequestRunner;
  logger: Logger;
  /** queued.max.requests, shared by every connection of the broker. */
  requestBudget: RequestQueueBudget;
  /** Reading pauses while this many bytes of complete requests wait. */
  maxQueuedBytes: number;
  /**
   * Resolves once the broker knows the cluster state (its first reconciliation). Requests that
   * arrive earlier wait for it: a client reconnecting right after a restart must not be told
   * that its topics do not exist.
   */
  ready?: Promise<void>;
  /**
   * The socket reads into a buffer shared by every connection (src/server/shared-read-buffer.ts): it emits no
   * 'data', and the listener hands each read to onBorrowedData, which copies it out before returning.
   */
  borrowedReads?: boolean;
  /** SASL listeners: frames go to it until the client has authenticated (and for re-authentications). */
  authenticator?: ConnectionAuthenticator;
  now?: () => number;
}

export class Connection {
  private readonly decoder: FrameDecoder;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  /** The client does not read its responses: nothing more is handled or read until 'drain'. */
  private writeBlocked = false;
  private drained: (() => void) | null = null;
  private processing = false;
  /** A handler is running for this connection (never idle then, however long it takes). */
  private inHandler = false;
  private paused = false;
  private waitingForBudget = false;
  private closed = false;
  /** Authentication failed: nothing more is read or handled; the connection closes after the failure delay. */
  private failing = false;
  private lastActivity: number;
  /** Set while muted (a client over its quota, KIP-219): nothing is read or handled until it fires. */
  private throttleTimer: NodeJS.Timeout | null = null;
  /** Who the client is when no authenticator says otherwise: the TLS client certificate's principal, or ANONYMOUS. */
  transportPrincipal: KafkaPrincipal = ANONYMOUS;
  private readonly now: () => number;
  readonly clientHost: string;
  /** The client's IP address, as ACL hosts name it. */
  readonly clientAddress: string;

  constructor(
    readonly socket: Socket,
    private readonly opts: ConnectionOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.lastActivity = this.now();
    this.decoder = new FrameDecoder(opts.maxRequestBytes);
    this.applyFrameLimit();
    this.clientHost = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
    this.clientAddress = normaliseIp(socket.remoteAddress);
    socket.setNoDelay(true);
    if (!opts.borrowedReads) socket.on('data', (chunk: Buffer) => this.onData(chunk, false));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      opts.logger.debug(`connection from ${this.clientHost}: ${err.code ?? err.message}`);
      this.close();
    });
    socket.on('close', () => this.onClosed());
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.lastActivity = this.now();
      this.wakeWriter();
      this.updateReading();
    });
  }

  /**
   * Since when this connection has been idle, or null while it is busy: a handler runs, or requests wait
   * their turn (e.g. for the broker's first reconciliation). A client that does not read its responses is
   * idle even with requests waiting, as Kafka, which sees no socket activity, would close it too.
   */
  idleSince(): number | null {
    if (this.inHandler || (this.queue.length > 0 && !this.writeBlocked)) return null;
    return this.lastActivity;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Before SASL authentication only small frames are read (sasl.server.max.receive.size), as in Kafka. */
  private applyFrameLimit(): void {
    const limit = this.opts.authenticator?.maxReceiveBytes ?? null;
    if (limit === null) this.decoder.setLimit(this.opts.maxRequestBytes, 'socket.request.max.bytes');
    else this.decoder.setLimit(limit, 'sasl.server.max.receive.size');
  }

  /** The principal requests of this connection are authorized as. */
  get principal(): KafkaPrincipal {
    return this.opts.authenticator?.principal ?? this.transportPrincipal;
  }

  close(reason?: string): void {
    if (this.closed) return;
    if (reason) this.opts.logger.debug(`closing connection from ${this.clientHost}: ${reason}`);
    this.onClosed();
    this.socket.destroy();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.throttleTimer !== null) clearTimeout(this.throttleTimer);
    this.throttleTimer = null;
    this.opts.requestBudget.remove(this.queue.length);
    this.queue.length = 0;
    this.queuedBytes = 0;
    if (this.waitingForBudget) this.opts.requestBudget.cancel(this.onBudgetRoom);
    this.waitingForBudget = false;
    this.wakeWriter();
  }

  /** One socket read into the shared read buffer: valid only during this call (its bytes are copied out). */
  onBorrowedData(chunk: Buffer): void {
    this.onData(chunk, true);
  }

  private onData(chunk: Buffer, borrowed: boolean): void {
    if (this.closed || this.failing) return;
    let frames: Buffer[];
    try {
      frames = borrowed ? this.decoder.pushBorrowed(chunk) : this.decoder.push(chunk);
    } catch (err) {
      this.opts.logger.warn(`closing connection from ${this.clientHost}: ${(err as Error).message}`);
      this.close();
      return;
    }
    if (frames.length > 0) {
      this.lastActivity = this.now();
      for (const f of frames) {
        this.queue.push(f);
        this.queuedBytes += f.length;
      }
      this.opts.requestBudget.add(frames.length);
    }
    this.updateReading();
    if (!this.processing && this.queue.length > 0 && this.throttleTimer === null) {
      // processQueue never rejects (RequestRunner owns request failures); the catch is a last resort.
      this.processQueue().catch((err: unknown) => {
        this.opts.logger.error(`closing connection from ${this.clientHost} after an unexpected failure: ${(err as Error)?.stack ?? err}`);
        this.close();
      });
    }
  }

  /** Whether to read more now; when not, the socket is paused and resumed once the reason is gone. */
  private updateReading(): void {
    if (this.closed) return;
    let read = !this.writeBlocked && !this.failing && this.throttleTimer === null;
    // A connection with nothing waiting may always read its next request.
    if (read && this.queue.length > 0) {
      if (this.queuedBytes >= this.opts.maxQueuedBytes) read = false;
      else if (this.opts.requestBudget.full) {
        read = false;
        if (!this.waitingForBudget) {
          this.waitingForBudget = true;
          this.opts.requestBudget.waitForRoom(this.onBudgetRoom);
        }
      }
    }
    if (read && this.paused) {
      this.paused = false;
      this.socket.resume();
    } else if (!read && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private readonly onBudgetRoom = (): void => {
    this.waitingForBudget = false;
    this.updateReading();
  };

  private wakeWriter(): void {
    const d = this.drained;
    this.drained = null;
    d?.();
  }

  /**
   * Writes a response; one in several buffers (records referenced, not copied) goes out corked, as one writev.
   * Returns false when the socket's buffer is full (wait for 'drain').
   */
  private write(response: Buffer | readonly Buffer[]): boolean {
    if (Buffer.isBuffer(response)) return this.socket.write(response);
    const socket = this.socket;
    socket.cork();
    let room = true;
    const last = response.length - 1;
    if (last < 0) return true;
    for (let i = 0; i < last; i++) room = socket.write(response[i]!) && room;
    // Writes complete in order, so when the last chunk's write is done every chunk is: the Fetch read buffers
    // among them go back to their pool (read-buffer-pool.ts). After a failed write they are left to the GC: the
    // pool never sees a buffer again unless the socket is finished with it.
    room = socket.write(response[last]!, (err) => {
      if (err) return;
      for (const chunk of response) fetchReadPool.release(chunk);
    }) && room;
    socket.uncork();
    return room; // false only if a write said so, and then 'drain' follows
  }

  /**
   * A failed authentication, as Kafka's Selector handles it: logged, nothing more read or handled, and after
   * `delayMs` the failure response (if the exchange has one) is written and the connection closed.
   */
  private failAuthentication(response: Buffer | null, reason: string, delayMs: number): void {
    this.opts.logger.info(`Failed authentication with ${this.clientHost} (${reason})`);
    this.failing = true;
    this.opts.requestBudget.remove(this.queue.length);
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.updateReading();
    const finish = (): void => {
      if (this.closed) return;
      if (response === null) {
        this.close();
        return;
      }
      // end() flushes the response before the FIN; a client that never reads it is cut off by the timer
      this.socket.end(response);
      setTimeout(() => this.close(), 5000).unref();
    };
    if (delayMs > 0) setTimeout(finish, delayMs).unref();
    else finish();
  }

  /** Stops reading and handling for `ms`, then goes on with what is queued. */
  private mute(ms: number): void {
    if (this.throttleTimer !== null) clearTimeout(this.throttleTimer);
    this.throttleTimer = setTimeout(() => {
      this.throttleTimer = null;
      if (this.closed) return;
      this.updateReading();
      if (!this.processing && this.queue.length > 0) {
        this.processQueue().catch((err: unknown) => {
          this.opts.logger.error(`closing connection from ${this.clientHost} after an unexpected failure: ${(err as Error)?.stack ?? err}`);
          this.close();
        });
      }
    }, ms);
    this.throttleTimer.unref();
    this.updateReading();
  }

  private async processQueue(): Promise<void> {
    this.processing = true;
    try {
      if (this.opts.ready) await this.opts.ready;
      while (!this.closed) {
        if (this.writeBlocked) {
          await new Promise<void>((resolve) => (this.drained = resolve));
          continue;
        }
        const frame = this.queue.shift();
        if (frame === undefined) break;
        this.queuedBytes -= frame.length;
        this.opts.requestBudget.remove(1);
        this.updateReading();
        const auth = this.opts.authenticator;
        if (auth !== undefined) {
          if (auth.wants(frame)) {
            this.inHandler = true;
            let step: AuthStep;
            try {
              const s = auth.handle(frame);
              step = s instanceof Promise ? await s : s;
            } finally {
              this.inHandler = false;
            }
            this.lastActivity = this.now();
            this.applyFrameLimit();
            if (this.closed) break;
            if (step.failure) {
              this.failAuthentication(step.response, step.failure.reason, step.failure.delayMs);
              break;
            }
            if (!step.passThrough) {
              if (step.response && !this.write(step.response)) {
                this.writeBlocked = true;
                this.updateReading();
              }
              continue;
            }
          } else if (auth.expired(this.now())) {
            // KIP-368: the session ended and the client did not re-authenticate
            this.close('the SASL session expired (connections.max.reauth.ms) without a re-authentication');
            break;
          }
        }
        this.inHandler = true;
        let outcome;
        try {
          const result = this.opts.runner.run(frame, this);
          outcome = result instanceof Promise ? await result : result;
        } finally {
          this.inHandler = false;
        }
        this.lastActivity = this.now();
        // A Produce request is done with its frame once handled: the records are in the log (written
        // synchronously) and the response, encoded into a buffer of its own, references none of it.
        if (frame.length >= 2 && frame.readInt16BE(0) === PRODUCE_API_KEY) requestFramePool.release(frame);
        if (this.closed) break;
        if (outcome.close) {
          this.close();
          break;
        }
        if (outcome.response && !this.write(outcome.response)) {
          this.writeBlocked = true;
          this.updateReading();
        }
        if (outcome.throttleMs !== undefined && outcome.throttleMs > 0) {
          // KIP-219: the response went out at once; the channel stays muted for the throttle time
          this.mute(outcome.throttleMs);
          break;
        }
      }
    } finally {
      this.processing = false;
    }
  }
}
