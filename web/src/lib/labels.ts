// How channels are named in lists: "#general", "general › thread", DMs by their members.

import { dmLabel } from './moderation';
import { chat } from './state/chat.svelte';
import { session } from './state/session.svelte';
import type { Channel } from './types';

export function channelLabel(c: Channel | undefined, opts: { hash?: boolean } = {}): string {
  if (!c) return 'a thread';
  if (c.kind === 'dm') return dmLabel(c.member_ids, session.me?.id, (id) => chat.displayName(id), c.name || 'Direct message');
  const hash = opts.hash === false ? '' : '#';
  if (c.kind === 'thread') {
    const parent = chat.channels.find((x) => x.id === c.parent_id);
    return parent ? `${hash}${parent.name} › ${c.name}` : c.name;
  }
  return hash + c.name;
}

export function channelLabelById(id: string, opts: { hash?: boolean } = {}): string {
  return channelLabel(
    chat.channels.find((c) => c.id === id),
    opts,
  );
}

/** A search hit's place: from the channel list, else from what the box sent with the hit. */
export function hitLabel(channelId: string, hit: { name: string; kind?: string; parent_id?: string | null } | null): string {
  const known = chat.channels.find((c) => c.id === channelId);
  if (known || !hit) return channelLabel(known);
  if (hit.kind === 'thread') {
    const parent = chat.channels.find((x) => x.id === hit.parent_id);
    return parent ? `#${parent.name} › ${hit.name}` : `thread ${hit.name}`;
  }
  if (hit.kind === 'dm') return hit.name || 'Direct message';
  return '#' + hit.name;
}
