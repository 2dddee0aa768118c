// Who is typing where. The server sends `typing.start` to everyone in the
// channel, the sender included; the sender's own echo must never show up as
// "<me> is typing…".

/** channel id → user id → time (ms) until which the user counts as typing. */
export type TypingMap = Record<string, Record<string, number>>;

/** Records a `typing.start`; returns false (and changes nothing) for my own or malformed ones. */
export function noteTyping(
  typing: TypingMap,
  d: unknown,
  meId: string | null | undefined,
  until: number,
): boolean {
  const o = d as { channel_id?: unknown; user_id?: unknown } | null;
  if (!o || o.user_id == null || o.channel_id == null) return false;
  const uid = String(o.user_id);
  if (!meId || uid === meId) return false;
  const ch = String(o.channel_id);
  typing[ch] = { ...(typing[ch] ?? {}), [uid]: until };
  return true;
}

/** Ids of the users typing in a channel at `now`, never including me. */
export function typingUserIds(typing: TypingMap, channelId: string, meId: string | null | undefined, now: number): string[] {
  const t = typing[channelId];
  if (!t) return [];
  return Object.entries(t)
    .filter(([uid, until]) => until > now && uid !== meId)
    .map(([uid]) => uid);
}

/** The line under the message list, e.g. "Bob is typing…" ('' when nobody is). */
export function typingText(names: string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return 'Several people are typing…';
}
