// Audit log entries (GET /api/admin/audit) and how their target/detail read in words.
// No framework imports: unit-tested in tests/audit.test.ts.

export type { AuditEntry } from './types';

/** Detail fields that hold ids of a kind (named through the resolver). */
const ID_KEYS: Record<string, string> = {
  user_id: 'user',
  user_ids: 'user',
  user: 'user',
  target_user: 'user',
  actor_id: 'user',
  by: 'user',
  role_id: 'role',
  role_ids: 'role',
  channel_id: 'channel',
  parent_id: 'channel',
  room_id: 'channel',
  command_channels: 'channel',
};

/** Names `kind:id` references (user, channel, role…); null leaves the reference as it is. */
export type Resolver = (kind: string, id: string) => string | null;

const ACTIONS: Record<string, string> = {
  'user.kick': 'kicked',
  'user.ban': 'banned',
  'user.unban': 'unbanned',
  'user.timeout': 'timed out',
  'user.roles': 'changed roles of',
  'user.update': 'changed user',
  'role.create': 'created role',
  'role.update': 'changed role',
  'role.delete': 'deleted role',
  'channel.create': 'created channel',
  'channel.update': 'changed channel',
  'channel.override': 'changed permissions in',
  'settings.update': 'changed settings',
  'emoji.create': 'added emoji',
  'emoji.delete': 'deleted emoji',
  'track.create': 'added to the music library',
  'track.delete': 'removed from the music library',
  'audio.update': "changed the box's speaker",
  'dj.update': 'changed the DJ settings',
};

/** An action code in words ("user.ban" → "banned"); unknown codes as they are. */
export function actionWords(action: string): string {
  return ACTIONS[action] ?? action;
}

/**
 * A target or detail value as one line of text: strings as they are, `kind:ID`
 * references and user-id fields by name, objects as "key: value" pairs, nesting and
 * length bounded. Always text (rendered as a text node), whatever the box sends.
 */
export function describeAuditValue(v: unknown, resolve: Resolver, depth = 0): string {
  if (v == null || v === '') return '';
  if (typeof v === 'string') {
    const m = /^([a-z_]+):(\d+)$/.exec(v);
    return clip(m ? (resolve(m[1], m[2]) ?? v) : v);
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (depth > 2) return '…';
  if (Array.isArray(v)) return clip(v.map((x) => describeAuditValue(x, resolve, depth + 1)).join(', '));
  if (typeof v === 'object') {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x == null || x === '' || (Array.isArray(x) && !x.length)) continue;
      const kind = ID_KEYS[k];
      const named = (id: unknown) =>
        typeof id === 'string' || typeof id === 'number' ? (resolve(kind, String(id)) ?? String(id)) : describeAuditValue(id, resolve, depth + 1);
      const val = kind ? (Array.isArray(x) ? x.map(named).join(', ') : named(x)) : describeAuditValue(x, resolve, depth + 1);
      parts.push(`${k.replace(/_ids?$/, (m) => (m === '_ids' ? 's' : '')).replace(/_/g, ' ')}: ${val}`);
    }
    return clip(parts.join(' · '));
  }
  return '';
}

function clip(s: string, max = 300): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}
