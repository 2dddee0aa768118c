// Application state: session, channels, users, message windows, typing,
// presence, the outbox and the gateway connection. Components read the
// reactive fields and call the action methods.

import { api, ApiError, errorText, setCsrfToken, setUnauthorizedHandler } from './api';
import { Gateway, GatewayError, gatewayUrl, type GatewayStatus, type ReadyPayload } from './gateway';
import { cmpId, idGt, lowerBound, mergeById } from './ids';
import { DEFAULT_MESSAGE_MAX_CHARS, parseMessageMaxChars } from './limits';
import { Outbox, type PendingMessage } from './outbox';
import { router } from './router.svelte';
import { noteTyping, typingUserIds, type TypingMap } from './typing';
import type { Channel, Message, Presence, Session, Snapshot, User } from './types';
import { VoiceClient } from './voice.svelte';
import { canModerate, type ChatRole } from './perms';
import { timeoutEnd } from './moderation';
import type { CustomEmoji } from './types';

export const PAGE = 50;
export const TYPING_SHOW_MS = 8000;
export const TYPING_SEND_EVERY_MS = 3000;
export const IDLE_AFTER_MS = 5 * 60 * 1000;

export interface ChannelView {
  messages: Message[];
  hasMoreBefore: boolean;
  atLatest: boolean;
  loading: boolean;
  loadingOlder: boolean;
  loadingNewer: boolean;
  loaded: boolean;
  error: string | null;
  gen: number;
}

export interface Toast {
  id: number;
  text: string;
  kind: 'error' | 'info';
}

function emptyView(): ChannelView {
  return {
    messages: [],
    hasMoreBefore: true,
    atLatest: true,
    loading: false,
    loadingOlder: false,
    loadingNewer: false,
    loaded: false,
    error: null,
    gen: 0,
  };
}

function asMessage(d: unknown): Message | null {
  const o = d as { message?: Message } & Partial<Message>;
  const m = (o && o.message) || o;
  if (!m || typeof m !== 'object' || m.id == null || m.channel_id == null) return null;
  return {
    id: String(m.id),
    channel_id: String(m.channel_id),
    author_id: String(m.author_id ?? ''),
    content: m.content ?? '',
    reply_to: m.reply_to != null ? String(m.reply_to) : null,
    created_at: Number(m.created_at ?? Date.now()),
    edited_at: m.edited_at ?? null,
    deleted: !!m.deleted,
    nonce: m.nonce ?? null,
    ...richFields(m),
  };
}

/** The rich chat fields of a message (README "Rich chat API"), IDs as strings. */
function richFields(m: Partial<Message>): Partial<Message> {
  const r: Partial<Message> = {};
  if (m.thread !== undefined)
    r.thread = m.thread
      ? {
          id: String(m.thread.id),
          name: m.thread.name,
          reply_count: Number(m.thread.reply_count ?? 0),
          last_reply_at: m.thread.last_reply_at ?? null,
        }
      : null;
  if (Array.isArray(m.reactions))
    r.reactions = m.reactions.map((x) => ({ emoji: String(x.emoji), count: Number(x.count ?? 0), user_ids: (x.user_ids ?? []).map(String) }));
  if (m.pinned_at !== undefined) r.pinned_at = m.pinned_at ?? null;
  if (m.pinned_by !== undefined) r.pinned_by = m.pinned_by != null ? String(m.pinned_by) : null;
  if (Array.isArray(m.mentions)) r.mentions = m.mentions.map(String);
  if (m.mention_everyone !== undefined) r.mention_everyone = !!m.mention_everyone;
  if (Array.isArray(m.attachments)) r.attachments = m.attachments.map((a) => ({ ...a, id: String(a.id) }));
  if (Array.isArray(m.embeds)) r.embeds = m.embeds;
  return r;
}

/** Parses a message from the API or the gateway (rich fields included). */
export function parseMessage(d: unknown): Message | null {
  return asMessage(d);
}

function asRole(r: ChatRole): ChatRole {
  return {
    id: String(r.id),
    name: String(r.name ?? ''),
    color: r.color || null,
    position: Number(r.position ?? 0),
    permissions: Array.isArray(r.permissions) ? r.permissions.map(String) : [],
  };
}

function sortRoles(list: ChatRole[]): ChatRole[] {
  return list.sort((a, b) => a.position - b.position || cmpId(a.id, b.id));
}

function sortChannels(list: Channel[]): Channel[] {
  return list.sort((a, b) => a.position - b.position || cmpId(a.id, b.id));
}

const GATEWAY_ERRORS: Record<string, string> = {
  rate_limited: "You're sending too fast. Slow down a little.",
  message_too_long: 'That message is too long.',
  not_found: 'That no longer exists.',
  forbidden: "You can't do that.",
};

