// Message history: a window of loaded messages per channel (latest, around a message, older,
// newer), the open channel and thread, the unread divider, jumps to a message, reply parents,
// edits, deletes and read acks. Live events reach the windows through the reducer
// (`connection.svelte.ts`), so loads re-read their window after every await.

import { ApiError, api, beacon, errorText } from '../api';
import { idGt, lowerBound, mergeById } from '../ids';
import type { Message } from '../types';
import { chat } from './chat.svelte';
import { link } from './link';
import { presence } from './presence.svelte';
import { emptyState, emptyWindow, markDeleted, upsertMessage, type MessageWindow } from './reducer';
import { toast } from './toasts.svelte';

export const PAGE = 50;

/** Window generations are unique across windows, so an answer never lands in a newer window. */
let generation = 0;

class TimelineStore {
  views = $state<Record<string, MessageWindow>>({});
  parents = $state<Record<string, Message | null>>({});
  openChannelId = $state<string | null>(null);
  /** The thread open in the side panel (read acks and unread counts treat it like the open channel). */
  openThreadId = $state<string | null>(null);
  /** Unread divider for the open channel: show it after this id (null: none). */
  dividerAfter = $state<string | null>(null);
  /** Channels whose history answered 404: they do not exist, or I may not see them. */
  missing = $state<Record<string, boolean>>({});
  /** Bring this channel's list to its newest message (set when I send). */
  present = $state<{ id: string; n: number } | null>(null);
  /** Message to highlight and scroll to (set by jumpTo). */
  highlight = $state<{ id: string; n: number } | null>(null);

  private ackTimers: Record<string, ReturnType<typeof setTimeout>> = {};
  private parentFetches = new Set<string>();

  /** The channel is shown: the open channel or the thread in the side panel. */
  isOpen(channelId: string): boolean {
    return this.openChannelId === channelId || this.openThreadId === channelId;
  }

  view(id: string): MessageWindow {
    if (!this.views[id]) this.views[id] = { ...emptyWindow(), gen: ++generation };
    return this.views[id];
  }

  /** The window a load started in, if it is still the current one. */
  private current(id: string, gen: number): MessageWindow | null {
    const v = this.views[id];
    return v && v.gen === gen ? v : null;
  }

  /** Inserts or replaces a message in its channel's loaded window (my own edits, reactions, pins). */
  upsertMessage(m: Message, isNew: boolean): void {
    const s = upsertMessage({ ...emptyState(), views: this.views, parents: this.parents }, m, isNew);
    this.views = s.views;
    this.parents = s.parents;
  }

  openChannel(id: string | null): void {
    if (this.openChannelId === id) return;
    this.openChannelId = id;
    this.highlight = null;
    if (!id) {
      this.dividerAfter = null;
      return;
    }
    const c = chat.channel(id);
    this.dividerAfter = c && c.unread_count > 0 ? (c.last_read_id ?? '0') : null;
    const v = this.views[id];
    if (!v || !v.loaded) void this.loadInitialMessages(id);
  }

  /** Sending takes you to the present, where the message will appear. */
  toPresent(id: string): void {
    const v = this.views[id];
    if (v && v.loaded && !v.atLatest) void this.loadLatest(id, true);
    this.present = { id, n: (this.present?.n ?? 0) + 1 };
  }

  /** Loads a channel's first window unless it is loaded (threads in the side panel). */
  ensureLoaded(id: string): void {
    const v = this.views[id];
    if (!v || (!v.loaded && !v.loading)) void this.loadInitialMessages(id);
  }

  async loadInitialMessages(id: string): Promise<void> {
    const c = chat.channel(id);
    if (c && c.unread_count > PAGE - 10 && c.last_read_id) await this.loadAround(id, c.last_read_id);
    else await this.loadLatest(id);
  }

