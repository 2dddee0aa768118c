// `@` autocomplete for the composer: find the mention being typed at the caret, rank the
// candidates, and put the chosen one into the text. Pure functions (unit-tested).
// The name rules follow the server (firmware/chat/src/text.rs): a mention starts at the
// beginning or after a character that cannot be part of a user name.

export interface MentionUser {
  id: string;
  username: string;
  display_name: string;
  disabled?: boolean;
}

export interface MentionCandidate {
  /** What goes into the text after `@`. */
  insert: string;
  label: string;
  detail: string;
  /** A user id, or 'everyone' / 'here'. */
  key: string;
}

export interface MentionQuery {
  /** Index of the `@`. */
  start: number;
  /** What was typed after `@` (up to the caret). */
  query: string;
}

const NAME_CHAR = /[A-Za-z0-9_.-]/;

/** The mention being typed at `caret`, or null. */
export function mentionQueryAt(text: string, caret: number): MentionQuery | null {
  if (caret < 0 || caret > text.length) return null;
  let i = caret;
  while (i > 0 && NAME_CHAR.test(text[i - 1]) && caret - i <= 32) i--;
  if (i === 0 || text[i - 1] !== '@') return null;
  const at = i - 1;
  if (at > 0 && NAME_CHAR.test(text[at - 1])) return null; // me@example.com
  // Inside `code`? (an odd number of backticks before it on the line)
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  const ticks = (text.slice(lineStart, at).match(/`/g) ?? []).length;
  if (ticks % 2 === 1) return null;
  return { start: at, query: text.slice(i, caret) };
}

const SPECIAL: MentionCandidate[] = [
  { insert: 'everyone', label: '@everyone', detail: 'Notify everyone in the channel', key: 'everyone' },
  { insert: 'here', label: '@here', detail: 'Notify everyone online', key: 'here' },
];

/**
 * Candidates for `query`: usernames or display names starting with it first, then containing
 * it; `@everyone`/`@here` when they match. Disabled users and `excludeId` (me) are left out.
 */
export function mentionCandidates(
  users: MentionUser[],
  query: string,
  opts: { excludeId?: string | null; limit?: number; special?: boolean } = {},
): MentionCandidate[] {
  const q = query.toLowerCase();
  const limit = opts.limit ?? 8;
  const scored: { c: MentionCandidate; score: number }[] = [];
  for (const u of users) {
    if (u.disabled || u.id === opts.excludeId) continue;
    const un = u.username.toLowerCase();
    const dn = (u.display_name || '').toLowerCase();
    let score: number;
    if (!q) score = 3;
    else if (un === q) score = 0;
    else if (un.startsWith(q)) score = 1;
    else if (dn.startsWith(q) || dn.split(/\s+/).some((w) => w.startsWith(q))) score = 2;
    else if (un.includes(q) || dn.includes(q)) score = 4;
    else continue;
    scored.push({
      c: { insert: u.username, label: u.display_name || u.username, detail: '@' + u.username, key: u.id },
      score,
    });
  }
  scored.sort((a, b) => a.score - b.score || a.c.insert.localeCompare(b.c.insert));
  const out = scored.map((x) => x.c);
  if (opts.special !== false) {
    for (const s of SPECIAL) if (s.insert.startsWith(q)) out.push(s);
  }
  // Keep the specials reachable even when many users match.
  if (out.length > limit) {
    const specials = out.filter((c) => c.key === 'everyone' || c.key === 'here');
    return [...out.filter((c) => !specials.includes(c)).slice(0, limit - specials.length), ...specials];
  }
  return out;
}

/** Replaces the typed `@query` with `@insert ` and returns the new text and caret. */
export function applyMention(text: string, q: MentionQuery, caret: number, insert: string): { text: string; caret: number } {
  const after = text.slice(caret);
  const sep = after.startsWith(' ') ? '' : ' ';
  const head = text.slice(0, q.start) + '@' + insert + sep;
  return { text: head + after, caret: head.length + (sep ? 0 : 1) };
}
