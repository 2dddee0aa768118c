// Message-level rich chat state and actions (README "Rich chat API"): the side panel
// (thread / pins / thread list), threads, reactions, pins, the emoji picker, the image viewer
// and browser notifications for mentions and DMs. The channel/user state lives in lib/state/;
// this file listens to its durable events through `connection.onAnyEvent`.

import { api, errorText } from './api';
import { router } from './router.svelte';
import { chat } from './state/chat.svelte';
import { connection } from './state/connection.svelte';
import { presence } from './state/presence.svelte';
import { session } from './state/session.svelte';
import { timeline } from './state/timeline.svelte';
import { toast } from './state/toasts.svelte';
import { toPlainText, type RenderOptions } from './markdown';
import type { ApiChannel, Attachment, Channel, CustomEmoji, EventPayloads, Limits, Message, Perm, RoleDef } from './types';
import { knowsPermissions, upsertChannel } from './state/reducer';
import { toggledReactions } from './reactions';
import { isPing } from './attention';

export { toggledReactions, reactorsText, repliesText, agoText } from './reactions';

export type Panel = { kind: 'thread'; id: string } | { kind: 'pins' } | { kind: 'threads' } | null;

export interface ListState<T> {
  loading: boolean;
  error: string | null;
  items: T[];
}

export interface PickerRequest {
  /** The element that opened it (focus returns there). */
  anchor: HTMLElement;
  onPick: (emoji: string) => void;
  title: string;
}

/**
 * A thread as the side panel knows it: the box's channel, with the reply count and last activity
 * that its parent message's thread summary reports (`message.update`).
 */
export type Thread = Channel & { reply_count?: number; last_message_at?: number | null };

const RECENT_KEY = 'spot.recentEmoji';
const NOTIFY_KEY = 'spot.notifications';

class RichState {
  /** The side panel of the open channel. */
  panel = $state<Panel>(null);
  /** Thread channels I know (from creating, listing or following them). */
  threads = $state<Record<string, Thread>>({});
  pins = $state<Record<string, ListState<Message>>>({});
  threadLists = $state<Record<string, ListState<Thread>>>({});
  picker = $state<PickerRequest | null>(null);
  viewer = $state<{ attachment: Attachment; returnTo: HTMLElement | null } | null>(null);
  recentEmoji = $state<string[]>(loadRecent());
  /** The "turn on notifications?" bar, with what just happened (after the first mention or direct
   * message while permission is undecided); false: hidden. */
  notifyAsk = $state<string | false>(false);
  notifyEnabled = $state(loadNotify());
  private loaded = false;
  /** The box's upload limit when it tells (limits.upload_max_bytes of GET /api/me). */
  uploadMaxBytes = $state<number | null>(null);

  constructor() {
    connection.onAnyEvent((t, d) => this.onEvent(t, d));
  }

  // ------------------------------------------------------------ shared data

  /** Custom emoji and roles live in the shared store (snapshot, HTTP and events). */
  get emoji(): CustomEmoji[] {
    return chat.emoji;
  }

  get roles(): RoleDef[] {
    return chat.roles;
  }

  /** Mentions and custom emoji for the Markdown renderer (one index for every message). */
  renderOpts: RenderOptions = $derived.by(() => {
    const byName = new Map<string, { label: string; self: boolean }>();
    const me = session.me?.id;
    for (const u of Object.values(chat.users)) {
      byName.set(u.username.toLowerCase(), { label: u.display_name || u.username, self: u.id === me });
    }
    const emoji = new Map<string, string>();
    for (const e of this.emoji) emoji.set(e.name.toLowerCase(), e.url);
    return {
      mention: (n: string) => byName.get(n) ?? null,
      emoji: (n: string) => emoji.get(n) ?? null,
    };
  });

  emojiUrl(name: string): string | null {
    const n = name.toLowerCase();
    const e = this.emoji.find((x) => x.name.toLowerCase() === n);
    return e ? e.url : null;
  }

  /** Reads the box's upload limit once per session. */
  init(): void {
    if (this.loaded || session.phase !== 'ready') return;
    this.loaded = true;
    void api<{ limits: Limits }>('GET', '/api/me')
      .then((s) => {
        const n = s.limits.upload_max_bytes;
        if (n > 0) this.uploadMaxBytes = n;
      })
      .catch(() => {});
  }

