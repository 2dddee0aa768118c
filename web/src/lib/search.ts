// Search query helpers (README "Rich chat API": GET /api/search). The box parses
// the query itself; the client only reads it for hints (filter suggestions,
// mistakes shown in words) and turns result snippets into text + <mark> parts.
// No framework imports: unit-tested in tests/search.test.ts.

/** Snippet match markers: U+E000 opens a match, U+E001 closes it. */
export const MARK_OPEN = '\uE000';
export const MARK_CLOSE = '\uE001';

export interface SnippetPart {
  text: string;
  mark: boolean;
}

/**
 * Splits a snippet into text runs and marked runs. Hostile or broken input is
 * tolerated: nested opens, stray closes and an unterminated match never produce
 * empty parts, never leave a marker character in the text, and never nest.
 * Render each part as a text node (inside <mark> when `mark`), never as HTML.
 */
export function splitSnippet(s: unknown): SnippetPart[] {
  if (typeof s !== 'string' || !s) return [];
  const parts: SnippetPart[] = [];
  let buf = '';
  let inMark = false;
  const flush = () => {
    if (!buf) return;
    const last = parts[parts.length - 1];
    if (last && last.mark === inMark) last.text += buf;
    else parts.push({ text: buf, mark: inMark });
    buf = '';
  };
  for (const ch of s) {
    if (ch === MARK_OPEN) {
      if (!inMark) {
        flush();
        inMark = true;
      }
    } else if (ch === MARK_CLOSE) {
      if (inMark) {
        flush();
        inMark = false;
      }
    } else {
      buf += ch;
    }
  }
  flush();
  return parts;
}

export type FilterKey = 'from' | 'in' | 'has' | 'before' | 'after';

