// Roles and permissions on the client (README "Rich chat API"). The box decides;
// these helpers only drive what the UI offers (who sees the moderation menu) and
// the override editor's tri-state (allow / inherit / deny).
// No framework imports: unit-tested in tests/perms.test.ts.

export type Perm = 'view' | 'send' | 'manage_messages' | 'pin' | 'manage_channel' | 'moderate';

export const PERMS: { id: Perm; label: string; hint: string }[] = [
  { id: 'view', label: 'View', hint: 'see the channel and read it' },
  { id: 'send', label: 'Send', hint: 'post, react and start threads' },
  { id: 'manage_messages', label: 'Manage messages', hint: "delete other people's messages" },
  { id: 'pin', label: 'Pin', hint: 'pin and unpin messages' },
  { id: 'manage_channel', label: 'Manage channel', hint: 'rename, topic, permission overrides' },
  { id: 'moderate', label: 'Moderate', hint: 'kick, ban and time out people' },
];

/** `moderate` comes from roles only: channel overrides never carry it. */
export const OVERRIDE_PERMS = PERMS.filter((p) => p.id !== 'moderate');

export const EVERYONE_ROLE_ID = '1';

export interface ChatRole {
  id: string;
  name: string;
  color: string | null;
  position: number;
  permissions: string[];
}

export interface Override {
  role_id: string;
  allow: string[];
  deny: string[];
}

export type Tri = 'allow' | 'inherit' | 'deny';

const ORDER: Record<string, number> = Object.fromEntries(PERMS.map((p, i) => [p.id, i]));

function normalize(list: Iterable<string>): string[] {
  return [...new Set(list)].sort((a, b) => (ORDER[a] ?? 99) - (ORDER[b] ?? 99) || a.localeCompare(b));
}

/** A permission's state in an override. A permission in both lists counts as deny (deny wins on the box). */
export function triOf(ov: Pick<Override, 'allow' | 'deny'> | null | undefined, p: string): Tri {
  if (!ov) return 'inherit';
  if (ov.deny?.includes(p)) return 'deny';
  if (ov.allow?.includes(p)) return 'allow';
  return 'inherit';
}

/** A new {allow, deny} with `p` set to `state`; other permissions unchanged; no duplicates. */
export function setTri(
  ov: Pick<Override, 'allow' | 'deny'> | null | undefined,
  p: string,
  state: Tri,
): { allow: string[]; deny: string[] } {
  const allow = new Set(ov?.allow ?? []);
  const deny = new Set(ov?.deny ?? []);
  allow.delete(p);
  deny.delete(p);
  if (state === 'allow') allow.add(p);
  if (state === 'deny') deny.add(p);
  // a permission can only be in one list
  for (const x of deny) allow.delete(x);
  return { allow: normalize(allow), deny: normalize(deny) };
}

/** allow → inherit → deny → allow (for a one-button toggle). */
export function nextTri(t: Tri): Tri {
  return t === 'allow' ? 'inherit' : t === 'inherit' ? 'deny' : 'allow';
}

export function isEmptyOverride(ov: Pick<Override, 'allow' | 'deny'>): boolean {
  return !ov.allow.length && !ov.deny.length;
}

export interface PermUser {
  role?: string;
  role_ids?: string[] | null;
}

/**
 * What a user may do: the roles' permissions, then in a channel the @everyone
 * override (deny, then allow), then the user's other roles' overrides (deny, then
 * allow). Admins have everything. `moderate` comes from roles only.
 */
export function effectivePerms(
  user: PermUser | null | undefined,
  roles: readonly ChatRole[],
  overrides: readonly Override[] = [],
): Set<Perm> {
  const all = new Set<Perm>(PERMS.map((p) => p.id));
  if (!user) return new Set();
  if (user.role === 'admin') return all;
  const mine = new Set([EVERYONE_ROLE_ID, ...(user.role_ids ?? []).map(String)]);
  const have = new Set<string>();
  for (const r of roles) if (mine.has(String(r.id))) for (const p of r.permissions ?? []) have.add(p);
  const fromRoles = have.has('moderate');
  const everyone = overrides.find((o) => String(o.role_id) === EVERYONE_ROLE_ID);
  if (everyone) {
    for (const p of everyone.deny ?? []) have.delete(p);
    for (const p of everyone.allow ?? []) have.add(p);
  }
  const others = overrides.filter((o) => String(o.role_id) !== EVERYONE_ROLE_ID && mine.has(String(o.role_id)));
  for (const o of others) for (const p of o.deny ?? []) have.delete(p);
  for (const o of others) for (const p of o.allow ?? []) have.add(p);
  if (fromRoles) have.add('moderate');
  else have.delete('moderate');
  return new Set([...have].filter((p): p is Perm => all.has(p as Perm)));
}

/** Whether the user may kick, ban and time out (roles only; admins always). */
export function canModerate(user: PermUser | null | undefined, roles: readonly ChatRole[]): boolean {
  return effectivePerms(user, roles).has('moderate');
}