  /**
   * Whether the UI offers an action needing `perm` in a channel. The box computes my permissions
   * in each channel it lists (`chat::perms::effective`: roles, overrides, archived, timed out)
   * and has the last word; refusals are shown as errors. A thread it has not listed to me has
   * its parent channel's (threads take their parent's overrides).
   */
  canIn(channelId: string, perm: Perm): boolean {
    if (!session.me) return false;
    const ch = this.thread(channelId);
    if (knowsPermissions(ch)) return ch!.permissions.includes(perm);
    const parent = ch?.parent_id ? chat.channel(ch.parent_id) : undefined;
    return !!parent?.permissions.includes(perm);
  }

  canPin(channelId: string): boolean {
    return this.canIn(channelId, 'pin');
  }

  /** A thread's channel (from the channel list or what I learnt about it). */
  thread(id: string): Thread | undefined {
    return chat.channels.find((c) => c.id === id) ?? this.threads[id];
  }

  // ------------------------------------------------------------ panel

  openPanel(p: Panel): void {
    if (this.panel?.kind === 'thread' && (p?.kind !== 'thread' || p.id !== this.panel.id)) timeline.openThreadId = null;
    this.panel = p;
    if (p?.kind === 'thread') {
      timeline.openThreadId = p.id;
      timeline.ensureLoaded(p.id);
    } else if (p?.kind === 'pins') {
      const ch = timeline.openChannelId;
      if (ch) void this.loadPins(ch);
    } else if (p?.kind === 'threads') {
      const ch = timeline.openChannelId;
      if (ch) void this.loadThreads(ch);
    }
  }

  closePanel(): void {
    this.openPanel(null);
  }

  // ------------------------------------------------------------ threads

  /** A thread as the box sent it (a listing with my counts, or the bare channel of a new one). */
  private rememberThread(c: Partial<Thread> & ApiChannel): Thread {
    const known = this.threads[c.id];
    this.threads[c.id] = known ? { ...known, ...c } : upsertChannel([], c)[0];
    return this.threads[c.id];
  }

  /** Opens the thread of `m` (its summary is on the message), or starts one. */
  openThreadOf(m: Message): void {
    if (!m.thread?.id) {
      void this.startThread(m);
      return;
    }
    if (!this.thread(m.thread.id)) {
      this.rememberThread({
        ...upsertChannel([], { id: m.thread.id })[0],
        name: m.thread.name,
        kind: 'thread',
        parent_id: m.channel_id,
        parent_message_id: m.id,
      });
    }
    this.openPanel({ kind: 'thread', id: m.thread.id });
  }

  /** Starts a thread from `m` (or finds the existing one) and opens it. */
  async startThread(m: Message): Promise<void> {
    if (m.thread?.id) {
      this.openPanel({ kind: 'thread', id: m.thread.id });
      return;
    }
    try {
      const c = await api<ApiChannel>('POST', `/api/messages/${encodeURIComponent(m.id)}/thread`, {});
      const t = this.rememberThread(c);
      this.openPanel({ kind: 'thread', id: t.id });
      const tl = this.threadLists[m.channel_id];
      if (tl && !tl.items.some((x) => x.id === t.id)) tl.items.unshift(t);
    } catch (e) {
      toast(`Could not start a thread: ${errorText(e)}`);
    }
  }

  async loadThreads(channelId: string): Promise<void> {
    this.threadLists[channelId] ??= { loading: false, error: null, items: [] };
    const cur = this.threadLists[channelId];
    cur.loading = true;
    cur.error = null;
    try {
      const list = await api<Channel[]>('GET', `/api/channels/${encodeURIComponent(channelId)}/threads`);
      cur.items = list.map((c) => this.rememberThread(c));
    } catch (e) {
      cur.error = errorText(e);
    } finally {
      cur.loading = false;
    }
  }

  async setFollow(threadId: string, follow: boolean): Promise<void> {
    try {
      await api(follow ? 'PUT' : 'DELETE', `/api/channels/${encodeURIComponent(threadId)}/follow`);
      this.applySettings({ channel_id: threadId, following: follow });
    } catch (e) {
      toast(`Could not ${follow ? 'follow' : 'unfollow'} the thread: ${errorText(e)}`);
    }
  }

  /** `channel_settings.update` (or my own change): muted/following per channel. */
  private applySettings(o: { channel_id: string; muted?: boolean; following?: boolean }): void {
    const id = o.channel_id;
    const t = this.threads[id];
    if (t) {
      if (o.following !== undefined) t.following = o.following;
      if (o.muted !== undefined) t.muted = o.muted;
    }
    for (const l of Object.values(this.threadLists)) {
      const x = l.items.find((c) => c.id === id);
      if (x && o.following !== undefined) x.following = o.following;
    }
    const c = chat.channels.find((x) => x.id === id);
    if (c) {
      if (o.following !== undefined) c.following = o.following;
      if (o.muted !== undefined) c.muted = o.muted;
    } else if (t && o.following) {
      // A thread I now follow joins the channel list (as GET /api/channels would list it).
      chat.upsertChannel({ ...t, following: true });
    }
  }

