import { describe, expect, it } from 'vitest';
import {
  emptyState,
  emptyWindow,
  lostOpenChannel,
  mergeChannels,
  reduce,
  TYPING_SHOW_MS,
  upsertChannel,
  type ChatEvent,
  type ChatState,
  type ReduceContext,
} from '../src/lib/state/reducer';
import type { ApiChannel, Channel, EventKind, EventPayloads, Message, RoleDef, Snapshot, User } from '../src/lib/types';

const ctx: ReduceContext = { now: 1000, focused: true, openChannelId: null, openThreadId: null };

function user(id: string, extra: Partial<User> = {}): User {
  return {
    id,
    username: `u${id}`,
    display_name: `User ${id}`,
    role: 'member',
    disabled: false,
    created_at: 0,
    role_ids: [],
    timeout_until: null,
    banned: false,
    avatar: null,
    ...extra,
  };
}

function apiChannel(id: string, extra: Partial<ApiChannel> = {}): ApiChannel {
  return {
    id,
    name: `c${id}`,
    topic: '',
    position: Number(id),
    archived: false,
    created_at: 0,
    last_message_id: null,
    kind: 'text',
    user_limit: 0,
    parent_id: null,
    parent_message_id: null,
    member_ids: [],
    ...extra,
  };
}

function channel(id: string, extra: Partial<Channel> = {}): Channel {
  return {
    ...apiChannel(id),
    last_read_id: null,
    unread_count: 0,
    mention_count: 0,
    muted: false,
    following: false,
    notify: 'all',
    permissions: ['view', 'send'],
    ...extra,
  };
}

function msg(id: string, channel_id = '1', extra: Partial<Message> = {}): Message {
  return {
    id,
    channel_id,
    author_id: '2',
    content: `m${id}`,
    reply_to: null,
    created_at: 0,
    edited_at: null,
    deleted: false,
    nonce: null,
    thread: null,
    reactions: [],
    pinned_at: null,
    pinned_by: null,
    mentions: [],
    mention_everyone: false,
    attachments: [],
    embeds: [],
    ...extra,
  };
}

function role(id: string, position: number, extra: Partial<RoleDef> = {}): RoleDef {
  return { id, name: `r${id}`, color: '', position, permissions: ['view'], ...extra };
}

/** I am user 1; bob (2) and carol (3) are around; #1 is loaded up to message 10. */
function state(extra: Partial<ChatState> = {}): ChatState {
  const me = user('1');
  return {
    ...emptyState(),
    me,
    users: { '1': me, '2': user('2'), '3': user('3') },
    channels: [channel('1', { last_message_id: '10', last_read_id: '10' }), channel('2')],
    views: { '1': { ...emptyWindow(), loaded: true, messages: [msg('5'), msg('10')] } },
    ...extra,
  };
}

function ev<K extends keyof EventPayloads>(t: K, d: EventPayloads[K]): ChatEvent {
  return { t, d } as ChatEvent;
}

const ids = (s: ChatState, ch = '1') => s.views[ch].messages.map((m) => m.id);

