// Pure helpers for reactions and thread summaries (unit-tested in tests/rich.test.ts).

import type { Reaction } from './types';

/** The reactions after I toggle `emoji` (optimistic; the box's `message.update` replaces it). */
export function toggledReactions(list: Reaction[] | undefined, emoji: string, me: string): { reactions: Reaction[]; add: boolean } {
  const cur = list ?? [];
  const r = cur.find((x) => x.emoji === emoji);
  if (r && r.user_ids.includes(me)) {
    const next = cur
      .map((x) => (x.emoji === emoji ? { ...x, count: x.count - 1, user_ids: x.user_ids.filter((u) => u !== me) } : x))
      .filter((x) => x.count > 0);
    return { reactions: next, add: false };
  }
  if (r) {
    return {
      reactions: cur.map((x) => (x.emoji === emoji ? { ...x, count: x.count + 1, user_ids: [...x.user_ids, me] } : x)),
      add: true,
    };
  }
  return { reactions: [...cur, { emoji, count: 1, user_ids: [me] }], add: true };
}

/** "Alice, Bob and 3 others reacted with 👍" (names from the users list). */
export function reactorsText(names: string[], emoji: string, total: number): string {
  const shown = names.slice(0, 6);
  const others = Math.max(0, total - shown.length);
  let who: string;
  if (!shown.length) who = `${total} ${total === 1 ? 'person' : 'people'}`;
  else if (others) who = `${shown.join(', ')} and ${others} other${others === 1 ? '' : 's'}`;
  else if (shown.length === 1) who = shown[0];
  else who = `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
  return `${who} reacted with ${emoji}`;
}

/** "3 replies", "1 reply". */
export function repliesText(n: number): string {
  return `${n} ${n === 1 ? 'reply' : 'replies'}`;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", then a date. */
export function agoText(t: number | null | undefined, now: number): string {
  if (!t) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 7) return `${d} day${d === 1 ? '' : 's'} ago`;
  return new Date(t).toLocaleDateString();
}