  async loadLatest(id: string, replace = true): Promise<void> {
    const v0 = this.view(id);
    if (replace) v0.gen = ++generation;
    const gen = v0.gen;
    v0.loading = true;
    v0.error = null;
    if (replace) v0.atLatest = true;
    try {
      const list = await api<Message[]>('GET', `/api/channels/${encodeURIComponent(id)}/messages?limit=${PAGE}`);
      const v = this.current(id, gen);
      if (!v) return;
      // Keep live messages that arrived (via the gateway) while the request was in flight.
      const newest = list.length ? list[list.length - 1].id : null;
      const live = v.messages.filter((m) => newest === null || idGt(m.id, newest));
      v.messages = replace ? mergeById([...list], live) : mergeById(v.messages, list);
      v.hasMoreBefore = list.length >= PAGE;
      v.atLatest = true;
      v.loaded = true;
    } catch (e) {
      const v = this.current(id, gen);
      if (v) v.error = errorText(e);
      if (e instanceof ApiError && e.status === 404) this.missing[id] = true;
    } finally {
      const v = this.current(id, gen);
      if (v) v.loading = false;
    }
  }

  async loadAround(id: string, messageId: string): Promise<boolean> {
    const v0 = this.view(id);
    const gen = (v0.gen = ++generation);
    v0.loading = true;
    v0.error = null;
    try {
      const list = await api<Message[]>(
        'GET',
        `/api/channels/${encodeURIComponent(id)}/messages?around=${encodeURIComponent(messageId)}&limit=${PAGE}`,
      );
      const v = this.current(id, gen);
      if (!v) return false;
      const c = chat.channel(id);
      const newest = list.length ? list[list.length - 1].id : null;
      v.messages = list;
      v.hasMoreBefore = true;
      v.atLatest = !c || !c.last_message_id || !idGt(c.last_message_id, newest);
      v.loaded = true;
      return list.some((m) => m.id === messageId);
    } catch (e) {
      const v = this.current(id, gen);
      if (v) v.error = errorText(e);
      if (e instanceof ApiError && e.status === 404) this.missing[id] = true;
      return false;
    } finally {
      const v = this.current(id, gen);
      if (v) v.loading = false;
    }
  }

  async loadOlder(id: string): Promise<number> {
    const v0 = this.view(id);
    if (v0.loadingOlder || v0.loading || !v0.hasMoreBefore || !v0.messages.length) return 0;
    const gen = v0.gen;
    v0.loadingOlder = true;
    try {
      const before = v0.messages[0].id;
      const list = await api<Message[]>(
        'GET',
        `/api/channels/${encodeURIComponent(id)}/messages?before=${encodeURIComponent(before)}&limit=${PAGE}`,
      );
      const v = this.current(id, gen);
      if (!v) return 0;
      v.messages = mergeById([...v.messages], list);
      v.hasMoreBefore = list.length >= PAGE;
      return list.length;
    } catch (e) {
      toast(`Could not load older messages: ${errorText(e)}`);
      return 0;
    } finally {
      const v = this.current(id, gen);
      if (v) v.loadingOlder = false;
    }
  }

  async loadNewer(id: string): Promise<number> {
    const v0 = this.view(id);
    if (v0.loadingNewer || v0.loading || v0.atLatest || !v0.messages.length) return 0;
    const gen = v0.gen;
    v0.loadingNewer = true;
    try {
      const after = v0.messages[v0.messages.length - 1].id;
      const list = await api<Message[]>(
        'GET',
        `/api/channels/${encodeURIComponent(id)}/messages?after=${encodeURIComponent(after)}&limit=${PAGE}`,
      );
      const v = this.current(id, gen);
      if (!v) return 0;
      v.messages = mergeById([...v.messages], list);
      if (list.length < PAGE) v.atLatest = true;
      return list.length;
    } catch (e) {
      toast(`Could not load newer messages: ${errorText(e)}`);
      return 0;
    } finally {
      const v = this.current(id, gen);
      if (v) v.loadingNewer = false;
    }
  }

  /** Makes sure `messageId` is loaded in the open channel and asks the view to scroll to it. */
  async jumpTo(channelId: string, messageId: string): Promise<void> {
    const have = this.view(channelId).messages.some((m) => m.id === messageId);
    if (!have && !(await this.loadAround(channelId, messageId))) {
      toast('That message could not be found.', 'info');
      return;
    }
    this.highlight = { id: messageId, n: (this.highlight?.n ?? 0) + 1 };
  }

