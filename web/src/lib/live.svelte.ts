// The live region for new messages: a message from someone else arriving in the channel (or the
// thread panel) being read is announced politely, batched when busy; never my own, never while
// the tab is hidden. The DJ's replies in a voice room being read are heard the same way. The text
// is shown by LiveMessages.svelte (visually hidden).

import { Batcher, spokenText } from './announce';
import { chat } from './state/chat.svelte';
import { connection } from './state/connection.svelte';
import { dj } from './state/dj.svelte';
import { session } from './state/session.svelte';
import { timeline } from './state/timeline.svelte';
import type { Message } from './types';

class LiveMessages {
  text = $state('');
  private batcher = new Batcher();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private clearTimer: ReturnType<typeof setTimeout> | null = null;
  private started = false;

  init(): void {
    if (this.started) return;
    this.started = true;
    connection.onAnyEvent((t, d) => {
      if (t === 'message.create') this.heard(d as Message);
    });
    dj.onLine((l) => {
      if (timeline.isOpen(l.channel_id)) this.hear(l.private ? 'DJ, only to you' : 'DJ', spokenText(l.text, []));
    });
  }

  private heard(m: Message): void {
    if (m.author_id === session.me?.id || !timeline.isOpen(m.channel_id)) return;
    this.hear(chat.displayName(m.author_id), spokenText(m.content, m.attachments));
  }

  private hear(author: string, text: string): void {
    if (typeof document !== 'undefined' && document.visibilityState === 'hidden') return;
    const at = this.batcher.push({ author, text }, Date.now());
    if (!this.timer) this.timer = setTimeout(() => this.flush(), Math.max(0, at - Date.now()));
  }

  private flush(): void {
    this.timer = null;
    // Hidden since it was heard, or the channel changed: say nothing stale.
    if (document.visibilityState === 'hidden') return this.batcher.clear();
    const s = this.batcher.flush(Date.now());
    if (!s) return;
    // The same words again are only read if the region changes: empty it first.
    if (s === this.text) {
      this.text = '';
      setTimeout(() => (this.text = s), 100);
    } else this.text = s;
    if (this.clearTimer) clearTimeout(this.clearTimer);
    this.clearTimer = setTimeout(() => (this.text = ''), 15_000);
  }
}

export const live = new LiveMessages();
