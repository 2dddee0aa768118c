// The voice rooms' DJs: each room's view (from `GET /api/channels/:id/dj`, then the ephemeral
// `dj.state` whole on every change) with the box's clock offset, and the DJ's replies
// (`dj.reply`) as lines for the room's chat, which are never stored. Commands go out as
// `POST /api/channels/:id/dj {text}`, the same words as typed in the chat; the DJ answers in
// `dj.reply`. Fed by connection.svelte.ts (the composition root).

import { api, errorText } from '../api';
import { addLine, roomFromPayload, type DjLine, type DjReplyPayload, type DjRoom } from '../dj';
import { toast } from './toasts.svelte';

class DjStore {
  rooms = $state<Record<string, DjRoom>>({});
  /** Reply lines per room, oldest first. */
  lines = $state<Record<string, DjLine[]>>({});
  /** Why a room's DJ could not be read (shown in its panel). */
  errors = $state<Record<string, string>>({});
  /** Rooms whose panel is open: read again after the gateway comes back. */
  private watched = new Map<string, number>();
  private seq = 0;
  /** Told each new reply line (the live region reads them out: lib/live.svelte.ts). */
  private lineHooks: ((l: DjLine) => void)[] = [];

  onLine(fn: (l: DjLine) => void): void {
    this.lineHooks.push(fn);
  }

  /** A panel opened: read the room's DJ now and after each reconnect; returns the unwatch. */
  watch(channelId: string): () => void {
    this.watched.set(channelId, (this.watched.get(channelId) ?? 0) + 1);
    void this.load(channelId);
    return () => {
      const n = (this.watched.get(channelId) ?? 1) - 1;
      if (n > 0) this.watched.set(channelId, n);
      else this.watched.delete(channelId);
    };
  }

  async load(channelId: string): Promise<void> {
    try {
      const r = await api<unknown>('GET', `/api/channels/${encodeURIComponent(channelId)}/dj`);
      const got = roomFromPayload(r, Date.now());
      if (got) this.rooms = { ...this.rooms, [got.channelId]: got.room };
      if (this.errors[channelId]) {
        const { [channelId]: _, ...rest } = this.errors;
        this.errors = rest;
      }
    } catch (e) {
      this.errors = { ...this.errors, [channelId]: errorText(e) };
    }
  }

  /** The gateway is (back) up: what was missed while away is mended by reading it again. */
  onReady(): void {
    for (const id of this.watched.keys()) void this.load(id);
  }

  onEphemeral(t: string, d: unknown): void {
    if (t === 'dj.state') {
      const got = roomFromPayload(d, Date.now());
      if (got) this.rooms = { ...this.rooms, [got.channelId]: got.room };
    } else if (t === 'dj.reply') {
      const r = d as DjReplyPayload;
      if (!r || r.channel_id == null || typeof r.text !== 'string') return;
      const id = String(r.channel_id);
      const key = `dj-${++this.seq}`;
      const lines = addLine(this.lines[id] ?? [], r, key);
      this.lines = { ...this.lines, [id]: lines };
      const line = lines.find((l) => l.key === key);
      if (line) for (const h of this.lineHooks) h(line);
    }
  }

  dismiss(channelId: string, key: string): void {
    this.lines = { ...this.lines, [channelId]: (this.lines[channelId] ?? []).filter((l) => l.key !== key) };
  }

  /**
   * Sends a DJ command as the buttons do. The DJ answers in the chat; a refusal of the request
   * itself is shown as a toast in the box's words. Resolves false when it was refused.
   */
  async command(channelId: string, text: string): Promise<boolean> {
    try {
      await api('POST', `/api/channels/${encodeURIComponent(channelId)}/dj`, { text });
      return true;
    } catch (e) {
      toast(`The DJ did not take “${text}”: ${errorText(e)}`);
      return false;
    }
  }

  /** The moderator's room-wide mute of the DJ (`PUT /api/channels/:id/dj/mute`). */
  async setRoomMute(channelId: string, muted: boolean): Promise<void> {
    try {
      await api('PUT', `/api/channels/${encodeURIComponent(channelId)}/dj/mute`, { muted });
    } catch (e) {
      toast(`Could not ${muted ? 'mute' : 'unmute'} the DJ: ${errorText(e)}`);
    }
  }

  reset(): void {
    this.rooms = {};
    this.lines = {};
    this.errors = {};
  }
}

export const dj = new DjStore();