export function gatewayErrorText(e: unknown): string {
  if (e instanceof GatewayError) {
    if (e.code === 'rate_limited') {
      const s = e.retryAfterMs ? Math.max(1, Math.ceil(e.retryAfterMs / 1000)) : 0;
      return s ? `You're doing that too often. Try again in ${s} s.` : GATEWAY_ERRORS.rate_limited;
    }
    return e.message && e.message !== e.code ? e.message : GATEWAY_ERRORS[e.code] ?? `Error: ${e.code}`;
  }
  return errorText(e);
}

class AppState {
  phase = $state<'loading' | 'anon' | 'ready'>('loading');
  me = $state<User | null>(null);
  users = $state<Record<string, User>>({});
  channels = $state<Channel[]>([]);
  views = $state<Record<string, ChannelView>>({});
  pending = $state<PendingMessage[]>([]);
  typing = $state<TypingMap>({});
  /** The box's `limits.message_max_chars` (from /api/me and the gateway snapshot). */
  messageMaxChars = $state(DEFAULT_MESSAGE_MAX_CHARS);
  status = $state<GatewayStatus>('closed');
  toasts = $state<Toast[]>([]);
  openChannelId = $state<string | null>(null);
  /** Unread divider for the open channel: show it after this id (null: none). */
  dividerAfter = $state<string | null>(null);
  parents = $state<Record<string, Message | null>>({});
  focused = $state(true);
  now = $state(Date.now());
  idle = $state(false);
  /** Message to highlight and scroll to (set by jumpTo). */
  highlight = $state<{ id: string; n: number } | null>(null);
  /** The thread open in the side panel (read acks and unread counts treat it like the open channel). */
  openThreadId = $state<string | null>(null);
  /** Extra listeners for durable events (rich chat features in lib/rich.svelte.ts). */
  private eventHooks: ((t: string, d: unknown) => void)[] = [];
  onAnyEvent(fn: (t: string, d: unknown) => void): void {
    this.eventHooks.push(fn);
  }

  visibleChannels: Channel[] = $derived(this.channels.filter((c) => !c.archived));
  textChannels: Channel[] = $derived(
    this.visibleChannels.filter((c) => c.kind !== 'voice' && c.kind !== 'dm' && c.kind !== 'thread'),
  );
  /** Direct messages, most recent activity first. */
  dmChannels: Channel[] = $derived(
    this.channels
      .filter((c) => c.kind === 'dm')
      .sort((a, b) => cmpId(b.last_message_id ?? b.id, a.last_message_id ?? a.id)),
  );
  /** Roles (README "Rich chat API"; id "1" is @everyone) and custom emoji, from the snapshot and events. */
  roles = $state<ChatRole[]>([]);
  emoji = $state<CustomEmoji[]>([]);
  /** May kick, ban and time out (admins, or a role with `moderate`). */
  isModerator: boolean = $derived(canModerate(this.me, this.roles));
  /** When my timeout ends (Unix ms), or null when I am not timed out. */
  timeoutUntil: number | null = $derived(timeoutEnd(this.me, this.now));
  voiceChannels: Channel[] = $derived(this.visibleChannels.filter((c) => c.kind === 'voice'));
  voice = new VoiceClient(
    () => this.gateway,
    () => this.me?.id ?? null,
  );
  isAdmin: boolean = $derived(this.me?.role === 'admin');

  /** Threads I follow under a channel (GET /api/channels lists the followed ones). */
  threadsOf(parentId: string): Channel[] {
    return this.channels.filter((c) => c.kind === 'thread' && c.parent_id === parentId && c.following === true && !c.archived);
  }

  private gateway: Gateway | null = null;
  private outbox: Outbox;
  private toastId = 0;
  private lastTypingSent: Record<string, number> = {};
  private lastInput = Date.now();
  private ackTimers: Record<string, ReturnType<typeof setTimeout>> = {};
  private parentFetches = new Set<string>();
  private returnTo: string | null = null;

  constructor() {
    this.outbox = new Outbox({
      send: (item) =>
        this.gateway!.request('message.send', {
          channel_id: item.channel_id,
          content: item.content,
          reply_to: item.reply_to,
          nonce: item.nonce,
        }).then((d) => {
          const m = asMessage(d);
          if (!m) throw new GatewayError('bad_reply', 'The Spot box sent an unexpected answer.');
          return m;
        }),
      onAck: (_item, msg) => this.upsertMessage(msg, true),
      onChange: (items) => (this.pending = items),
      onFailed: (_item, err) => this.toast(`Message not sent: ${gatewayErrorText(err)}`),
      onRateLimited: (_item, err) =>
        this.toast(
          `You're sending too fast: your message goes out in ${Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000))} s.`,
          'info',
        ),
    });
    setUnauthorizedHandler(() => this.sessionEnded());
  }

