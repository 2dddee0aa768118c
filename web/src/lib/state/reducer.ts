// The chat state as a pure function of what the gateway sends: `reduce(state, event, ctx)`
// returns the next state and never changes its input (unchanged parts are shared, so a store can
// tell what changed by identity). No IO, no clock (the caller passes `ctx.now`), no Svelte runes:
// unit-tested in tests/reducer.test.ts with every event kind the gateway sends.

import { cmpId, idGt, lowerBound } from '../ids';
import { noteTyping, type TypingMap } from '../typing';
import type {
  Channel,
  ChannelView,
  CustomEmoji,
  EphemeralPayloads,
  EventPayloads,
  Message,
  RoleDef,
  Snapshot,
  User,
} from '../types';

/** A channel's loaded messages: one contiguous window of its history, ascending by id. */
export interface MessageWindow {
  messages: Message[];
  hasMoreBefore: boolean;
  /** The window reaches the newest message (live messages are appended). */
  atLatest: boolean;
  loading: boolean;
  loadingOlder: boolean;
  loadingNewer: boolean;
  loaded: boolean;
  error: string | null;
  /** Bumped by every replacing load, so an older request's answer is dropped. */
  gen: number;
}

export interface ChatState {
  me: User | null;
  users: Record<string, User>;
  /** Sorted by position, then id. */
  channels: Channel[];
  views: Record<string, MessageWindow>;
  /** Messages that replies point at, outside the loaded windows (null: not found). */
  parents: Record<string, Message | null>;
  typing: TypingMap;
  /** Sorted by position, then id. Role "1" is @everyone. */
  roles: RoleDef[];
  emoji: CustomEmoji[];
}

/** What an event's effect depends on besides the state. */
export interface ReduceContext {
  now: number;
  /** The window has focus (a message in the open channel is then read at once). */
  focused: boolean;
  openChannelId: string | null;
  /** The thread in the side panel counts as open too. */
  openThreadId: string | null;
}

export type DurableEvent = { [K in keyof EventPayloads]: { t: K; d: EventPayloads[K] } }[keyof EventPayloads];
export type EphemeralEvent = { [K in keyof EphemeralPayloads]: { t: K; d: EphemeralPayloads[K] } }[keyof EphemeralPayloads];
/** Everything the reducer applies: durable events, typing and presence, and a `ready` snapshot. */
export type ChatEvent = DurableEvent | EphemeralEvent | { t: 'snapshot'; d: Snapshot };

/** How long a `typing.start` shows the person as typing. */
export const TYPING_SHOW_MS = 8000;

export function emptyState(): ChatState {
  return { me: null, users: {}, channels: [], views: {}, parents: {}, typing: {}, roles: [], emoji: [] };
}

