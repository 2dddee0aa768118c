// What the live region says about messages that arrive in the channel being read (no IO: the
// shell in live.svelte.ts feeds it messages and time and sets the timer it asks for).

import { toPlainText } from './markdown';

export interface Heard {
  author: string;
  text: string;
}

/** The spoken form of one message: its plain text, or what it carries when it has none. */
export function spokenText(content: string, attachments: { content_type: string }[]): string {
  const t = toPlainText(content).replace(/\s+/g, ' ').trim();
  if (t) return t.length > 200 ? t.slice(0, 199) + '…' : t;
  if (!attachments.length) return 'sent a message';
  if (attachments.length > 1) return `sent ${attachments.length} files`;
  return attachments[0].content_type.startsWith('image/') ? 'sent an image' : 'sent a file';
}

function names(list: string[]): string {
  return list.length <= 1 ? (list[0] ?? '') : `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}`;
}

/** Up to three messages are read one by one; more become a count, the authors and the latest. */
export function announcement(batch: Heard[]): string {
  if (!batch.length) return '';
  if (batch.length <= 3) return batch.map((h) => `${h.author}: ${h.text}`).join('\n');
  const authors = [...new Set(batch.map((h) => h.author))];
  const last = batch[batch.length - 1];
  const from = authors.length <= 3 ? ` from ${names(authors)}` : ` from ${authors.length} people`;
  return `${batch.length} new messages${from}. Latest, ${last.author}: ${last.text}`;
}

/**
 * Batches what is heard: a message waits `settleMs` for others arriving with it, and
 * announcements are at least `gapMs` apart, so a busy channel is summed up, not read out in full.
 */
export class Batcher {
  private queue: Heard[] = [];
  private lastSpoke = -Infinity;
  constructor(
    private settleMs = 400,
    private gapMs = 2500,
  ) {}

  /** Queues a message; returns when `flush` should run (the caller keeps one timer). */
  push(h: Heard, now: number): number {
    this.queue.push(h);
    return Math.max(now + this.settleMs, this.lastSpoke + this.gapMs);
  }

  get pending(): number {
    return this.queue.length;
  }

  flush(now: number): string {
    const s = announcement(this.queue);
    this.queue = [];
    if (s) this.lastSpoke = now;
    return s;
  }

  clear(): void {
    this.queue = [];
  }
}