describe('the chat reducer', () => {
  it('has a case for every durable event kind the box sends', () => {
    // A new EventKind (generated from Rust) fails to compile here until it is listed.
    const all: Record<EventKind, true> = {
      'message.create': true,
      'message.update': true,
      'message.delete': true,
      'channel.create': true,
      'channel.update': true,
      'user.update': true,
      'read_state.update': true,
      'channel_settings.update': true,
      'role.create': true,
      'role.update': true,
      'role.delete': true,
      'emoji.create': true,
      'emoji.delete': true,
      'track.create': true,
      'track.delete': true,
    };
    expect(Object.keys(all)).toHaveLength(15);
  });

  it('never changes its input', () => {
    const s = state();
    const frozen = JSON.stringify(s);
    reduce(s, ev('message.create', msg('11')), ctx);
    reduce(s, ev('message.delete', msg('5', '1', { deleted: true, content: '' })), ctx);
    reduce(s, ev('channel.update', apiChannel('1', { name: 'renamed' })), ctx);
    reduce(s, ev('read_state.update', { channel_id: '1', last_read_id: '10' }), ctx);
    reduce(s, { t: 'typing.start', d: { channel_id: '1', user_id: '2' } }, ctx);
    expect(JSON.stringify(s)).toBe(frozen);
  });

  describe('message.create', () => {
    it('appends to a window at the present, counts unread and mentions elsewhere', () => {
      const s = reduce(state(), ev('message.create', msg('11', '1', { mentions: ['1'] })), ctx);
      expect(ids(s)).toEqual(['5', '10', '11']);
      expect(s.channels[0]).toMatchObject({ last_message_id: '11', unread_count: 1, mention_count: 1 });
    });

    it('does not count what I am reading (open and focused) nor my own; mine moves my read mark', () => {
      const open = { ...ctx, openChannelId: '1' };
      expect(reduce(state(), ev('message.create', msg('11')), open).channels[0].unread_count).toBe(0);
      expect(reduce(state(), ev('message.create', msg('11')), { ...open, focused: false }).channels[0].unread_count).toBe(1);
      expect(reduce(state(), ev('message.create', msg('11')), { ...ctx, openThreadId: '1' }).channels[0].unread_count).toBe(0);
      const mine = reduce(state(), ev('message.create', msg('11', '1', { author_id: '1', mention_everyone: true })), ctx);
      expect(mine.channels[0]).toMatchObject({ last_read_id: '11', unread_count: 0, mention_count: 0 });
    });

    it('does not extend a window that is scrolled back in history, but fills a gap inside it', () => {
      const s0 = state();
      s0.views['1'] = { ...s0.views['1'], atLatest: false };
      expect(ids(reduce(s0, ev('message.create', msg('11')), ctx))).toEqual(['5', '10']);
      expect(ids(reduce(s0, ev('message.create', msg('7')), ctx))).toEqual(['5', '7', '10']);
      // a channel without a window only gets its counts
      const s = reduce(state(), ev('message.create', msg('3', '2')), ctx);
      expect(s.views['2']).toBeUndefined();
      expect(s.channels[1]).toMatchObject({ last_message_id: '3', unread_count: 1 });
    });

    it('stops showing the author as typing', () => {
      let s = reduce(state(), { t: 'typing.start', d: { channel_id: '1', user_id: '2' } }, ctx);
      expect(s.typing['1']['2']).toBe(ctx.now + TYPING_SHOW_MS);
      s = reduce(s, ev('message.create', msg('11')), ctx);
      expect(s.typing['1']).toEqual({});
    });
  });

  it('message.update replaces a loaded message (and a reply parent) and never inserts', () => {
    const s0 = state({ parents: { '10': null } });
    const s = reduce(s0, ev('message.update', msg('10', '1', { content: 'edited', edited_at: 5 })), ctx);
    expect(s.views['1'].messages[1].content).toBe('edited');
    expect(s.parents['10']?.content).toBe('edited');
    const other = reduce(state(), ev('message.update', msg('11')), ctx);
    expect(ids(other)).toEqual(['5', '10']);
  });

  it('message.delete leaves a tombstone in the window and in reply parents', () => {
    const s0 = state({ parents: { '5': msg('5') } });
    const s = reduce(s0, ev('message.delete', msg('5', '1', { deleted: true, content: '' })), ctx);
    expect(s.views['1'].messages[0]).toMatchObject({ id: '5', deleted: true, content: '' });
    expect(s.parents['5']).toMatchObject({ deleted: true, content: '' });
  });

  describe('channel.create and channel.update', () => {
    it('keep my read state, settings and permissions of a known channel, and the newest message id', () => {
      const s0 = state();
      s0.channels[0] = { ...s0.channels[0], unread_count: 3, mention_count: 1, muted: true, permissions: ['view', 'send', 'pin'] };
      const s = reduce(s0, ev('channel.update', apiChannel('1', { name: 'renamed', last_message_id: '4' })), ctx);
      expect(s.channels[0]).toMatchObject({
        name: 'renamed',
        unread_count: 3,
        mention_count: 1,
        muted: true,
        permissions: ['view', 'send', 'pin'],
        last_message_id: '10',
      });
    });

    it('add an unknown channel in position order, unread-free and without permissions yet', () => {
      const s = reduce(state(), ev('channel.create', apiChannel('3', { position: 0 })), ctx);
      expect(s.channels.map((c) => c.id)).toEqual(['3', '1', '2']);
      expect(s.channels[0]).toMatchObject({ unread_count: 0, mention_count: 0, muted: false, following: false, permissions: [] });
    });
  });

  it('user.update merges into the user (presence kept) and into me', () => {
    let s = reduce(state(), { t: 'presence.update', d: { user_id: '1', status: 'idle' } }, ctx);
    s = reduce(s, ev('user.update', user('1', { display_name: 'Me!', timeout_until: 99 })), ctx);
    expect(s.users['1']).toMatchObject({ display_name: 'Me!', presence: 'idle' });
    expect(s.me?.timeout_until).toBe(99);
    const s0 = state();
    const bob = reduce(s0, ev('user.update', user('2', { display_name: 'Bob' })), ctx);
    expect(bob.me).toBe(s0.me);
    expect(bob.users['2'].display_name).toBe('Bob');
  });

  it('read_state.update moves my read mark forward only and clears the counts when caught up', () => {
    const s0 = state();
    s0.channels[0] = { ...s0.channels[0], last_message_id: '12', last_read_id: '5', unread_count: 2, mention_count: 1 };
    const mid = reduce(s0, ev('read_state.update', { channel_id: '1', last_read_id: '10' }), ctx);
    expect(mid.channels[0]).toMatchObject({ last_read_id: '10', unread_count: 2, mention_count: 1 });
    const done = reduce(mid, ev('read_state.update', { channel_id: '1', last_read_id: '12' }), ctx);
    expect(done.channels[0]).toMatchObject({ last_read_id: '12', unread_count: 0, mention_count: 0 });
    const back = reduce(done, ev('read_state.update', { channel_id: '1', last_read_id: '3' }), ctx);
    expect(back.channels[0].last_read_id).toBe('12');
  });

  it('channel_settings.update sets muted, following and the notification level', () => {
    const s = reduce(state(), ev('channel_settings.update', { channel_id: '2', muted: true, following: true, notify: 'mentions' }), ctx);
    expect(s.channels[1]).toMatchObject({ muted: true, following: true, notify: 'mentions' });
    // A channel.update (the same for everyone) keeps my level.
    const s2 = reduce(s, ev('channel.update', apiChannel('2', { name: 'renamed' })), ctx);
    expect(s2.channels[1]).toMatchObject({ name: 'renamed', notify: 'mentions' });
    expect(reduce(state(), ev('channel_settings.update', { channel_id: '9', muted: true, following: false, notify: 'all' }), ctx)).toEqual(state());
  });

  it('role.create, role.update and role.delete keep the roles sorted by position', () => {
    let s = reduce(state(), ev('role.create', role('2', 5)), ctx);
    s = reduce(s, ev('role.create', role('3', 1)), ctx);
    expect(s.roles.map((r) => r.id)).toEqual(['3', '2']);
    s = reduce(s, ev('role.update', role('2', 0, { name: 'mods' })), ctx);
    expect(s.roles.map((r) => r.name)).toEqual(['mods', 'r3']);
    s = reduce(s, ev('role.delete', { id: '2' }), ctx);
    expect(s.roles.map((r) => r.id)).toEqual(['3']);
  });

  it('emoji.create and emoji.delete', () => {
    let s = reduce(state(), ev('emoji.create', { id: '7', name: 'party', url: '/api/emoji/7/image' }), ctx);
    s = reduce(s, ev('emoji.create', { id: '7', name: 'party', url: '/api/emoji/7/image?v=2' }), ctx);
    expect(s.emoji).toEqual([{ id: '7', name: 'party', url: '/api/emoji/7/image?v=2' }]);
    expect(reduce(s, ev('emoji.delete', { id: '7' }), ctx).emoji).toEqual([]);
  });

  it('typing.start ignores my own echo; presence.update ignores unknown users', () => {
    const s = state();
    expect(reduce(s, { t: 'typing.start', d: { channel_id: '1', user_id: '1' } }, ctx)).toBe(s);
    expect(reduce(s, { t: 'presence.update', d: { user_id: '9', status: 'online' } }, ctx)).toBe(s);
    expect(reduce(s, { t: 'presence.update', d: { user_id: '3', status: 'online' } }, ctx).users['3'].presence).toBe('online');
  });

  it('a snapshot replaces channels, users, roles and emoji; windows stay for the caller', () => {
    const snap: Snapshot = {
      me: user('1', { display_name: 'Fresh me' }),
      users: [{ ...user('2'), presence: 'online' }],
      channels: [channel('2', { unread_count: 4 })],
      roles: [role('2', 3), role('1', 0)],
      emoji: [],
      limits: { message_max_chars: 4000, upload_max_bytes: 1, upload_quota_bytes: 2 },
    };
    const before = state();
    const s = reduce(before, { t: 'snapshot', d: snap }, ctx);
    expect(s.me?.display_name).toBe('Fresh me');
    expect(Object.keys(s.users).sort()).toEqual(['1', '2']);
    expect(s.users['2'].presence).toBe('online');
    expect(s.channels.map((c) => c.id)).toEqual(['2']);
    expect(s.roles.map((r) => r.id)).toEqual(['1', '2']);
    expect(s.views).toBe(before.views);
    // The open channel is gone: the caller leaves it. A thread is not (it is listed only when followed).
    expect(lostOpenChannel(before.channels, s.channels, '1')?.id).toBe('1');
    expect(lostOpenChannel(before.channels, s.channels, '2')).toBeNull();
    const withThread = [...before.channels, channel('5', { kind: 'thread' })];
    expect(lostOpenChannel(withThread, s.channels, '5')).toBeNull();
  });

  it('a channel listing over HTTP keeps ids that live events moved further', () => {
    const live = [channel('1', { last_message_id: '12', last_read_id: '11' })];
    const merged = mergeChannels(live, [channel('1', { last_message_id: '10', last_read_id: '9', unread_count: 2 })]);
    expect(merged[0]).toMatchObject({ last_message_id: '12', last_read_id: '11', unread_count: 2 });
    // a fuller record (a thread I follow now) joins the list with its own fields
    const added = upsertChannel(live, { ...channel('4', { kind: 'thread' }), following: true });
    expect(added.find((c) => c.id === '4')).toMatchObject({ following: true, permissions: ['view', 'send'] });
  });
});
