// The live connection to the WebSocket API (protocol v1, docs/websocket-protocol.md).
//
// It connects with the current access token, keeps the connection alive with pings
// (API Gateway closes idle connections after 10 minutes and every connection after
// 2 hours), notices a dead connection when a ping goes unanswered, and reconnects by
// itself with exponential backoff after any close. The token is fetched fresh for
// every attempt (refreshed when about to expire); when a handshake is refused the
// next attempt forces a refresh, since an expired or revoked token is the usual cause.
// After a reconnect `onResync` tells the owner to reload what it may have missed.

import { SessionExpired } from '../api/session';
import type { ServerMessage } from '../api/types';
import { backoffDelay, type BackoffOptions } from './backoff';

export type LiveStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What the client needs of a WebSocket (the browser's, or a fake in tests). */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface LiveSocketOptions {
  /** The WebSocket API's URL (config.json `wsUrl`). */
  url: string;
  /** An access token; `force` asks for a refreshed one. */
  token: (force: boolean) => Promise<string>;
  onMessage: (message: ServerMessage) => void;
  onStatus?: (status: LiveStatus) => void;
  /** After a reconnect (not the first connect): events may have been missed. */
  onResync?: () => void;
  /** The session ended: no more attempts. */
  onSessionExpired?: () => void;
  createSocket?: (url: string) => SocketLike;
  timers?: Timers;
  backoff?: BackoffOptions;
  /** How often to ping an otherwise quiet connection (default 4 min). */
  pingIntervalMs?: number;
  /** How long to wait for any message after a ping before the connection counts as dead (default 20 s). */
  pongTimeoutMs?: number;
}

const defaultTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class LiveSocket {
  private socket: SocketLike | null = null;
  private stopped = true;
  private attempt = 0;
  private everOpened = false;
  private forceRefresh = false;
  private forcedThisOutage = false;
  private reconnectTimer: unknown = null;
  private pingTimer: unknown = null;
  private pongTimer: unknown = null;
  private statusValue: LiveStatus = 'closed';
  private readonly timers: Timers;
  private readonly pingInterval: number;
  private readonly pongTimeout: number;

  constructor(private readonly options: LiveSocketOptions) {
    this.timers = options.timers ?? defaultTimers;
    this.pingInterval = options.pingIntervalMs ?? 240_000;
    this.pongTimeout = options.pongTimeoutMs ?? 20_000;
  }

  get status(): LiveStatus {
    return this.statusValue;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      detach(socket);
      socket.close(1000, 'bye');
    }
    this.setStatus('closed');
  }

  /** Try again now (e.g. the browser is back online), unless connected. */
  reconnectNow(): void {
    if (this.stopped || this.statusValue === 'open' || this.statusValue === 'connecting') return;
    this.clear('reconnectTimer');
    void this.connect();
  }

  /** Sends a protocol message when connected; returns whether it was sent. */
  send(message: Record<string, unknown>): boolean {
    if (!this.socket || this.statusValue !== 'open') return false;
    this.socket.send(JSON.stringify({ v: 1, ...message }));
    return true;
  }

  private async connect(): Promise<void> {
    this.setStatus('connecting');
    let token: string;
    try {
      token = await this.options.token(this.forceRefresh);
    } catch (error) {
      if (this.stopped) return;
      if (error instanceof SessionExpired) {
        this.stopped = true;
        this.setStatus('closed');
        this.options.onSessionExpired?.();
        return;
      }
      this.scheduleReconnect();
      return;
    }
    this.forceRefresh = false;
    if (this.stopped) return;
    const separator = this.options.url.includes('?') ? '&' : '?';
    const url = `${this.options.url}${separator}token=${encodeURIComponent(token)}`;
    let socket: SocketLike;
    try {
      socket = (this.options.createSocket ?? browserSocket)(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      opened = true;
      this.attempt = 0;
      this.forcedThisOutage = false;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.setStatus('open');
      this.schedulePing();
      if (reconnected) this.options.onResync?.();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.clear('pongTimer');
      this.schedulePing();
      const message = parse(event.data);
      if (message && message.type !== 'pong') this.options.onMessage(message);
    };
    socket.onerror = () => {
      // a close follows every error
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.clear('pingTimer');
      this.clear('pongTimer');
      if (this.stopped) return;
      if (!opened && !this.forcedThisOutage) {
        // refused handshake: most likely the token; get a new one once per outage
        this.forceRefresh = true;
        this.forcedThisOutage = true;
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.setStatus('reconnecting');
    const delay = backoffDelay(this.attempt, this.options.backoff);
    this.attempt += 1;
    this.clear('reconnectTimer');
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }

  private schedulePing(): void {
    this.clear('pingTimer');
    this.pingTimer = this.timers.setTimeout(() => {
      this.pingTimer = null;
      if (!this.send({ action: 'ping' })) return;
      this.clear('pongTimer');
      this.pongTimer = this.timers.setTimeout(() => {
        this.pongTimer = null;
        // no answer: the connection is dead even if the browser has not noticed
        const socket = this.socket;
        if (socket) {
          socket.close(4000, 'no pong');
          socket.onclose?.({ code: 4000, reason: 'no pong' });
        }
      }, this.pongTimeout);
    }, this.pingInterval);
  }

  private clear(name: 'reconnectTimer' | 'pingTimer' | 'pongTimer'): void {
    if (this[name] !== null) {
      this.timers.clearTimeout(this[name]);
      this[name] = null;
    }
  }

  private clearTimers(): void {
    this.clear('reconnectTimer');
    this.clear('pingTimer');
    this.clear('pongTimer');
  }

  private setStatus(status: LiveStatus): void {
    if (status === this.statusValue) return;
    this.statusValue = status;
    this.options.onStatus?.(status);
  }
}

function parse(data: unknown): ServerMessage | null {
  if (typeof data !== 'string') return null;
  try {
    const value = JSON.parse(data) as ServerMessage;
    return value && typeof value === 'object' && typeof value.type === 'string' ? value : null;
  } catch {
    return null;
  }
}

function detach(socket: SocketLike): void {
  socket.onopen = null;
  socket.onclose = null;
  socket.onmessage = null;
  socket.onerror = null;
}

function browserSocket(url: string): SocketLike {
  return new WebSocket(url) as unknown as SocketLike;
}
