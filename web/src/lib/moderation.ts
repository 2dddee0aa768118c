// Moderation helpers: timeout durations, "timed out until" wording, DM labels.
// No framework imports: unit-tested in tests/moderation.test.ts.

/** The box accepts 0..40320 minutes (four weeks); 0 ends a timeout. */
export const TIMEOUT_MAX_MINUTES = 40320;

export const TIMEOUT_PRESETS: { minutes: number; label: string }[] = [
  { minutes: 5, label: '5 minutes' },
  { minutes: 10, label: '10 minutes' },
  { minutes: 60, label: '1 hour' },
  { minutes: 360, label: '6 hours' },
  { minutes: 1440, label: '1 day' },
  { minutes: 10080, label: '1 week' },
  { minutes: 40320, label: '4 weeks' },
];

/** Parses a custom duration ("90", "90m", "2h", "3d", "1w") to minutes; null when invalid or out of range. */
export function parseDuration(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)?\s*$/i.exec(s);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'm').toLowerCase()[0];
  const mult = unit === 'h' ? 60 : unit === 'd' ? 1440 : unit === 'w' ? 10080 : 1;
  const minutes = Math.round(n * mult);
  if (!Number.isFinite(minutes) || minutes < 1 || minutes > TIMEOUT_MAX_MINUTES) return null;
  return minutes;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** "14:05" today, "Tue 14:05" within a week, "2026-01-31 14:05" later (local time). */
export function formatUntil(until: number, now: number = Date.now()): string {
  const d = new Date(until);
  const hhmm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const n = new Date(now);
  if (d.toDateString() === n.toDateString()) return hhmm;
  if (until - now < 6 * 86400_000 && until > now) {
    return `${d.toLocaleDateString('en-GB', { weekday: 'short' })} ${hhmm}`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hhmm}`;
}

/** The end of a user's timeout if it is still running, else null. */
export function timeoutEnd(user: { timeout_until?: number | string | null } | null | undefined, now: number): number | null {
  const t = user?.timeout_until;
  if (t == null || t === '') return null;
  const n = typeof t === 'number' ? t : Number(t);
  return Number.isFinite(n) && n > now ? n : null;
}

export function timedOutText(until: number, now: number = Date.now()): string {
  return `You are timed out until ${formatUntil(until, now)}`;
}

/** A DM's label: the other members' names (or "you" alone), sorted, joined. */
export function dmLabel(
  memberIds: readonly string[] | null | undefined,
  meId: string | null | undefined,
  nameOf: (id: string) => string,
  fallback = 'Direct message',
): string {
  const ids = (memberIds ?? []).map(String).filter((id) => id !== meId);
  if (!ids.length) return memberIds && memberIds.length ? 'Only you' : fallback;
  return ids
    .map(nameOf)
    .sort((a, b) => a.localeCompare(b))
    .join(', ');
}