  // ------------------------------------------------------------ session

  /** Shown on the loading screen while the box cannot be reached. */
  bootError = $state('');

  async boot(attempt = 0): Promise<void> {
    try {
      const s = await api<Session>('GET', '/api/me');
      this.bootError = '';
      this.startSession(s);
    } catch (e) {
      if (e instanceof ApiError && (e.code === 'network' || e.status >= 500)) {
        // The box is restarting or unreachable: keep trying instead of showing the login form.
        this.bootError = `${errorText(e)} Retrying…`;
        setTimeout(() => void this.boot(attempt + 1), Math.min(10_000, 1000 * 2 ** attempt));
        return;
      }
      this.bootError = '';
      this.phase = 'anon';
    }
  }

  async login(username: string, password: string): Promise<void> {
    await this.signIn(username, password);
    const to = this.returnTo && this.returnTo !== '/login' ? this.returnTo : '/';
    this.returnTo = null;
    router.navigate(to, { replace: true });
  }

  /** Log in without leaving the page (the setup wizard signs in inline). */
  async signIn(username: string, password: string): Promise<void> {
    this.adoptSession(await api<Session>('POST', '/api/login', { username, password }));
  }

  /** A session the box handed out elsewhere (POST /api/setup/claim answers like a login). */
  adoptSession(s: Session): void {
    this.startSession(s);
  }

  async acceptInvite(token: string, username: string, password: string, display_name: string): Promise<void> {
    const s = await api<Session>('POST', `/api/invites/${encodeURIComponent(token)}/accept`, {
      username,
      password,
      display_name: display_name || undefined,
    });
    this.startSession(s);
    router.navigate('/', { replace: true });
  }