export interface ParsedSearch {
  /** Words and quoted phrases to match (phrases without their quotes). */
  terms: string[];
  from: string[];
  in: string[];
  has: ('link' | 'file')[];
  before: string | null;
  after: string | null;
  /** Problems worth telling the user about, in words. */
  problems: string[];
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isValidDate(s: string): boolean {
  const m = DATE_RE.exec(s);
  if (!m) return false;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

/** Splits a query into tokens; a quoted phrase (possibly unterminated) is one token. */
export function tokenize(q: string): { text: string; start: number; end: number; quoted: boolean }[] {
  const out: { text: string; start: number; end: number; quoted: boolean }[] = [];
  let i = 0;
  while (i < q.length) {
    if (/\s/.test(q[i])) {
      i++;
      continue;
    }
    const start = i;
    if (q[i] === '"') {
      const close = q.indexOf('"', i + 1);
      const end = close < 0 ? q.length : close + 1;
      out.push({ text: q.slice(i + 1, close < 0 ? q.length : close), start, end, quoted: true });
      i = end;
      continue;
    }
    while (i < q.length && !/\s/.test(q[i])) {
      // a quoted value inside a token (from:"x y") stays in it
      if (q[i] === '"') {
        const close = q.indexOf('"', i + 1);
        i = close < 0 ? q.length : close + 1;
      } else i++;
    }
    out.push({ text: q.slice(start, i), start, end: i, quoted: false });
  }
  return out;
}

export function parseSearch(q: string): ParsedSearch {
  const r: ParsedSearch = { terms: [], from: [], in: [], has: [], before: null, after: null, problems: [] };
  for (const t of tokenize(q)) {
    if (t.quoted) {
      if (t.text.trim()) r.terms.push(t.text.trim());
      continue;
    }
    const m = /^(from|in|has|before|after):(.*)$/i.exec(t.text);
    if (!m) {
      r.terms.push(t.text);
      continue;
    }
    const key = m[1].toLowerCase() as FilterKey;
    const value = m[2].replace(/^"(.*)"?$/, '$1').replace(/"$/, '');
    if (!value) {
      r.problems.push(`“${key}:” needs a value.`);
      continue;
    }
    switch (key) {
      case 'from':
        r.from.push(value.replace(/^@/, ''));
        break;
      case 'in':
        r.in.push(value.replace(/^#/, ''));
        break;
      case 'has': {
        const v = value.toLowerCase();
        if (v === 'link' || v === 'file') {
          if (!r.has.includes(v)) r.has.push(v);
        } else r.problems.push(`“has:” takes link or file, not “${value}”.`);
        break;
      }
      case 'before':
      case 'after':
        if (isValidDate(value)) r[key] = value;
        else r.problems.push(`“${key}:” takes a date like 2026-01-31, not “${value}”.`);
        break;
    }
  }
  if (r.before && r.after && r.after >= r.before) r.problems.push('“after:” must be earlier than “before:”.');
  return r;
}

/** True when the query has something to search for (words or filters). */
export function hasSearchable(p: ParsedSearch): boolean {
  return p.terms.length + p.from.length + p.in.length + p.has.length > 0 || !!p.before || !!p.after;
}

export interface Suggestion {
  /** What the list shows. */
  label: string;
  /** A short explanation. */
  hint: string;
  /** Replaces the token under the caret. */
  insert: string;
}

export const FILTER_HINTS: Suggestion[] = [
  { label: 'from:', hint: 'messages by a user', insert: 'from:' },
  { label: 'in:', hint: 'messages in a channel', insert: 'in:' },
  { label: 'has:link', hint: 'messages with a link', insert: 'has:link ' },
  { label: 'has:file', hint: 'messages with a file', insert: 'has:file ' },
  { label: 'before:', hint: 'sent before a day (YYYY-MM-DD)', insert: 'before:' },
  { label: 'after:', hint: 'sent after a day (YYYY-MM-DD)', insert: 'after:' },
];

/** The token the caret is in (or right after), for suggestions. */
export function tokenAt(q: string, caret: number): { text: string; start: number; end: number } {
  let start = caret;
  while (start > 0 && !/\s/.test(q[start - 1])) start--;
  let end = caret;
  while (end < q.length && !/\s/.test(q[end])) end++;
  return { text: q.slice(start, caret), start, end };
}

function isoDay(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** Suggestions for the token under the caret: filter names, usernames, channel names, dates. */
export function suggest(
  q: string,
  caret: number,
  ctx: { usernames: string[]; channels: string[]; now?: number },
  max = 8,
): Suggestion[] {
  const tok = tokenAt(q, caret).text;
  if (tok.startsWith('"')) return [];
  const lower = tok.toLowerCase();
  const m = /^(from|in|has|before|after):(.*)$/.exec(lower);
  if (!m) {
    if (!tok) return FILTER_HINTS.slice(0, max);
    return FILTER_HINTS.filter((h) => h.label.startsWith(lower) && h.label !== lower).slice(0, max);
  }
  const [, key, val] = m;
  const has = (s: string) => s.toLowerCase().includes(val.replace(/^[@#]/, ''));
  const needsQuote = (s: string) => (/\s/.test(s) ? `"${s}"` : s);
  switch (key) {
    case 'from':
      return ctx.usernames
        .filter(has)
        .slice(0, max)
        .map((u) => ({ label: `from:${u}`, hint: 'user', insert: `from:${needsQuote(u)} ` }));
    case 'in':
      return ctx.channels
        .filter(has)
        .slice(0, max)
        .map((c) => ({ label: `in:${c}`, hint: 'channel', insert: `in:${needsQuote(c)} ` }));
    case 'has':
      return FILTER_HINTS.filter((h) => h.label.startsWith('has:' + val) && h.label !== lower);
    default: {
      if (val && isValidDate(val)) return [];
      const today = isoDay(ctx.now ?? Date.now());
      return [{ label: `${key}:${today}`, hint: 'a day, YYYY-MM-DD', insert: `${key}:${today} ` }];
    }
  }
}

/** Replaces the token under the caret with `insert`; returns the new text and caret. */
export function applySuggestion(q: string, caret: number, insert: string): { q: string; caret: number } {
  const t = tokenAt(q, caret);
  const next = q.slice(0, t.start) + insert + q.slice(t.end).replace(/^ (?=.)/, insert.endsWith(' ') ? '' : ' ');
  return { q: next, caret: t.start + insert.length };
}
