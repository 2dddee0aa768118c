// What claims the user's attention, as pure functions of the channel list and their notification
// levels: the counts the sidebar, the tab title and the favicon show, and whether a new message
// rings (sound, desktop notification). No DOM, no clock (callers pass `now`): unit-tested in
// tests/attention.test.ts.

import type { Channel, Message, NotifyLevel } from './types';

/**
 * A channel's level for counting. The older per-channel mute (`muted`) hides plain unread but
 * keeps mentions, like `mentions`; unlike it, a muted channel never rings (see `isPing`).
 */
export function effectiveLevel(c: Pick<Channel, 'notify' | 'muted'>): NotifyLevel {
  const level = c.notify ?? 'all';
  return c.muted && level === 'all' ? 'mentions' : level;
}

/** What one channel shows: a number (mentions; every unread message of a DM) and/or a plain dot. */
export interface ChannelAttention {
  /** Counted in the tab title and the red favicon badge. */
  pings: number;
  /** Unread messages that are not pings, shown as bold and a dot (0 when the level hides them). */
  unread: number;
}

export function channelAttention(c: Pick<Channel, 'kind' | 'notify' | 'muted' | 'unread_count' | 'mention_count'>): ChannelAttention {
  const level = effectiveLevel(c);
  if (level === 'nothing') return { pings: 0, unread: 0 };
  if (level === 'mentions') return { pings: c.mention_count, unread: 0 };
  if (c.kind === 'dm') return { pings: c.unread_count, unread: 0 };
  return { pings: c.mention_count, unread: Math.max(0, c.unread_count - c.mention_count) };
}

export interface Attention {
  /** Mentions plus unread direct messages, over every channel whose level lets them count. */
  pings: number;
  /** Some channel has plain unread messages (shown as a dot when there are no pings). */
  unread: boolean;
}

/** The whole box's attention. Voice channels carry no messages of their own to count. */
export function attention(channels: readonly Channel[]): Attention {
  let pings = 0;
  let unread = false;
  for (const c of channels) {
    if (c.kind === 'voice' || c.archived) continue;
    const a = channelAttention(c);
    pings += a.pings;
    if (a.unread > 0) unread = true;
  }
  return { pings, unread };
}

/** The number as a badge shows it: up to 99, then "99+" (the favicon has room for "9+"). */
export function countText(n: number, max = 99): string {
  return n > max ? `${max}+` : String(n);
}

/**
 * The tab title: `(3) #general · Spot` with pings, `• #general · Spot` with only plain unread,
 * `#general · Spot` when all is read. `place` is what is open (empty: just the app's name).
 */
export function tabTitle(a: Attention, place: string, app = 'Spot'): string {
  const base = place ? `${place} · ${app}` : app;
  if (a.pings > 0) return `(${countText(a.pings)}) ${base}`;
  if (a.unread) return `• ${base}`;
  return base;
}

/** What the favicon shows: a red badge with a number, a small dot, or nothing. */
export type FaviconBadge = { kind: 'count'; text: string } | { kind: 'dot' } | { kind: 'none' };

export function faviconBadge(a: Attention): FaviconBadge {
  if (a.pings > 0) return { kind: 'count', text: countText(a.pings, 9) };
  if (a.unread) return { kind: 'dot' };
  return { kind: 'none' };
}

/** What ringing depends on besides the message and its channel. */
export interface RingContext {
  meId: string | null | undefined;
  /** The message is in the channel (or thread) on screen… */
  open: boolean;
  /** …and the tab is visible. */
  visible: boolean;
  /** The user's sound switch. */
  soundOn: boolean;
  now: number;
  /** When the last chime played (at most one a second). */
  lastRingAt: number;
}

/** A new message is worth a ping at this channel's level: a mention, or any message of a DM. */
export function isPing(m: Message, c: Pick<Channel, 'kind' | 'notify' | 'muted'> | undefined, meId: string | null | undefined): boolean {
  if (!meId || m.author_id === meId || m.deleted || c?.muted) return false;
  const mention = m.mention_everyone || m.mentions.includes(meId);
  const level = c ? effectiveLevel(c) : 'all';
  if (level === 'nothing') return false;
  if (level === 'mentions') return mention;
  return mention || c?.kind === 'dm';
}

/** MIN_RING_GAP_MS: two mentions in the same second chime once. */
export const MIN_RING_GAP_MS = 1000;

/** Whether a new message plays the chime. */
export function shouldChime(m: Message, c: Pick<Channel, 'kind' | 'notify' | 'muted'> | undefined, ctx: RingContext): boolean {
  if (!ctx.soundOn || !isPing(m, c, ctx.meId)) return false;
  if (ctx.open && ctx.visible) return false;
  return ctx.now - ctx.lastRingAt >= MIN_RING_GAP_MS;
}
