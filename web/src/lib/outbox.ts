// Outgoing message queue. Every message gets a client `nonce`; the server dedups
// by nonce (returning the existing message), so a send can be repeated safely
// after a reconnect. Messages are sent one at a time, in order. While the
// gateway is down they wait ("queued"); a send interrupted by a disconnect goes
// back to the queue; a rejected send becomes "failed" and can be retried.

import type { Message } from './types';
import { GatewayError } from './gateway';
import { newNonce } from './ids';

export type PendingState = 'queued' | 'sending' | 'failed';

export interface PendingMessage {
  nonce: string;
  channel_id: string;
  content: string;
  reply_to: string | null;
  created_at: number;
  state: PendingState;
  error?: string;
}

export interface OutboxDeps {
  send(item: PendingMessage): Promise<Message>;
  /** The server accepted the message. */
  onAck(item: PendingMessage, msg: Message): void;
  /** The list of pending messages changed (for re-rendering). */
  onChange(items: PendingMessage[]): void;
  /** A send failed with a reason worth telling the user. */
  onFailed?(item: PendingMessage, err: unknown): void;
  /** The server asked us to slow down; the send is retried after the wait. */
  onRateLimited?(item: PendingMessage, err: GatewayError): void;
  sleep?(ms: number): Promise<void>;
  maxRateLimitRetries?: number;
}

export class Outbox {
  items: PendingMessage[] = [];
  private connected = false;
  private flushing = false;
  private again = false;
  private deps: OutboxDeps;

  constructor(deps: OutboxDeps) {
    this.deps = deps;
  }

  enqueue(channel_id: string, content: string, reply_to: string | null = null, nonce = newNonce()): PendingMessage {
    const item: PendingMessage = { nonce, channel_id, content, reply_to, created_at: Date.now(), state: 'queued' };
    this.items.push(item);
    this.changed();
    void this.flush();
    return item;
  }

  setConnected(connected: boolean): void {
    this.connected = connected;
    if (connected) void this.flush();
  }

  retry(nonce: string): void {
    const item = this.items.find((i) => i.nonce === nonce);
    if (!item || item.state !== 'failed') return;
    item.state = 'queued';
    item.error = undefined;
    this.changed();
    void this.flush();
  }

  discard(nonce: string): void {
    const n = this.items.length;
    this.items = this.items.filter((i) => i.nonce !== nonce || i.state === 'sending');
    if (this.items.length !== n) this.changed();
  }

  /** A `message.create` carried one of our nonces: the message is delivered. */
  ackByNonce(nonce: string | null | undefined, msg: Message): boolean {
    if (!nonce) return false;
    const item = this.items.find((i) => i.nonce === nonce);
    if (!item) return false;
    this.items = this.items.filter((i) => i !== item);
    this.changed();
    this.deps.onAck(item, msg);
    return true;
  }

  forChannel(channel_id: string): PendingMessage[] {
    return this.items.filter((i) => i.channel_id === channel_id);
  }

  private changed(): void {
    this.deps.onChange([...this.items]);
  }

  async flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = true;
    this.again = false;
    try {
      while (this.connected) {
        const item = this.items.find((i) => i.state === 'queued');
        if (!item) break;
        item.state = 'sending';
        this.changed();
        let rateRetries = 0;
        for (;;) {
          try {
            const msg = await this.deps.send(item);
            if (this.items.includes(item)) {
              this.items = this.items.filter((i) => i !== item);
              this.changed();
              this.deps.onAck(item, msg);
            }
            break;
          } catch (e) {
            const code = e instanceof GatewayError ? e.code : '';
            if (code === 'disconnected' || code === 'timeout') {
              // Try again after the next (re)connect; the nonce makes it safe.
              item.state = 'queued';
              this.changed();
              if (code === 'timeout' && this.connected) {
                await (this.deps.sleep ?? defaultSleep)(1000);
                item.state = 'sending';
                this.changed();
                continue;
              }
              return;
            }
            if (code === 'rate_limited' && rateRetries < (this.deps.maxRateLimitRetries ?? 3)) {
              rateRetries++;
              this.deps.onRateLimited?.(item, e as GatewayError);
              await (this.deps.sleep ?? defaultSleep)(Math.max(200, (e as GatewayError).retryAfterMs ?? 1000));
              if (!this.connected) {
                item.state = 'queued';
                this.changed();
                return;
              }
              continue;
            }
            item.state = 'failed';
            item.error = e instanceof Error ? e.message : 'Could not send.';
            this.changed();
            this.deps.onFailed?.(item, e);
            break;
          }
        }
      }
    } finally {
      this.flushing = false;
    }
    if (this.again && this.connected && this.items.some((i) => i.state === 'queued')) await this.flush();
  }
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
