// Emoji search for the picker. The Unicode data (unicode-emoji-json) is loaded lazily by
// loadEmojiData() so it never weighs on the first page load; the search itself is pure.

export interface EmojiEntry {
  /** The emoji itself, or `:name:` for a custom one. */
  e: string;
  /** Lowercase name ("grinning face"), or the custom name. */
  n: string;
  /** Group name ("Smileys & Emotion", "Custom"). */
  g: string;
  /** Custom emoji image (same-origin path). */
  url?: string;
}

export interface EmojiGroup {
  name: string;
  items: EmojiEntry[];
}

let cache: Promise<EmojiGroup[]> | null = null;

/** The Unicode emoji by group, loaded once (a separate chunk). */
export function loadEmojiData(): Promise<EmojiGroup[]> {
  cache ??= import('unicode-emoji-json/data-by-group.json')
    .then((mod) => {
      const data = (mod as { default: unknown }).default as { name: string; emojis: { emoji: string; name: string }[] }[];
      return data.map((g) => ({
        name: g.name,
        items: g.emojis.map((x) => ({ e: x.emoji, n: x.name.toLowerCase(), g: g.name })),
      }));
    })
    .catch((e) => {
      cache = null;
      throw e;
    });
  return cache;
}

/**
 * Entries matching `query`: names equal to it first, then names with a word starting with it,
 * then names containing it. Underscores and colons in the query count as spaces, so `thumbs_up`
 * and `:thumbs` work like they do elsewhere.
 */
export function searchEmoji(entries: EmojiEntry[], query: string, limit = 120): EmojiEntry[] {
  const q = query.toLowerCase().replace(/[:_]+/g, ' ').trim().replace(/\s+/g, ' ');
  if (!q) return entries.slice(0, limit);
  const exact: EmojiEntry[] = [];
  const word: EmojiEntry[] = [];
  const part: EmojiEntry[] = [];
  for (const x of entries) {
    const n = x.n.replace(/_/g, ' ');
    if (x.e === query.trim() || n === q) exact.push(x);
    else if (n.startsWith(q) || n.includes(' ' + q)) word.push(x);
    else if (n.includes(q)) part.push(x);
  }
  return [...exact, ...word, ...part].slice(0, limit);
}
