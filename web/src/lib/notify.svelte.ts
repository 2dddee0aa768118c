// Notifications people expect: the per-channel notification level (stored on the box,
// `PUT /api/channels/:id/notify`), the chime for mentions and DMs with its off switch (per
// device: see README "Notifications"), and the shortcut sheet's open state. What counts and what
// rings is decided by the pure rules of lib/attention.ts.

import { api, errorText } from './api';
import { shouldChime } from './attention';
import { installAudioUnlock, playChime } from './chime';
import { idGt } from './ids';
import { chat } from './state/chat.svelte';
import { link } from './state/link';
import { connection } from './state/connection.svelte';
import { session } from './state/session.svelte';
import { timeline } from './state/timeline.svelte';
import { toast } from './state/toasts.svelte';
import type { ChannelSettings, Message, NotifyLevel } from './types';

const SOUND_KEY = 'spot.sounds';

export const LEVELS: { level: NotifyLevel; label: string; hint: string }[] = [
  { level: 'all', label: 'All messages', hint: 'Every message counts; mentions and direct messages ring.' },
  { level: 'mentions', label: 'Only mentions', hint: 'Only messages that mention you count and ring.' },
  { level: 'nothing', label: 'Nothing', hint: 'No badge, sound or notification.' },
];

function loadSound(): boolean {
  try {
    return localStorage.getItem(SOUND_KEY) !== 'off';
  } catch {
    return true;
  }
}

class NotifyState {
  soundOn = $state(loadSound());
  /** The keyboard shortcut sheet (`?`). */
  sheetOpen = $state(false);
  private lastRingAt = 0;

  constructor() {
    installAudioUnlock();
    connection.onAnyEvent((t, d) => {
      if (t === 'message.create') this.onMessage(d as Message);
    });
  }

  setSound(on: boolean): void {
    this.soundOn = on;
    try {
      localStorage.setItem(SOUND_KEY, on ? 'on' : 'off');
    } catch {
      /* private mode: for this page only */
    }
  }

  /** Sets my level for a channel; the answer (and my other sessions' event) updates the list. */
  async setLevel(channelId: string, level: NotifyLevel): Promise<boolean> {
    try {
      const s = await api<ChannelSettings>('PUT', `/api/channels/${encodeURIComponent(channelId)}/notify`, { level });
      const c = chat.channel(s.channel_id);
      if (c) c.notify = s.notify;
      return true;
    } catch (e) {
      toast(`Could not change the notifications: ${errorText(e)}`);
      return false;
    }
  }

  /**
   * Marks everything in a channel read (Esc): my read position moves to its newest message, here
   * at once and on the box (whose `read_state.update` tells my other sessions). False: nothing to do.
   */
  markRead(channelId: string): boolean {
    const c = chat.channel(channelId);
    const last = c?.last_message_id;
    if (!c || !last || (c.unread_count === 0 && c.mention_count === 0 && !idGt(last, c.last_read_id))) return false;
    c.last_read_id = last;
    c.unread_count = 0;
    c.mention_count = 0;
    const http = () => void api('POST', `/api/channels/${encodeURIComponent(channelId)}/read`, { message_id: last }).catch(() => {});
    const gw = link.gateway;
    if (gw?.connected) void gw.request('read.ack', { channel_id: channelId, message_id: last }).catch(http);
    else http();
    return true;
  }

  private onMessage(m: Message): void {
    const now = Date.now();
    const c = chat.channel(m.channel_id);
    const ring = shouldChime(m, c, {
      meId: session.me?.id,
      open: timeline.isOpen(m.channel_id),
      visible: typeof document !== 'undefined' && document.visibilityState === 'visible',
      soundOn: this.soundOn,
      now,
      lastRingAt: this.lastRingAt,
    });
    if (!ring) return;
    this.lastRingAt = now;
    playChime();
  }
}

export const notify = new NotifyState();