  // ------------------------------------------------------------ reactions

  async toggleReaction(m: Message, emoji: string): Promise<void> {
    const me = session.me?.id;
    if (!me) return;
    const before = m.reactions;
    const { reactions, add } = toggledReactions(before, emoji, me);
    timeline.upsertMessage({ ...m, reactions }, false);
    if (add) this.noteRecent(emoji);
    try {
      await api(add ? 'PUT' : 'DELETE', `/api/messages/${encodeURIComponent(m.id)}/reactions/${encodeURIComponent(emoji)}`);
    } catch (e) {
      const cur = this.findMessage(m.channel_id, m.id);
      if (cur) timeline.upsertMessage({ ...cur, reactions: before }, false);
      toast(`Could not ${add ? 'add' : 'remove'} the reaction: ${errorText(e)}`);
    }
  }

  private findMessage(channelId: string, id: string): Message | undefined {
    return timeline.views[channelId]?.messages.find((x) => x.id === id);
  }

  openPicker(req: PickerRequest): void {
    this.picker = req;
  }

  closePicker(returnFocus = true): void {
    const p = this.picker;
    this.picker = null;
    if (returnFocus && p?.anchor?.isConnected) p.anchor.focus();
  }

  noteRecent(emoji: string): void {
    this.recentEmoji = [emoji, ...this.recentEmoji.filter((e) => e !== emoji)].slice(0, 24);
    try {
      localStorage.setItem(RECENT_KEY, JSON.stringify(this.recentEmoji));
    } catch {
      /* private mode */
    }
  }

  // ------------------------------------------------------------ pins

  async setPinned(m: Message, pin: boolean): Promise<void> {
    try {
      await api(pin ? 'PUT' : 'DELETE', `/api/messages/${encodeURIComponent(m.id)}/pin`);
      const at = pin ? Date.now() : null;
      const cur = this.findMessage(m.channel_id, m.id) ?? m;
      if (!!cur.pinned_at !== pin) {
        const u = { ...cur, pinned_at: at, pinned_by: pin ? (session.me?.id ?? null) : null };
        timeline.upsertMessage(u, false);
        this.notePinned(u);
      }
      toast(pin ? 'Message pinned.' : 'Message unpinned.', 'info');
    } catch (e) {
      toast(`Could not ${pin ? 'pin' : 'unpin'} the message: ${errorText(e)}`);
    }
  }

  async loadPins(channelId: string): Promise<void> {
    this.pins[channelId] ??= { loading: false, error: null, items: [] };
    const cur = this.pins[channelId];
    cur.loading = true;
    cur.error = null;
    try {
      const list = await api<Message[]>('GET', `/api/channels/${encodeURIComponent(channelId)}/pins`);
      cur.items = list;
    } catch (e) {
      cur.error = errorText(e);
    } finally {
      cur.loading = false;
    }
  }

  /** Keeps a loaded pins list in step with a message's pinned state. */
  private notePinned(m: Message): void {
    const l = this.pins[m.channel_id];
    if (!l) return;
    const i = l.items.findIndex((x) => x.id === m.id);
    if (m.pinned_at && !m.deleted) {
      if (i >= 0) l.items[i] = m;
      else l.items.unshift(m);
    } else if (i >= 0) {
      l.items.splice(i, 1);
    }
  }

  // ------------------------------------------------------------ viewer

  openViewer(a: Attachment, from: HTMLElement | null): void {
    this.viewer = { attachment: a, returnTo: from };
  }

  closeViewer(): void {
    const v = this.viewer;
    this.viewer = null;
    if (v?.returnTo?.isConnected) v.returnTo.focus();
  }

  // ------------------------------------------------------------ notifications

  get notifySupported(): boolean {
    return typeof Notification !== 'undefined';
  }

  /** Asks the browser for permission (call from a click) and turns notifications on. */
  async enableNotifications(): Promise<boolean> {
    this.notifyAsk = false;
    if (!this.notifySupported) {
      toast('This browser cannot show notifications.', 'info');
      return false;
    }
    let perm = Notification.permission;
    if (perm === 'default') {
      try {
        perm = await Notification.requestPermission();
      } catch {
        perm = Notification.permission;
      }
    }
    if (perm !== 'granted') {
      toast('Notifications are blocked for this site: allow them in the browser’s site settings.', 'info');
      this.setNotify(false);
      return false;
    }
    this.setNotify(true);
    return true;
  }

