// Message size limit: the box sends `limits: {message_max_chars}` in `GET /api/me`
// and in the gateway's `ready` snapshot; older boxes do not, and then the
// default below (the server's default) applies.

export const DEFAULT_MESSAGE_MAX_CHARS = 4000;

/** `message_max_chars` from a `limits` object, or null when absent or not a positive integer. */
export function parseMessageMaxChars(limits: unknown): number | null {
  if (!limits || typeof limits !== 'object') return null;
  const n = (limits as { message_max_chars?: unknown }).message_max_chars;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : null;
}

/**
 * Length of `s` as the server counts it: Unicode code points, so an emoji
 * made of a surrogate pair counts once (String#length would count it twice).
 */
export function charCount(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

export interface LengthState {
  count: number;
  max: number;
  /** Characters left before the limit; negative when over it. */
  remaining: number;
  over: boolean;
  /** Whether to show the counter (near or over the limit). */
  near: boolean;
}

/** How close to the limit the counter appears: the last fifth, at most 500 characters. */
export function warnWithin(max: number): number {
  return Math.min(500, Math.max(1, Math.floor(max / 5)));
}

/** Length state of text about to be sent (`text` as it will be sent, i.e. trimmed). */
export function lengthState(text: string, max: number): LengthState {
  const count = charCount(text);
  const remaining = max - count;
  return { count, max, remaining, over: remaining < 0, near: remaining <= warnWithin(max) };
}

function chars(n: number): string {
  return `${n} character${n === 1 ? '' : 's'}`;
}

/** The counter's words, e.g. "120 characters left" or "35 characters over the limit of 4000". */
export function counterText(s: LengthState): string {
  return s.over ? `${chars(-s.remaining)} over the limit of ${s.max}` : `${chars(s.remaining)} left`;
}

/** Why an over-long message was not sent (or, for an edit, not saved). */
export function tooLongText(s: LengthState, what: 'sent' | 'saved' = 'sent'): string {
  return `Not ${what}: this message is ${chars(s.count)} long and the limit is ${s.max}. Shorten it by ${chars(-s.remaining)}.`;
}