  /** The message a reply points at, from the loaded window or a small fetch. */
  parentOf(channelId: string, id: string): Message | null | undefined {
    const v = this.views[channelId];
    if (v) {
      const i = lowerBound(v.messages, id);
      if (i < v.messages.length && v.messages[i].id === id) return v.messages[i];
    }
    if (id in this.parents) return this.parents[id];
    if (!this.parentFetches.has(id)) {
      this.parentFetches.add(id);
      queueMicrotask(() => void this.fetchParent(channelId, id));
    }
    return undefined;
  }

  private async fetchParent(channelId: string, id: string): Promise<void> {
    try {
      const list = await api<Message[]>(
        'GET',
        `/api/channels/${encodeURIComponent(channelId)}/messages?around=${encodeURIComponent(id)}&limit=3`,
      );
      this.parents[id] = list.find((x) => x.id === id) ?? null;
    } catch {
      this.parentFetches.delete(id);
    }
  }

  async editMessage(m: Message, content: string): Promise<boolean> {
    try {
      const updated = await api<Message>('PATCH', `/api/messages/${encodeURIComponent(m.id)}`, { content });
      this.upsertMessage(updated, false);
      return true;
    } catch (e) {
      toast(`Could not edit the message: ${errorText(e)}`);
      return false;
    }
  }

  async deleteMessage(m: Message): Promise<void> {
    try {
      await api('DELETE', `/api/messages/${encodeURIComponent(m.id)}`);
      const s = markDeleted({ ...emptyState(), views: this.views, parents: this.parents }, m.id, m.channel_id);
      this.views = s.views;
      this.parents = s.parents;
    } catch (e) {
      toast(`Could not delete the message: ${errorText(e)}`);
    }
  }

  /** Called by the message list with the newest message the user can see. */
  noteVisible(channelId: string, messageId: string): void {
    const c = chat.channel(channelId);
    if (!c || !presence.focused || !this.isOpen(channelId)) return;
    if (!idGt(messageId, c.last_read_id)) return;
    c.last_read_id = messageId;
    if (!idGt(c.last_message_id, messageId)) {
      c.unread_count = 0;
      c.mention_count = 0;
    }
    if (this.ackTimers[channelId]) clearTimeout(this.ackTimers[channelId]);
    this.ackTimers[channelId] = setTimeout(() => {
      delete this.ackTimers[channelId];
      const id = chat.channel(channelId)?.last_read_id;
      if (!id) return;
      const http = () =>
        void api('POST', `/api/channels/${encodeURIComponent(channelId)}/read`, { message_id: id }).catch(() => {});
      const gw = link.gateway;
      if (gw?.connected) void gw.request('read.ack', { channel_id: channelId, message_id: id }).catch(http);
      else http();
    }, 400);
  }

  /** Sends the read positions still waiting out their debounce at once, by a request that
   * outlives the page: a reload or a closed tab right after reading must not bring the
   * messages back as unread. */
  flushAcks(): void {
    for (const channelId of Object.keys(this.ackTimers)) {
      clearTimeout(this.ackTimers[channelId]);
      delete this.ackTimers[channelId];
      const id = chat.channel(channelId)?.last_read_id;
      if (id) beacon(`/api/channels/${encodeURIComponent(channelId)}/read`, { message_id: id });
    }
  }

  /** After a `ready` that replaced state: keep only the open channel's and thread's windows, re-read them. */
  refreshAfterReady(): void {
    const open = this.openChannelId;
    const ov = open ? this.views[open] : undefined;
    const th = this.openThreadId;
    const tv = th ? this.views[th] : undefined;
    const keep: Record<string, MessageWindow> = {};
    if (open && ov) keep[open] = ov;
    if (th && tv) keep[th] = tv;
    this.views = keep;
    if (open) {
      if (ov?.loaded) void this.loadLatest(open, true);
      else if (!ov?.loading) void this.loadInitialMessages(open);
    }
    if (th && th !== open && tv?.loaded) void this.loadLatest(th, true);
  }

  /** Permissions changed and the open channel is gone: leave it. */
  forget(id: string): void {
    delete this.views[id];
    if (this.openChannelId === id) this.openChannelId = null;
  }

  reset(): void {
    this.views = {};
    this.parents = {};
    this.openChannelId = null;
  }
}

export const timeline = new TimelineStore();

if (typeof window !== 'undefined') {
  window.addEventListener('pagehide', () => timeline.flushAcks());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') timeline.flushAcks();
  });
}