  setNotify(on: boolean): void {
    this.notifyEnabled = on;
    this.notifyAsk = false;
    try {
      localStorage.setItem(NOTIFY_KEY, on ? 'on' : 'off');
    } catch {
      /* private mode */
    }
  }

  dismissNotifyAsk(): void {
    this.setNotify(false);
  }

  /** Whether a channel (or a thread's parent) is muted for me. */
  isMuted(channelId: string): boolean {
    const c = chat.channels.find((x) => x.id === channelId) ?? this.threads[channelId];
    if (!c) return false;
    if (c.muted) return true;
    if (c.kind === 'thread' && c.parent_id) return !!chat.channels.find((x) => x.id === c.parent_id)?.muted;
    return false;
  }

  private maybeNotify(m: Message): void {
    const me = session.me?.id;
    if (!me || m.author_id === me || m.deleted) return;
    const c = chat.channels.find((x) => x.id === m.channel_id) ?? this.threads[m.channel_id];
    const isDm = c?.kind === 'dm';
    // The channel's notification level decides (lib/attention.ts), and a thread's parent's mute.
    if (!isPing(m, c, me)) return;
    if (this.isMuted(m.channel_id)) return;
    if (timeline.isOpen(m.channel_id) && presence.focused) return;
    if (!this.notifySupported) return;
    const who = chat.displayName(m.author_id);
    const where = isDm ? '' : c ? ` in #${c.name}` : '';
    if (Notification.permission === 'default' && storedNotify() === null) {
      this.notifyAsk = isDm ? `${who} sent you a direct message.` : `${who} mentioned you${where}.`;
      return;
    }
    if (Notification.permission !== 'granted' || !this.notifyEnabled) return;
    const text = toPlainText(m.content).slice(0, 180) || (m.attachments.length ? `sent ${m.attachments.length} file(s)` : '');
    try {
      const n = new Notification(isDm ? `${who} (direct message)` : `${who} mentioned you${where}`, {
        body: text,
        tag: `spot-${m.id}`,
      });
      n.onclick = () => {
        window.focus();
        const target = c?.kind === 'thread' && c.parent_id ? c.parent_id : m.channel_id;
        router.navigate(`/channels/${target}`);
        if (c?.kind === 'thread') queueMicrotask(() => this.openPanel({ kind: 'thread', id: c.id }));
        n.close();
      };
    } catch {
      /* some browsers only allow notifications from a service worker */
    }
  }

  // ------------------------------------------------------------ events

  private onEvent<K extends keyof EventPayloads>(t: K, d: EventPayloads[K]): void {
    const e = { t, d } as { [T in keyof EventPayloads]: { t: T; d: EventPayloads[T] } }[keyof EventPayloads];
    switch (e.t) {
      case 'message.create':
        this.maybeNotify(e.d);
        break;
      case 'message.update': {
        const m = e.d;
        if (this.pins[m.channel_id]) this.notePinned(m);
        const th = m.thread ? this.threads[m.thread.id] : undefined;
        if (m.thread && th) {
          th.reply_count = m.thread.reply_count;
          if (m.thread.last_reply_at) th.last_message_at = m.thread.last_reply_at;
        }
        break;
      }
      case 'message.delete': {
        const l = this.pins[e.d.channel_id];
        const i = l ? l.items.findIndex((x) => x.id === e.d.id) : -1;
        if (l && i >= 0) l.items.splice(i, 1);
        break;
      }
      case 'channel.create':
      case 'channel.update': {
        const c = e.d;
        if (c.kind === 'thread') {
          const t = this.rememberThread(c);
          const tl = c.parent_id ? this.threadLists[c.parent_id] : undefined;
          if (tl && !tl.items.some((x) => x.id === c.id)) tl.items.unshift(t);
        }
        break;
      }
      case 'channel_settings.update':
        this.applySettings(e.d);
        break;
    }
  }

  /** Whether a followed thread has replies I have not read. */
  threadUnread(id: string): boolean {
    const c = chat.channels.find((x) => x.id === id);
    return !!c && c.following === true && c.unread_count > 0;
  }
}

function loadRecent(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string').slice(0, 24) : [];
  } catch {
    return [];
  }
}

function storedNotify(): string | null {
  try {
    return localStorage.getItem(NOTIFY_KEY);
  } catch {
    return 'off';
  }
}

function loadNotify(): boolean {
  try {
    return localStorage.getItem(NOTIFY_KEY) === 'on';
  } catch {
    return false;
  }
}

export const rich = new RichState();