  async logout(everywhere = false): Promise<void> {
    try {
      await api('POST', everywhere ? '/api/logout-all' : '/api/logout');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        this.toast(errorText(e));
        return;
      }
    }
    this.endSession();
    router.navigate('/login', { replace: true });
  }

  /** The server ended the session (401 or gateway close 4001). */
  sessionEnded(): void {
    if (this.phase !== 'ready') return;
    this.returnTo = location.pathname;
    this.endSession();
    this.toast('Your session has ended. Please log in again.', 'info');
    router.navigate('/login', { replace: true });
  }

  private startSession(s: Session): void {
    setCsrfToken(s.csrf_token);
    this.me = s.user;
    this.setLimits(s.limits);
    this.users = { ...this.users, [s.user.id]: { ...this.users[s.user.id], ...s.user } };
    this.phase = 'ready';
    void this.loadInitial();
    this.startGateway();
  }

  private endSession(): void {
    this.gateway?.stop();
    this.gateway = null;
    setCsrfToken(null);
    this.me = null;
    this.users = {};
    this.channels = [];
    this.views = {};
    this.typing = {};
    this.messageMaxChars = DEFAULT_MESSAGE_MAX_CHARS;
    this.roles = [];
    this.emoji = [];
    this.parents = {};
    this.outbox.items = [];
    this.pending = [];
    this.openChannelId = null;
    this.phase = 'anon';
  }

  private async loadInitial(): Promise<void> {
    try {
      const [channels, users] = await Promise.all([
        api<Channel[]>('GET', '/api/channels'),
        api<User[]>('GET', '/api/users'),
      ]);
      // A snapshot from the gateway may have arrived first; both are fine to apply.
      this.channels = sortChannels(channels.map((c) => this.mergeChannel(c)));
      this.setUsers(users);
      void this.loadRolesAndEmoji();
    } catch (e) {
      this.toast(`Could not load channels: ${errorText(e)}`);
    }
  }

  private setUsers(users: User[]): void {
    const map: Record<string, User> = {};
    for (const u of users) map[u.id] = { ...this.users[u.id], ...u };
    if (this.me && !map[this.me.id]) map[this.me.id] = this.me;
    this.users = map;
  }

  // ------------------------------------------------------------ gateway

  private startGateway(): void {
    this.gateway?.stop();
    const gw = new Gateway(
      { url: gatewayUrl() },
      {
        onStatus: (s) => {
          this.status = s;
          this.outbox.setConnected(s === 'connected');
        },
        onReady: (d) => this.onReady(d),
        onEvent: (t, d) => this.onEvent(t, d),
        onEphemeral: (t, d) => this.onEphemeral(t, d),
        onError: (e) => this.toast(gatewayErrorText(e)),
        onSessionEnded: () => this.sessionEnded(),
      },
    );
    this.gateway = gw;
    gw.start();
  }

  reconnectNow(): void {
    this.gateway?.reconnectNow();
  }

  private onReady(d: ReadyPayload): void {
    this.voice.onReady(d.voice);
    if (this.idle) void this.gateway?.request('presence.set', { status: 'idle' }).catch(() => {});
    if (d.resumed) return;
    if (d.snapshot) this.applySnapshot(d.snapshot);
    else void this.loadInitial();
    // Anything cached may be stale: drop other channels, re-read the open one.
    const open = this.openChannelId;
    const ov = open ? this.views[open] : undefined;
    const keep: Record<string, ChannelView> = {};
    if (open && ov) keep[open] = ov;
    const th = this.openThreadId;
    const tv = th ? this.views[th] : undefined;
    if (th && tv) keep[th] = tv;
    this.views = keep;
    if (open) {
      if (ov?.loaded) void this.loadLatest(open, true);
      else if (!ov?.loading) void this.loadInitialMessages(open);
    }
    if (th && th !== open && tv?.loaded) void this.loadLatest(th, true);
  }

  applySnapshot(s: Snapshot): void {
    if (s.me) this.me = { ...this.me, ...s.me };
    if (Array.isArray(s.users)) this.setUsers(s.users);
    const wasOpen = this.channels.find((c) => c.id === this.openChannelId);
    if (Array.isArray(s.channels)) this.channels = sortChannels(s.channels.map((c) => ({ ...c })));
    // Permissions changed (4002) and the open channel is gone from what I may see: leave it.
    // (Threads are listed only when followed, so a missing thread is not a lost permission.)
    if (wasOpen && wasOpen.kind !== 'thread' && !this.channels.some((c) => c.id === wasOpen.id)) {
      this.toast(`You can no longer see ${wasOpen.kind === 'dm' ? 'that conversation' : '#' + wasOpen.name}.`, 'info');
      delete this.views[wasOpen.id];
      this.openChannelId = null;
      router.navigate('/', { replace: true });
    }
    this.setLimits(s.limits);
    if (Array.isArray(s.roles)) this.roles = sortRoles(s.roles.map(asRole));
    if (Array.isArray(s.emoji)) this.emoji = s.emoji.map((e) => ({ ...e, id: String(e.id) }));
  }

  /** Roles and custom emoji over HTTP (when a ready came without a snapshot). */
  async loadRolesAndEmoji(): Promise<void> {
    const [roles, emoji] = await Promise.all([
      api<ChatRole[]>('GET', '/api/roles').catch(() => null),
      api<CustomEmoji[]>('GET', '/api/emoji').catch(() => null),
    ]);
    if (Array.isArray(roles)) this.roles = sortRoles(roles.map(asRole));
    if (Array.isArray(emoji)) this.emoji = emoji.map((e) => ({ ...e, id: String(e.id) }));
  }

  /** Mute or unmute a channel for me (PUT /api/channels/:id/settings). */
  async setMuted(channelId: string, muted: boolean): Promise<void> {
    try {
      const r = await api<{ channel_id: string; muted: boolean; following?: boolean }>(
        'PUT',
        `/api/channels/${encodeURIComponent(channelId)}/settings`,
        { muted },
      );
      this.applyChannelSettings(r ?? { channel_id: channelId, muted });
    } catch (e) {
      this.toast(`Could not ${muted ? 'mute' : 'unmute'} the channel: ${errorText(e)}`);
    }
  }

  private applyChannelSettings(o: { channel_id?: string; muted?: boolean; following?: boolean }): void {
    const c = this.channels.find((x) => x.id === String(o.channel_id));
    if (!c) return;
    if (typeof o.muted === 'boolean') c.muted = o.muted;
    if (typeof o.following === 'boolean') c.following = o.following;
  }

  /** Opens (or creates) the DM with these people (POST /api/dms) and returns it. */
  async startDm(userIds: string[]): Promise<Channel> {
    const c = await api<Channel>('POST', '/api/dms', { user_ids: userIds });
    this.upsertChannel({ ...c, id: String(c.id), member_ids: (c.member_ids ?? []).map(String) });
    return this.channels.find((x) => x.id === String(c.id)) ?? c;
  }

  /** Applies a `limits` object from the box; without one (older boxes) the current value stays. */
  private setLimits(limits: unknown): void {
    const n = parseMessageMaxChars(limits);
    if (n !== null) this.messageMaxChars = n;
  }

  private onEvent(t: string, d: unknown): void {
    for (const h of this.eventHooks) {
      try {
        h(t, d);
      } catch (e) {
        console.error(e);
      }
    }
    switch (t) {
      case 'message.create': {
        const m = asMessage(d);
        if (m) this.onMessageCreate(m);
        break;
      }
      case 'message.update': {
        const m = asMessage(d);
        if (m) this.upsertMessage(m, false);
        break;
      }
      case 'message.delete': {
        const o = d as { id?: string; message_id?: string; channel_id?: string; message?: Message };
        const id = String(o.message?.id ?? o.id ?? o.message_id ?? '');
        const ch = o.message?.channel_id ?? o.channel_id;
        if (id) this.markDeleted(id, ch != null ? String(ch) : undefined);
        break;
      }
      case 'channel.create':
      case 'channel.update': {
        const c = ((d as { channel?: Channel }).channel ?? d) as Channel;
        if (c && c.id != null) this.upsertChannel(c);
        break;
      }
      case 'user.update': {
        const u = ((d as { user?: User }).user ?? d) as User;
        if (u && u.id != null) {
          const merged = { ...this.users[u.id], ...u };
          this.users[u.id] = merged;
          if (this.me && u.id === this.me.id) this.me = { ...this.me, ...u };
        }
        break;
      }
      case 'role.create':
      case 'role.update': {
        const r = asRole(((d as { role?: ChatRole }).role ?? d) as ChatRole);
        if (r.id) this.roles = sortRoles([...this.roles.filter((x) => x.id !== r.id), r]);
        break;
      }
      case 'role.delete': {
        const id = String((d as { id?: string }).id ?? '');
        this.roles = this.roles.filter((x) => x.id !== id);
        break;
      }
      case 'emoji.create': {
        const e = ((d as { emoji?: CustomEmoji }).emoji ?? d) as CustomEmoji;
        if (e && e.id != null) this.emoji = [...this.emoji.filter((x) => x.id !== String(e.id)), { ...e, id: String(e.id) }];
        break;
      }
      case 'emoji.delete': {
        const id = String((d as { id?: string }).id ?? '');
        this.emoji = this.emoji.filter((x) => x.id !== id);
        break;
      }
      case 'channel_settings.update':
        this.applyChannelSettings(d as { channel_id: string; muted?: boolean; following?: boolean });
        break;
      case 'read_state.update': {
        const o = d as { channel_id: string; last_read_id?: string | null; message_id?: string; unread_count?: number };
        const c = this.channels.find((x) => x.id === String(o.channel_id));
        if (!c) break;
        const rid = o.last_read_id ?? o.message_id ?? null;
        if (rid && idGt(rid, c.last_read_id)) c.last_read_id = String(rid);
        if (typeof o.unread_count === 'number') c.unread_count = o.unread_count;
        else if (!idGt(c.last_message_id, c.last_read_id)) c.unread_count = 0;
        if (c.unread_count === 0) c.mention_count = 0;
        break;
      }
    }
  }

  private onEphemeral(t: string, d: unknown): void {
    if (t.startsWith('voice.')) {
      this.voice.onEphemeral(t, d);
    } else if (t === 'typing.start') {
      // The sender gets its own typing.start back: noteTyping ignores it.
      if (noteTyping(this.typing, d, this.me?.id, Date.now() + TYPING_SHOW_MS)) this.now = Date.now();
    } else if (t === 'presence.update') {
      const o = d as { user_id: string; status?: Presence; presence?: Presence };
      const u = this.users[String(o.user_id)];
      const p = o.status ?? o.presence;
      if (u && p) u.presence = p;
    }
  }

  private onMessageCreate(m: Message): void {
    const mine = m.author_id === this.me?.id;
    if (mine && m.nonce) this.outbox.ackByNonce(m.nonce, m);
    this.upsertMessage(m, true);
    // stop showing the author as typing
    const t = this.typing[m.channel_id];
    if (t && t[m.author_id]) {
      const { [m.author_id]: _gone, ...rest } = t;
      this.typing[m.channel_id] = rest;
    }
    const c = this.channels.find((x) => x.id === m.channel_id);
    if (!c) return;
    if (idGt(m.id, c.last_message_id)) c.last_message_id = m.id;
    if (mine) {
      if (idGt(m.id, c.last_read_id)) c.last_read_id = m.id;
      c.unread_count = 0;
    } else if (!(this.isOpen(m.channel_id) && this.focused) && idGt(m.id, c.last_read_id)) {
      c.unread_count = (c.unread_count ?? 0) + 1;
      if (this.mentionsMe(m)) c.mention_count = (c.mention_count ?? 0) + 1;
    }
  }

  /** The channel is shown: the open channel or the thread in the side panel. */
  isOpen(channelId: string): boolean {
    return this.openChannelId === channelId || this.openThreadId === channelId;
  }

  /** The message mentions me (by name, @everyone or @here). */
  mentionsMe(m: Message): boolean {
    const me = this.me?.id;
    return !!me && m.author_id !== me && (!!m.mention_everyone || !!m.mentions?.includes(me));
  }

  private mergeChannel(c: Channel): Channel {
    const old = this.channels.find((x) => x.id === c.id);
    if (!old) return { ...c, unread_count: c.unread_count ?? 0 };
    return {
      ...old,
      ...c,
      last_message_id: idGt(old.last_message_id, c.last_message_id) ? old.last_message_id : c.last_message_id,
      last_read_id: idGt(old.last_read_id, c.last_read_id) ? old.last_read_id : c.last_read_id,
      unread_count: c.unread_count ?? old.unread_count,
    };
  }

  upsertChannel(c: Partial<Channel> & { id: string }): void {
    const old = this.channels.find((x) => x.id === String(c.id));
    if (old) {
      // Channel events are broadcast to everyone: keep our own read state.
      const merged = { ...old, ...c, id: String(c.id) };
      merged.last_read_id = old.last_read_id;
      merged.unread_count = old.unread_count;
      // ...and our own per-user settings.
      merged.mention_count = old.mention_count;
      if (old.muted !== undefined) merged.muted = old.muted;
      if (old.following !== undefined) merged.following = old.following;
      if (idGt(old.last_message_id, c.last_message_id)) merged.last_message_id = old.last_message_id;
      Object.assign(old, merged);
      this.channels = sortChannels([...this.channels]);
    } else {
      this.channels = sortChannels([
        ...this.channels,
        {
          ...c,
          id: String(c.id),
          name: c.name ?? '',
          position: c.position ?? 0,
          topic: c.topic ?? '',
          archived: !!c.archived,
          last_message_id: c.last_message_id ?? null,
          last_read_id: c.last_read_id ?? null,
          unread_count: c.unread_count ?? 0,
        },
      ]);
    }
  }

  /** Inserts or replaces a message in its channel's loaded window. */
  upsertMessage(m: Message, isNew: boolean): void {
    if (this.parents[m.id] !== undefined) this.parents[m.id] = m;
    const v = this.views[m.channel_id];
    if (!v) return;
    const i = lowerBound(v.messages, m.id);
    if (i < v.messages.length && v.messages[i].id === m.id) {
      v.messages[i] = m;
      return;
    }
    // Only extend the window at its newest end, and only when it reaches the present.
    if (isNew && (v.atLatest || v.loading) && i === v.messages.length) v.messages.push(m);
    else if (isNew && i > 0 && i < v.messages.length) v.messages.splice(i, 0, m);
  }

  private markDeleted(id: string, channelId?: string): void {
    const views = channelId ? [this.views[channelId]].filter(Boolean) : Object.values(this.views);
    for (const v of views) {
      const i = lowerBound(v.messages, id);
      if (i < v.messages.length && v.messages[i].id === id) {
        v.messages[i] = { ...v.messages[i], deleted: true, content: '' };
      }
    }
    const p = this.parents[id];
    if (p) this.parents[id] = { ...p, deleted: true, content: '' };
  }

  // ------------------------------------------------------------ channels & history

  view(id: string): ChannelView {
    let v = this.views[id];
    if (!v) {
      this.views[id] = emptyView();
      v = this.views[id];
    }
    return v;
  }

  openChannel(id: string | null): void {
    if (this.openChannelId === id) return;
    this.openChannelId = id;
    this.highlight = null;
    if (!id) {
      this.dividerAfter = null;
      return;
    }
    const c = this.channels.find((x) => x.id === id);
    this.dividerAfter = c && c.unread_count > 0 ? (c.last_read_id ?? '0') : null;
    const v = this.views[id];
    if (!v || !v.loaded) void this.loadInitialMessages(id);
  }

  /** Loads a channel's first window unless it is loaded (threads in the side panel). */
  ensureLoaded(id: string): void {
    const v = this.views[id];
    if (!v || (!v.loaded && !v.loading)) void this.loadInitialMessages(id);
  }

  private async loadInitialMessages(id: string): Promise<void> {
    const c = this.channels.find((x) => x.id === id);
    if (c && c.unread_count > PAGE - 10 && c.last_read_id) {
      await this.loadAround(id, c.last_read_id);
    } else {
      await this.loadLatest(id);
    }
  }

  async loadLatest(id: string, replace = true): Promise<void> {
    const v = this.view(id);
    const gen = replace ? ++v.gen : v.gen;
    v.loading = true;
    v.error = null;
    if (replace) v.atLatest = true;
    try {
      const list = await api<Message[]>('GET', `/api/channels/${encodeURIComponent(id)}/messages?limit=${PAGE}`);
      if (v.gen !== gen) return;
      const fresh = list.map((x) => asMessage(x)!).filter(Boolean);
      // Keep live messages that arrived (via the gateway) while the request was in flight.
      const newest = fresh.length ? fresh[fresh.length - 1].id : null;
      const live = v.messages.filter((m) => newest === null || idGt(m.id, newest));
      v.messages = replace ? mergeById(fresh, live) : mergeById(v.messages, fresh);
      v.hasMoreBefore = list.length >= PAGE;
      v.atLatest = true;
      v.loaded = true;
    } catch (e) {
      if (v.gen === gen) v.error = errorText(e);
    } finally {
      if (v.gen === gen) v.loading = false;
    }
  }

  async loadAround(id: string, messageId: string): Promise<boolean> {
    const v = this.view(id);
    const gen = ++v.gen;
    v.loading = true;
    v.error = null;
    try {
      const list = await api<Message[]>(
        'GET',
        `/api/channels/${encodeURIComponent(id)}/messages?around=${encodeURIComponent(messageId)}&limit=${PAGE}`,
      );
      if (v.gen !== gen) return false;
      const fresh = list.map((x) => asMessage(x)!).filter(Boolean);
      const c = this.channels.find((x) => x.id === id);
      const newest = fresh.length ? fresh[fresh.length - 1].id : null;
      v.messages = fresh;
      v.hasMoreBefore = true;
      v.atLatest = !c || !c.last_message_id || !idGt(c.last_message_id, newest);
      v.loaded = true;
      return fresh.some((m) => m.id === messageId);
    } catch (e) {
      if (v.gen === gen) v.error = errorText(e);
      return false;
    } finally {
      if (v.gen === gen) v.loading = false;
    }
  }

  async loadOlder(id: string): Promise<number> {
    const v = this.view(id);
    if (v.loadingOlder || v.loading || !v.hasMoreBefore || !v.messages.length) return 0;
    const gen = v.gen;
    v.loadingOlder = true;
    try {
      const before = v.messages[0].id;
      const list = await api<Message[]>(
        'GET',
        `/api/channels/${encodeURIComponent(id)}/messages?before=${encodeURIComponent(before)}&limit=${PAGE}`,
      );
      if (v.gen !== gen) return 0;
      mergeById(v.messages, list.map((x) => asMessage(x)!).filter(Boolean));
      v.hasMoreBefore = list.length >= PAGE;
      return list.length;
    } catch (e) {
      this.toast(`Could not load older messages: ${errorText(e)}`);
      return 0;
    } finally {
      v.loadingOlder = false;
    }
  }

  async loadNewer(id: string): Promise<number> {
    const v = this.view(id);
    if (v.loadingNewer || v.loading || v.atLatest || !v.messages.length) return 0;
    const gen = v.gen;
    v.loadingNewer = true;
    try {
      const after = v.messages[v.messages.length - 1].id;
      const list = await api<Message[]>(
        'GET',
        `/api/channels/${encodeURIComponent(id)}/messages?after=${encodeURIComponent(after)}&limit=${PAGE}`,
      );
      if (v.gen !== gen) return 0;
      mergeById(v.messages, list.map((x) => asMessage(x)!).filter(Boolean));
      if (list.length < PAGE) v.atLatest = true;
      return list.length;
    } catch (e) {
      this.toast(`Could not load newer messages: ${errorText(e)}`);
      return 0;
    } finally {
      v.loadingNewer = false;
    }
  }

  /** Makes sure `messageId` is loaded in the open channel and asks the view to scroll to it. */
  async jumpTo(channelId: string, messageId: string): Promise<void> {
    const v = this.view(channelId);
    const have = v.messages.some((m) => m.id === messageId);
    if (!have) {
      const ok = await this.loadAround(channelId, messageId);
      if (!ok) {
        this.toast('That message could not be found.', 'info');
        return;
      }
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
      const m = list.map((x) => asMessage(x)).find((x) => x && x.id === id);
      this.parents[id] = m ?? null;
    } catch {
      this.parentFetches.delete(id);
    }
  }

  // ------------------------------------------------------------ actions

  sendMessage(channelId: string, content: string, replyTo: string | null): void {
    // Sending takes you to the present, where the message will appear.
    const v = this.views[channelId];
    if (v && v.loaded && !v.atLatest) void this.loadLatest(channelId, true);
    this.outbox.enqueue(channelId, content, replyTo);
    this.lastTypingSent[channelId] = 0;
  }

  retrySend(nonce: string): void {
    this.outbox.retry(nonce);
  }

  discardSend(nonce: string): void {
    this.outbox.discard(nonce);
  }

  async editMessage(m: Message, content: string): Promise<boolean> {
    try {
      const updated = await api<Message>('PATCH', `/api/messages/${encodeURIComponent(m.id)}`, { content });
      const u = asMessage(updated);
      if (u) this.upsertMessage(u, false);
      return true;
    } catch (e) {
      this.toast(`Could not edit the message: ${errorText(e)}`);
      return false;
    }
  }

  async deleteMessage(m: Message): Promise<void> {
    try {
      await api('DELETE', `/api/messages/${encodeURIComponent(m.id)}`);
      this.markDeleted(m.id, m.channel_id);
    } catch (e) {
      this.toast(`Could not delete the message: ${errorText(e)}`);
    }
  }

  typingStart(channelId: string): void {
    const now = Date.now();
    if (now - (this.lastTypingSent[channelId] ?? 0) < TYPING_SEND_EVERY_MS) return;
    if (!this.gateway?.connected) return;
    this.lastTypingSent[channelId] = now;
    void this.gateway.request('typing.start', { channel_id: channelId }).catch(() => {});
  }

  /** Called by the message list with the newest message the user can see. */
  noteVisible(channelId: string, messageId: string): void {
    const c = this.channels.find((x) => x.id === channelId);
    if (!c || !this.focused || !this.isOpen(channelId)) return;
    if (!idGt(messageId, c.last_read_id)) return;
    c.last_read_id = messageId;
    if (!idGt(c.last_message_id, messageId)) {
      c.unread_count = 0;
      c.mention_count = 0;
    }
    if (this.ackTimers[channelId]) clearTimeout(this.ackTimers[channelId]);
    this.ackTimers[channelId] = setTimeout(() => {
      delete this.ackTimers[channelId];
      const id = c.last_read_id;
      if (!id) return;
      if (this.gateway?.connected) {
        void this.gateway.request('read.ack', { channel_id: channelId, message_id: id }).catch(() => {
          void api('POST', `/api/channels/${encodeURIComponent(channelId)}/read`, { message_id: id }).catch(() => {});
        });
      } else {
        void api('POST', `/api/channels/${encodeURIComponent(channelId)}/read`, { message_id: id }).catch(() => {});
      }
    }, 400);
  }

  /** Users typing in a channel right now (never me). */
  typers(channelId: string): User[] {
    return typingUserIds(this.typing, channelId, this.me?.id, this.now)
      .map((uid) => this.users[uid])
      .filter((u): u is User => !!u);
  }

  displayName(userId: string): string {
    const u = this.users[userId];
    return u ? u.display_name || u.username : 'Unknown user';
  }

  // ------------------------------------------------------------ presence & focus

  /** Installs window listeners for focus, idle detection and the typing clock. */
  installWindowHooks(): () => void {
    const updateFocus = () => {
      this.focused = document.visibilityState === 'visible' && document.hasFocus();
    };
    const onInput = () => {
      this.lastInput = Date.now();
      if (this.idle) {
        this.idle = false;
        void this.gateway?.request('presence.set', { status: 'online' }).catch(() => {});
      }
    };
    let lastMove = 0;
    const onMove = () => {
      const n = Date.now();
      if (n - lastMove > 1000) {
        lastMove = n;
        onInput();
      }
    };
    const onOnline = () => this.reconnectNow();
    const tick = setInterval(() => {
      this.now = Date.now();
      if (!this.idle && this.phase === 'ready' && Date.now() - this.lastInput >= IDLE_AFTER_MS) {
        this.idle = true;
        void this.gateway?.request('presence.set', { status: 'idle' }).catch(() => {});
      }
    }, 1000);
    window.addEventListener('focus', updateFocus);
    window.addEventListener('blur', updateFocus);
    document.addEventListener('visibilitychange', updateFocus);
    window.addEventListener('keydown', onInput, true);
    window.addEventListener('pointerdown', onInput, true);
    window.addEventListener('pointermove', onMove, true);
    window.addEventListener('wheel', onMove, { capture: true, passive: true });
    window.addEventListener('online', onOnline);
    updateFocus();
    return () => {
      clearInterval(tick);
      window.removeEventListener('focus', updateFocus);
      window.removeEventListener('blur', updateFocus);
      document.removeEventListener('visibilitychange', updateFocus);
      window.removeEventListener('keydown', onInput, true);
      window.removeEventListener('pointerdown', onInput, true);
      window.removeEventListener('pointermove', onMove, true);
      window.removeEventListener('wheel', onMove, true);
      window.removeEventListener('online', onOnline);
    };
  }

  // ------------------------------------------------------------ toasts

  toast(text: string, kind: 'error' | 'info' = 'error'): void {
    const id = ++this.toastId;
    this.toasts = [...this.toasts.slice(-4), { id, text, kind }];
    setTimeout(() => this.dismissToast(id), kind === 'error' ? 8000 : 5000);
  }

  dismissToast(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
  }

  // ------------------------------------------------------------ settings helpers

  async updateDisplayName(display_name: string): Promise<void> {
    const r = await api<{ user: User }>('PATCH', '/api/me', { display_name });
    const u = (r && (r as { user?: User }).user) || (r as unknown as User);
    if (u && u.id) {
      this.me = { ...this.me!, ...u };
      this.users[u.id] = { ...this.users[u.id], ...u };
    }
  }
}

export const app = new AppState();
