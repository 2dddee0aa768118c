// The permission names in words, and the channel override editor's tri-state (allow / inherit /
// deny). What anyone may do is computed on the box only (`chat::perms`): the client reads the
// `permissions` it lists per channel. No framework imports: unit-tested in tests/overrides.test.ts.

import type { Override, Perm } from './types';

/** Every permission, in the box's order, with words for the admin pages. */
export const PERMS: { id: Perm; label: string; hint: string }[] = [
  { id: 'view', label: 'View', hint: 'see the channel and read it' },
  { id: 'send', label: 'Send', hint: 'post, react and start threads' },
  { id: 'manage_messages', label: 'Manage messages', hint: "delete other people's messages" },
  { id: 'pin', label: 'Pin', hint: 'pin and unpin messages' },
  { id: 'manage_channel', label: 'Manage channel', hint: 'rename, topic, permission overrides' },
  { id: 'moderate', label: 'Moderate', hint: 'kick, ban and time out people' },
  { id: 'dj', label: 'DJ', hint: "skip at once, stop, clear and rearrange anyone's music" },
];

/** `moderate` and `dj` come from roles only: channel overrides never carry them. */
export const OVERRIDE_PERMS = PERMS.filter((p) => p.id !== 'moderate' && p.id !== 'dj');

/** `chat::ids::RoleId::EVERYONE`. */
export const EVERYONE_ROLE_ID = '1';

export type Tri = 'allow' | 'inherit' | 'deny';

export type Lists = Pick<Override, 'allow' | 'deny'>;

const ORDER: Record<string, number> = Object.fromEntries(PERMS.map((p, i) => [p.id, i]));

function normalize(list: Iterable<Perm>): Perm[] {
  return [...new Set(list)].sort((a, b) => (ORDER[a] ?? 99) - (ORDER[b] ?? 99) || a.localeCompare(b));
}

/** A permission's state in an override (the editor never puts one in both lists). */
export function triOf(ov: Lists | null | undefined, p: Perm): Tri {
  if (!ov) return 'inherit';
  if (ov.deny.includes(p)) return 'deny';
  if (ov.allow.includes(p)) return 'allow';
  return 'inherit';
}

/**
 * A new {allow, deny} with `p` set to `state` (null: only tidied up); other permissions unchanged,
 * no duplicates, the box's order, and a permission in one list at most (deny kept).
 */
export function setTri(ov: Lists | null | undefined, p: Perm | null, state: Tri): Lists {
  const allow = new Set(ov?.allow ?? []);
  const deny = new Set(ov?.deny ?? []);
  if (p) {
    allow.delete(p);
    deny.delete(p);
    if (state === 'allow') allow.add(p);
    if (state === 'deny') deny.add(p);
  }
  for (const x of deny) allow.delete(x);
  return { allow: normalize(allow), deny: normalize(deny) };
}

/** allow → inherit → deny → allow (for a one-button toggle). */
export function nextTri(t: Tri): Tri {
  return t === 'allow' ? 'inherit' : t === 'inherit' ? 'deny' : 'allow';
}

export function isEmptyOverride(ov: Lists): boolean {
  return !ov.allow.length && !ov.deny.length;
}
