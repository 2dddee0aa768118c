import { describe, expect, it } from 'vitest';
import {
  attention,
  channelAttention,
  countText,
  faviconBadge,
  isPing,
  MIN_RING_GAP_MS,
  shouldChime,
  tabTitle,
  type RingContext,
} from '../src/lib/attention';
import { isTextField, shortcutFor, sidebarOrder, stepChannel } from '../src/lib/shortcuts';
import type { Channel, Message } from '../src/lib/types';

function ch(id: string, extra: Partial<Channel> = {}): Channel {
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

function msg(extra: Partial<Message> = {}): Message {
  return {
    id: '100',
    channel_id: '1',
    author_id: '2',
    content: 'hi',
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
  } as Message;
}

describe('badge counting', () => {
  it('counts mentions in channels and every unread message of a DM; plain unread is a dot', () => {
    const a = attention([
      ch('1', { unread_count: 5, mention_count: 2 }),
      ch('2', { kind: 'dm', unread_count: 3, mention_count: 0 }),
      ch('3', { unread_count: 1 }),
    ]);
    expect(a).toEqual({ pings: 5, unread: true });
  });

  it('nothing counts for `nothing`, only mentions for `mentions`', () => {
    expect(channelAttention(ch('1', { unread_count: 5, mention_count: 2, notify: 'nothing' }))).toEqual({ pings: 0, unread: 0 });
    expect(channelAttention(ch('1', { unread_count: 5, mention_count: 2, notify: 'mentions' }))).toEqual({ pings: 2, unread: 0 });
    expect(channelAttention(ch('1', { kind: 'dm', unread_count: 4, mention_count: 1, notify: 'mentions' }))).toEqual({ pings: 1, unread: 0 });
    expect(channelAttention(ch('1', { kind: 'dm', unread_count: 4, notify: 'nothing' }))).toEqual({ pings: 0, unread: 0 });
    expect(attention([ch('1', { unread_count: 5, notify: 'mentions' })])).toEqual({ pings: 0, unread: false });
  });

  it('a muted channel keeps its mentions and hides plain unread', () => {
    expect(channelAttention(ch('1', { unread_count: 5, mention_count: 2, muted: true }))).toEqual({ pings: 2, unread: 0 });
  });

  it('skips voice and archived channels; all read is nothing', () => {
    expect(attention([ch('1', { kind: 'voice', unread_count: 2 }), ch('2', { archived: true, mention_count: 1, unread_count: 1 })])).toEqual({
      pings: 0,
      unread: false,
    });
    expect(attention([])).toEqual({ pings: 0, unread: false });
  });
});

describe('title and favicon', () => {
  it('formats the title', () => {
    expect(tabTitle({ pings: 3, unread: true }, '#general')).toBe('(3) #general · Spot');
    expect(tabTitle({ pings: 0, unread: true }, '#general')).toBe('• #general · Spot');
    expect(tabTitle({ pings: 0, unread: false }, '#general')).toBe('#general · Spot');
    expect(tabTitle({ pings: 0, unread: false }, '')).toBe('Spot');
    expect(tabTitle({ pings: 1, unread: false }, '')).toBe('(1) Spot');
    expect(tabTitle({ pings: 250, unread: false }, 'Settings')).toBe('(99+) Settings · Spot');
  });

  it('picks the favicon badge', () => {
    expect(faviconBadge({ pings: 2, unread: true })).toEqual({ kind: 'count', text: '2' });
    expect(faviconBadge({ pings: 12, unread: false })).toEqual({ kind: 'count', text: '9+' });
    expect(faviconBadge({ pings: 0, unread: true })).toEqual({ kind: 'dot' });
    expect(faviconBadge({ pings: 0, unread: false })).toEqual({ kind: 'none' });
    expect(countText(100)).toBe('99+');
    expect(countText(99)).toBe('99');
  });
});

describe('ringing', () => {
  const ctx: RingContext = { meId: '1', open: false, visible: true, soundOn: true, now: 10_000, lastRingAt: 0 };
  const mention = msg({ mentions: ['1'] });
  const text = ch('1');
  const dm = ch('2', { kind: 'dm' });

  it('rings for mentions and DMs, never for my own messages', () => {
    expect(shouldChime(mention, text, ctx)).toBe(true);
    expect(shouldChime(msg({ mention_everyone: true }), text, ctx)).toBe(true);
    expect(shouldChime(msg({ channel_id: '2' }), dm, ctx)).toBe(true);
    expect(shouldChime(msg(), text, ctx)).toBe(false);
    expect(shouldChime(msg({ author_id: '1', mentions: ['1'] }), text, ctx)).toBe(false);
    expect(shouldChime(msg({ mentions: ['1'], deleted: true }), text, ctx)).toBe(false);
  });

  it('not in the channel I am reading while the tab is visible', () => {
    expect(shouldChime(mention, text, { ...ctx, open: true })).toBe(false);
    expect(shouldChime(mention, text, { ...ctx, open: true, visible: false })).toBe(true);
  });

  it('at most once a second, and never with the sound off', () => {
    expect(shouldChime(mention, text, { ...ctx, lastRingAt: ctx.now - MIN_RING_GAP_MS + 1 })).toBe(false);
    expect(shouldChime(mention, text, { ...ctx, lastRingAt: ctx.now - MIN_RING_GAP_MS })).toBe(true);
    expect(shouldChime(mention, text, { ...ctx, soundOn: false })).toBe(false);
  });

  it('follows the channel level; a muted channel never rings', () => {
    expect(isPing(mention, ch('1', { notify: 'nothing' }), '1')).toBe(false);
    expect(isPing(mention, ch('1', { notify: 'mentions' }), '1')).toBe(true);
    expect(isPing(msg(), ch('2', { kind: 'dm', notify: 'mentions' }), '1')).toBe(false);
    expect(isPing(msg(), ch('2', { kind: 'dm', notify: 'nothing' }), '1')).toBe(false);
    expect(isPing(mention, ch('1', { muted: true }), '1')).toBe(false);
    expect(isPing(mention, text, null)).toBe(false);
  });
});

describe('shortcuts', () => {
  const a = ch('1');
  const b = ch('2', { unread_count: 2 });
  const t = ch('5', { kind: 'thread', parent_id: '1' });
  const c = ch('3', { unread_count: 1, notify: 'mentions' });
  const d = ch('4', { kind: 'dm', unread_count: 1 });
  const order = sidebarOrder([a, b, c], (id) => (id === '1' ? [t] : []), [d]);

  it('lists channels as the sidebar does: threads under their channel, DMs last', () => {
    expect(order.map((x) => x.id)).toEqual(['1', '5', '2', '3', '4']);
  });

  it('steps to the previous or next channel, wrapping around', () => {
    expect(stepChannel(order, '1', 1)?.id).toBe('5');
    expect(stepChannel(order, '1', -1)?.id).toBe('4');
    expect(stepChannel(order, '4', 1)?.id).toBe('1');
    expect(stepChannel(order, null, 1)?.id).toBe('1');
    expect(stepChannel(order, null, -1)?.id).toBe('4');
    expect(stepChannel([], null, 1)).toBeNull();
  });

  it('steps to channels with unread at their level only', () => {
    expect(stepChannel(order, '1', 1, true)?.id).toBe('2');
    // #c3 has plain unread but is set to mentions: skipped.
    expect(stepChannel(order, '2', 1, true)?.id).toBe('4');
    expect(stepChannel(order, '1', -1, true)?.id).toBe('4');
    expect(stepChannel([a, c], '1', 1, true)).toBeNull();
  });

  const key = (k: string, extra: Partial<KeyboardEvent> = {}) =>
    ({ key: k, altKey: false, shiftKey: false, ctrlKey: false, metaKey: false, isComposing: false, target: null, ...extra }) as KeyboardEvent;
  const el = (tag: string, attrs: Record<string, unknown> = {}) =>
    ({ tagName: tag, isContentEditable: false, dataset: {}, value: '', type: '', ...attrs }) as unknown as HTMLElement;

  it('maps keys to actions by event.key, and leaves text fields alone', () => {
    expect(shortcutFor(key('ArrowDown', { altKey: true }))).toEqual({ kind: 'step', dir: 1, unreadOnly: false });
    expect(shortcutFor(key('ArrowUp', { altKey: true, shiftKey: true }))).toEqual({ kind: 'step', dir: -1, unreadOnly: true });
    expect(shortcutFor(key('ArrowUp', { altKey: true, target: el('TEXTAREA') }))).toEqual({ kind: 'step', dir: -1, unreadOnly: false });
    expect(shortcutFor(key('ArrowDown', { altKey: true, ctrlKey: true }))).toBeNull();
    expect(shortcutFor(key('?', { shiftKey: true }))).toEqual({ kind: 'sheet' });
    expect(shortcutFor(key('?', { target: el('INPUT', { type: 'search' }) }))).toBeNull();
    expect(shortcutFor(key('?', { target: el('TEXTAREA') }))).toBeNull();
    expect(shortcutFor(key('?', { target: el('DIV', { isContentEditable: true }) }))).toBeNull();
    expect(shortcutFor(key('?', { target: el('INPUT', { type: 'checkbox' }) }))).toEqual({ kind: 'sheet' });
    expect(shortcutFor(key('?', { isComposing: true }))).toBeNull();
    // A layout whose "?" needs AltGr reports altKey: still typed text, not a shortcut.
    expect(shortcutFor(key('/', { shiftKey: true }))).toBeNull();
    expect(shortcutFor(key('Escape'))).toEqual({ kind: 'markRead' });
    expect(shortcutFor(key('Escape', { target: el('TEXTAREA', { dataset: { composer: '' } }) }))).toEqual({ kind: 'markRead' });
    expect(shortcutFor(key('Escape', { target: el('TEXTAREA', { dataset: { composer: '' }, value: 'draft' }) }))).toBeNull();
    expect(shortcutFor(key('Escape', { target: el('TEXTAREA') }))).toBeNull();
    expect(shortcutFor(key('Escape', { target: el('INPUT', { type: 'text' }) }))).toBeNull();
  });

  it('knows text fields', () => {
    expect(isTextField(el('INPUT', { type: 'text' }))).toBe(true);
    expect(isTextField(el('INPUT', { type: 'password' }))).toBe(true);
    expect(isTextField(el('INPUT', { type: 'radio' }))).toBe(false);
    expect(isTextField(el('BUTTON'))).toBe(false);
    expect(isTextField(null)).toBe(false);
  });
});
