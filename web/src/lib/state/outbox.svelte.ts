// The messages I am sending: queued while offline, sent in order over the gateway with a nonce,
// re-sent after a reconnect, failed ones kept with a Retry (the queue itself is lib/outbox.ts).

import { DisconnectedError } from '../gateway';
import { Outbox, type PendingMessage } from '../outbox';
import type { Message } from '../types';
import { link } from './link';
import { presence } from './presence.svelte';
import { timeline } from './timeline.svelte';
import { toast } from './toasts.svelte';
import { gatewayErrorText } from './errors';

class OutboxStore {
  pending = $state<PendingMessage[]>([]);
  private outbox = new Outbox({
    send: (item) => {
      const gw = link.gateway;
      if (!gw) return Promise.reject(new DisconnectedError());
      return gw
        .request('message.send', {
          channel_id: item.channel_id,
          content: item.content,
          reply_to: item.reply_to,
          nonce: item.nonce,
        })
        .then((d) => d as Message);
    },
    onAck: (_item, msg) => timeline.upsertMessage(msg, true),
    onChange: (items) => (this.pending = items),
    onFailed: (_item, err) => toast(`Message not sent: ${gatewayErrorText(err)}`),
    onRateLimited: (_item, err) =>
      toast(
        `You're sending too fast: your message goes out in ${Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000))} s.`,
        'info',
      ),
  });

  sendMessage(channelId: string, content: string, replyTo: string | null): void {
    timeline.toPresent(channelId);
    this.outbox.enqueue(channelId, content, replyTo);
    presence.sent(channelId);
  }

  retrySend(nonce: string): void {
    this.outbox.retry(nonce);
  }

  discardSend(nonce: string): void {
    this.outbox.discard(nonce);
  }

  setConnected(on: boolean): void {
    this.outbox.setConnected(on);
  }

  /** My own message came back as an event: its pending copy is done. */
  ackByNonce(nonce: string, m: Message): void {
    this.outbox.ackByNonce(nonce, m);
  }

  reset(): void {
    this.outbox.items = [];
    this.pending = [];
  }
}

export const outbox = new OutboxStore();