export function emptyWindow(): MessageWindow {
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

export function reduce(s: ChatState, e: ChatEvent, ctx: ReduceContext): ChatState {
  switch (e.t) {
    case 'message.create':
      return messageCreated(s, e.d, ctx);
    case 'message.update':
      return upsertMessage(s, e.d, false);
    case 'message.delete':
      return markDeleted(s, e.d.id, e.d.channel_id);
    case 'channel.create':
    case 'channel.update':
      return { ...s, channels: upsertChannel(s.channels, e.d) };
    case 'user.update': {
      const u = e.d;
      const users = { ...s.users, [u.id]: { ...s.users[u.id], ...u } };
      const me = s.me && s.me.id === u.id ? { ...s.me, ...u } : s.me;
      return { ...s, users, me };
    }
    case 'role.create':
    case 'role.update':
      return { ...s, roles: sortRoles([...s.roles.filter((x) => x.id !== e.d.id), e.d]) };
    case 'role.delete':
      return { ...s, roles: s.roles.filter((x) => x.id !== e.d.id) };
    case 'emoji.create':
      return { ...s, emoji: [...s.emoji.filter((x) => x.id !== e.d.id), e.d] };
    case 'emoji.delete':
      return { ...s, emoji: s.emoji.filter((x) => x.id !== e.d.id) };
    // The music library is not chat state: its views listen through the event hook.
    case 'track.create':
    case 'track.delete':
      return s;
    case 'channel_settings.update':
      return updateChannel(s, e.d.channel_id, (c) => ({ muted: e.d.muted, following: e.d.following, notify: e.d.notify ?? c.notify }));
    case 'read_state.update': {
      const rid = e.d.last_read_id;
      return updateChannel(s, e.d.channel_id, (c) => {
        const last_read_id = rid && idGt(rid, c.last_read_id) ? rid : c.last_read_id;
        const unread_count = idGt(c.last_message_id, last_read_id) ? c.unread_count : 0;
        return { last_read_id, unread_count, mention_count: unread_count === 0 ? 0 : c.mention_count };
      });
    }
    case 'typing.start': {
      // The sender gets its own typing.start back: noteTyping ignores it.
      const typing = { ...s.typing };
      return noteTyping(typing, e.d, s.me?.id, ctx.now + TYPING_SHOW_MS) ? { ...s, typing } : s;
    }
    case 'presence.update': {
      const u = s.users[e.d.user_id];
      if (!u) return s;
      return { ...s, users: { ...s.users, [u.id]: { ...u, presence: e.d.status } } };
    }
    case 'snapshot':
      return applySnapshot(s, e.d);
  }
  return s;
}

/** The snapshot replaces what it holds; message windows are the caller's to keep or drop. */
export function applySnapshot(s: ChatState, snap: Snapshot): ChatState {
  const me = { ...s.me, ...snap.me };
  return {
    ...s,
    me,
    users: mergeUsers(s.users, snap.users, me),
    channels: sortChannels(snap.channels.map((c) => ({ ...c }))),
    roles: sortRoles([...snap.roles]),
    emoji: [...snap.emoji],
  };
}

/**
 * The open channel a new channel list no longer has (permissions changed: leave it), or null.
 * Threads are listed only while followed, so a missing thread is not a lost permission.
 */
export function lostOpenChannel(before: readonly Channel[], after: readonly Channel[], openId: string | null): Channel | null {
  const was = before.find((c) => c.id === openId);
  if (!was || was.kind === 'thread' || after.some((c) => c.id === was.id)) return null;
  return was;
}

/** A user list from the box merged over what is known (presence kept); `me` is never dropped. */
export function mergeUsers(old: Record<string, User>, list: readonly User[], me: User | null): Record<string, User> {
  const map: Record<string, User> = {};
  for (const u of list) map[u.id] = { ...old[u.id], ...u };
  if (me && !map[me.id]) map[me.id] = me;
  return map;
}

/** A channel list over HTTP merged with what live events already brought (newest ids win). */
export function mergeChannels(old: readonly Channel[], list: readonly ChannelView[]): Channel[] {
  return sortChannels(
    list.map((c) => {
      const o = old.find((x) => x.id === c.id);
      if (!o) return { ...c };
      return {
        ...o,
        ...c,
        last_message_id: idGt(o.last_message_id, c.last_message_id) ? o.last_message_id : c.last_message_id,
        last_read_id: idGt(o.last_read_id, c.last_read_id) ? o.last_read_id : c.last_read_id,
      };
    }),
  );
}

/**
 * A channel from an event (`channel.create`/`update`: the same for everyone) or a fuller record.
 * A known channel keeps my read state and settings; an unknown one starts unread-free, with no
 * permissions until the box lists it (see `knowsPermissions`).
 */
export function upsertChannel(list: readonly Channel[], c: Partial<Channel> & Pick<Channel, 'id'>): Channel[] {
  const old = list.find((x) => x.id === c.id);
  if (!old) return sortChannels([...list, { ...newChannelDefaults(), ...c }]);
  const merged: Channel = {
    ...old,
    ...c,
    last_read_id: old.last_read_id,
    unread_count: old.unread_count,
    mention_count: old.mention_count,
    muted: old.muted,
    following: old.following,
    notify: old.notify,
    permissions: c.permissions?.length ? c.permissions : old.permissions,
    last_message_id: idGt(old.last_message_id, c.last_message_id ?? null) ? old.last_message_id : (c.last_message_id ?? null),
  };
  return sortChannels(list.map((x) => (x === old ? merged : x)));
}

function newChannelDefaults(): Channel {
  return {
    id: '',
    name: '',
    topic: '',
    position: 0,
    archived: false,
    created_at: 0,
    last_message_id: null,
    kind: 'text',
    user_limit: 0,
    parent_id: null,
    parent_message_id: null,
    member_ids: [],
    last_read_id: null,
    unread_count: 0,
    mention_count: 0,
    muted: false,
    following: false,
    notify: 'all',
    permissions: [],
  };
}

/** Whether the box has told us my permissions in this channel (anyone who sees it has `view`). */
export function knowsPermissions(c: Pick<Channel, 'permissions'> | undefined): boolean {
  return !!c && c.permissions.length > 0;
}

function updateChannel(s: ChatState, id: string, f: (c: Channel) => Partial<Channel>): ChatState {
  const i = s.channels.findIndex((x) => x.id === id);
  if (i < 0) return s;
  const channels = [...s.channels];
  channels[i] = { ...channels[i], ...f(channels[i]) };
  return { ...s, channels };
}

function messageCreated(s0: ChatState, m: Message, ctx: ReduceContext): ChatState {
  const mine = m.author_id === s0.me?.id;
  let s = upsertMessage(s0, m, true);
  // The author stops showing as typing.
  const t = s.typing[m.channel_id];
  if (t && t[m.author_id]) {
    const { [m.author_id]: _gone, ...rest } = t;
    s = { ...s, typing: { ...s.typing, [m.channel_id]: rest } };
  }
  const open = ctx.openChannelId === m.channel_id || ctx.openThreadId === m.channel_id;
  return updateChannel(s, m.channel_id, (c) => {
    const next: Partial<Channel> = {};
    if (idGt(m.id, c.last_message_id)) next.last_message_id = m.id;
    if (mine) {
      if (idGt(m.id, c.last_read_id)) next.last_read_id = m.id;
      next.unread_count = 0;
    } else if (!(open && ctx.focused) && idGt(m.id, c.last_read_id)) {
      next.unread_count = c.unread_count + 1;
      if (mentionsMe(m, s.me?.id)) next.mention_count = c.mention_count + 1;
    }
    return next;
  });
}

/** The message mentions me (by name, @everyone or @here), and is not mine. */
export function mentionsMe(m: Message, meId: string | null | undefined): boolean {
  return !!meId && m.author_id !== meId && (m.mention_everyone || m.mentions.includes(meId));
}

/**
 * Inserts or replaces a message in its channel's window. A new message extends the window only
 * at its newest end while the window reaches the present, or fills a gap inside it.
 */
export function upsertMessage(s: ChatState, m: Message, isNew: boolean): ChatState {
  const parents = s.parents[m.id] !== undefined ? { ...s.parents, [m.id]: m } : s.parents;
  const v = s.views[m.channel_id];
  const next = v ? upsertInWindow(v, m, isNew) : v;
  if (next === v) return parents === s.parents ? s : { ...s, parents };
  return { ...s, parents, views: { ...s.views, [m.channel_id]: next! } };
}

export function upsertInWindow(v: MessageWindow, m: Message, isNew: boolean): MessageWindow {
  const i = lowerBound(v.messages, m.id);
  const messages = [...v.messages];
  if (i < messages.length && messages[i].id === m.id) messages[i] = m;
  else if (isNew && (v.atLatest || v.loading) && i === messages.length) messages.push(m);
  else if (isNew && i > 0 && i < messages.length) messages.splice(i, 0, m);
  else return v;
  return { ...v, messages };
}

/** A deleted message becomes a tombstone wherever it is shown. */
export function markDeleted(s: ChatState, id: string, channelId?: string): ChatState {
  let views = s.views;
  for (const [cid, v] of Object.entries(s.views)) {
    if (channelId && cid !== channelId) continue;
    const i = lowerBound(v.messages, id);
    if (i < v.messages.length && v.messages[i].id === id) {
      const messages = [...v.messages];
      messages[i] = { ...messages[i], deleted: true, content: '' };
      views = { ...views, [cid]: { ...v, messages } };
    }
  }
  const p = s.parents[id];
  const parents = p ? { ...s.parents, [id]: { ...p, deleted: true, content: '' } } : s.parents;
  return views === s.views && parents === s.parents ? s : { ...s, views, parents };
}

export function sortRoles(list: RoleDef[]): RoleDef[] {
  return list.sort((a, b) => a.position - b.position || cmpId(a.id, b.id));
}

export function sortChannels(list: Channel[]): Channel[] {
  return list.sort((a, b) => a.position - b.position || cmpId(a.id, b.id));
}
