// Realtime gateway client (README "Realtime gateway").
//
// One WebSocket to /api/gateway. On `hello` it starts heartbeats and sends
// `resume` with the last durable sequence number it applied (null on a fresh
// page load, which makes the server answer `ready` with a snapshot). Durable
// events are applied in order and duplicates (s <= last) are dropped. When the
// socket closes it reconnects with exponential backoff plus jitter and resumes
// from the last sequence number, so nothing is lost or applied twice. Close
// code 4001 (session ended) stops it for good; 4002 (permissions changed)
// reconnects at once with `seq: null` for a fresh snapshot.
//
// The class has no framework dependencies; the socket factory, clock and
// randomness are injectable so the logic is unit-tested with a fake socket.

import type { Snapshot } from './types';

export type GatewayStatus = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface ReadyPayload {
  seq: number;
  resumed: boolean;
  snapshot: Snapshot | null;
  /** Occupied voice rooms (README "Voice rooms"). */
  voice?: unknown;
}

export interface GatewayErrorPayload {
  code: string;
  message?: string;
  retry_after_ms?: number;
}

export class GatewayError extends Error {
  constructor(
    public code: string,
    message: string,
    public retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

/** Raised for requests that were in flight (or attempted) while the socket was down. */
export class DisconnectedError extends GatewayError {
  constructor() {
    super('disconnected', 'Not connected to the Spot box.');
  }
}

export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface GatewayHandlers {
  /** After every `ready`. `resumed: false` means state must be replaced (from `snapshot` or HTTP). */
  onReady?(d: ReadyPayload): void;
  /** A durable event, called exactly once per sequence number, in order. */
  onEvent?(t: string, d: unknown, s: number): void;
  onEphemeral?(t: string, d: unknown): void;
  onStatus?(status: GatewayStatus): void;
  /** An `error` frame that does not belong to a pending request. */
  onError?(err: GatewayError): void;
  /** Close code 4001: the session ended; the caller should go to the login page. */
  onSessionEnded?(): void;
}

export interface GatewayOptions {
  url: string;
  createSocket?: (url: string) => SocketLike;
  random?: () => number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  requestTimeoutMs?: number;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;

export function gatewayUrl(loc: { protocol: string; host: string } = location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/api/gateway`;
}

/** Backoff with "equal jitter": half fixed, half random, capped. attempt starts at 0. */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  const exp = Math.min(max, base * 2 ** Math.min(attempt, 16));
  return Math.round(exp / 2 + random() * (exp / 2));
}

export class Gateway {
  /** Last durable sequence number applied; null until the first `ready`. */
  lastSeq: number | null = null;
  status: GatewayStatus = 'closed';

  private ws: SocketLike | null = null;
  private handlers: GatewayHandlers;
  private opts: Required<GatewayOptions>;
  private attempt = 0;
  private everReady = false;
  private ready = false;
  private stopped = true;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private awaitingAck = false;
  private nextId = 1;
  private pending = new Map<string, Pending>();

  constructor(opts: GatewayOptions, handlers: GatewayHandlers = {}) {
    this.handlers = handlers;
    this.opts = {
      createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
      random: Math.random,
      baseDelayMs: 500,
      maxDelayMs: 8000,
      requestTimeoutMs: 15000,
      ...opts,
    };
  }

  get connected(): boolean {
    return this.ready && this.ws?.readyState === OPEN;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.setStatus('connecting');
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try {
        ws.close(1000, 'bye');
      } catch {
        /* ignore */
      }
    }
    this.failPending();
    this.setStatus('closed');
  }

  /** Reconnect now (e.g. the browser came back online) instead of waiting for the backoff. */
  /** The browser says the network is gone: stop trusting the socket now (a heartbeat would take
   * up to two intervals to notice), so the page shows it and sends wait. */
  lost(): void {
    if (this.stopped || !this.ws) return;
    this.ws.close(4000, 'offline');
    this.onClose(4000);
  }

  reconnectNow(): void {
    if (this.stopped || this.ws) return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.open();
  }

  /** Sends an action; resolves with the reply's `d`, rejects with GatewayError. */
  request<T = unknown>(t: string, d: unknown): Promise<T> {
    if (!this.connected) return Promise.reject(new DisconnectedError());
    const id = 'c' + this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new GatewayError('timeout', 'The Spot box did not answer in time.'));
      }, this.opts.requestTimeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.send({ op: 'request', id, t, d });
    });
  }

  // ------------------------------------------------------------------ internals

  private setStatus(s: GatewayStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.handlers.onStatus?.(s);
  }

  private send(frame: unknown): void {
    if (this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify(frame));
  }

  private open(): void {
    this.reconnectTimer = null;
    let ws: SocketLike;
    try {
      ws = this.opts.createSocket(this.opts.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.ready = false;
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.onFrame(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.onClose(ev.code);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  private onFrame(raw: unknown): void {
    let f: { op?: string; d?: unknown; s?: number; t?: string; id?: string };
    try {
      f = JSON.parse(String(raw));
    } catch {
      return;
    }
    switch (f.op) {
      case 'hello': {
        const d = (f.d ?? {}) as { heartbeat_ms?: number };
        this.startHeartbeat(Math.max(1000, d.heartbeat_ms ?? 20000));
        this.send({ op: 'resume', d: { seq: this.lastSeq } });
        break;
      }
      case 'ready': {
        const d = f.d as ReadyPayload;
        if (!d.resumed || this.lastSeq === null) {
          // Fresh state: everything up to d.seq is in the snapshot (or must be re-read).
          this.lastSeq = d.seq;
        } else if (typeof d.seq === 'number' && d.seq < this.lastSeq) {
          // The server's sequence went backwards (e.g. restored from backup): start over.
          this.lastSeq = d.seq;
          d.resumed = false;
          d.snapshot = null;
        }
        // On a real resume, lastSeq is advanced by the replayed events themselves.
        this.ready = true;
        this.everReady = true;
        this.attempt = 0;
        this.setStatus('connected');
        this.handlers.onReady?.(d);
        break;
      }
      case 'event': {
        const s = f.s;
        if (typeof s !== 'number') return;
        if (this.lastSeq !== null && s <= this.lastSeq) return; // duplicate
        this.lastSeq = s;
        try {
          this.handlers.onEvent?.(f.t ?? '', f.d, s);
        } catch (e) {
          console.error('gateway event handler failed', e);
        }
        break;
      }
      case 'ephemeral':
        this.handlers.onEphemeral?.(f.t ?? '', f.d);
        break;
      case 'heartbeat':
        this.send({ op: 'heartbeat_ack' });
        break;
      case 'heartbeat_ack':
        this.awaitingAck = false;
        break;
      case 'reply': {
        const p = f.id ? this.pending.get(f.id) : undefined;
        if (p && f.id) {
          this.pending.delete(f.id);
          clearTimeout(p.timer);
          p.resolve(f.d);
        }
        break;
      }
      case 'error': {
        const d = (f.d ?? {}) as GatewayErrorPayload;
        const err = new GatewayError(d.code ?? 'error', d.message || d.code || 'Error', d.retry_after_ms);
        const p = f.id ? this.pending.get(f.id) : undefined;
        if (p && f.id) {
          this.pending.delete(f.id);
          clearTimeout(p.timer);
          p.reject(err);
        } else {
          this.handlers.onError?.(err);
        }
        break;
      }
    }
  }

  private startHeartbeat(ms: number): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.awaitingAck = false;
    this.heartbeatTimer = setInterval(() => {
      if (this.awaitingAck) {
        // No ack for a whole interval: the connection is dead even if TCP has not noticed.
        this.ws?.close(4000, 'heartbeat timeout');
        this.onClose(4000);
        return;
      }
      this.awaitingAck = true;
      this.send({ op: 'heartbeat' });
    }, ms);
  }

  private onClose(code: number): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
    this.ready = false;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.failPending();
    if (this.stopped) return;
    if (code === 4001) {
      this.stopped = true;
      this.setStatus('closed');
      this.handlers.onSessionEnded?.();
      return;
    }
    if (code === 4002) {
      // Permissions changed: what this client may see changed, so replaying the log is not
      // enough. Resume with `seq: null` for a fresh snapshot (README "Realtime gateway").
      this.lastSeq = null;
    }
    this.setStatus(this.everReady ? 'reconnecting' : 'connecting');
    // 4008: resume at once. 4002 closes every affected socket together: spread them a little.
    this.scheduleReconnect(code === 4008 ? 0 : code === 4002 ? Math.round(this.opts.random() * 250) : undefined);
  }

  private scheduleReconnect(delay?: number): void {
    if (this.stopped || this.reconnectTimer) return;
    const ms = delay ?? backoffDelay(this.attempt, this.opts.baseDelayMs, this.opts.maxDelayMs, this.opts.random);
    this.attempt++;
    this.reconnectTimer = setTimeout(() => this.open(), ms);
  }

  private failPending(): void {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new DisconnectedError());
    }
    this.pending.clear();
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.reconnectTimer = null;
    this.heartbeatTimer = null;
  }
}
