import { describe, expect, it } from 'vitest';
import {
  applySuggestion,
  hasSearchable,
  isValidDate,
  MARK_CLOSE as C,
  MARK_OPEN as O,
  parseSearch,
  splitSnippet,
  suggest,
  tokenAt,
} from '../src/lib/search';

describe('snippet → marks', () => {
  it('splits text and marked runs', () => {
    expect(splitSnippet(`say ${O}hello${C} to ${O}all${C}!`)).toEqual([
      { text: 'say ', mark: false },
      { text: 'hello', mark: true },
      { text: ' to ', mark: false },
      { text: 'all', mark: true },
      { text: '!', mark: false },
    ]);
  });

  it('keeps HTML as text (the caller makes text nodes)', () => {
    const parts = splitSnippet(`<img src=x onerror=alert(1)>${O}<b>x</b>${C}`);
    expect(parts).toEqual([
      { text: '<img src=x onerror=alert(1)>', mark: false },
      { text: '<b>x</b>', mark: true },
    ]);
  });

  it('tolerates hostile marker sequences', () => {
    // nested opens do not nest, stray closes vanish, unterminated marks run to the end
    expect(splitSnippet(`${O}${O}a${C}${C}b`)).toEqual([
      { text: 'a', mark: true },
      { text: 'b', mark: false },
    ]);
    expect(splitSnippet(`${C}a${C}`)).toEqual([{ text: 'a', mark: false }]);
    expect(splitSnippet(`a${O}b`)).toEqual([
      { text: 'a', mark: false },
      { text: 'b', mark: true },
    ]);
    // empty marks produce no parts and adjacent runs merge
    expect(splitSnippet(`a${O}${C}b`)).toEqual([{ text: 'ab', mark: false }]);
    expect(splitSnippet(`${O}a${C}${O}b${C}`)).toEqual([{ text: 'ab', mark: true }]);
    expect(splitSnippet(`${O}${C}${O}${C}`)).toEqual([]);
    // no marker character ever survives
    const weird = splitSnippet(`${C}${O}${O}x${C}${O}${C}${C}y${O}`);
    for (const p of weird) {
      expect(p.text).not.toContain(O);
      expect(p.text).not.toContain(C);
      expect(p.text.length).toBeGreaterThan(0);
    }
  });

  it('handles non-strings, surrogate pairs and long input', () => {
    expect(splitSnippet(undefined)).toEqual([]);
    expect(splitSnippet(null)).toEqual([]);
    expect(splitSnippet(42)).toEqual([]);
    expect(splitSnippet({ toString: () => 'x' })).toEqual([]);
    expect(splitSnippet(`${O}😀${C}`)).toEqual([{ text: '😀', mark: true }]);
    const long = (O + 'a' + C + 'b').repeat(5000);
    const parts = splitSnippet(long);
    expect(parts.length).toBe(10000);
  });
});

describe('search query parsing', () => {
  it('reads filters, words and phrases', () => {
    const p = parseSearch('hello from:bob in:#general has:link "exact words" after:2026-01-01 before:2026-02-01');
    expect(p.terms).toEqual(['hello', 'exact words']);
    expect(p.from).toEqual(['bob']);
    expect(p.in).toEqual(['general']);
    expect(p.has).toEqual(['link']);
    expect(p.after).toBe('2026-01-01');
    expect(p.before).toBe('2026-02-01');
    expect(p.problems).toEqual([]);
    expect(hasSearchable(p)).toBe(true);
  });

  it('explains mistakes in words', () => {
    expect(parseSearch('has:picture').problems[0]).toMatch(/link or file/);
    expect(parseSearch('before:yesterday').problems[0]).toMatch(/date like/);
    expect(parseSearch('before:2026-02-30').problems[0]).toMatch(/date like/);
    expect(parseSearch('from:').problems[0]).toMatch(/needs a value/);
    expect(parseSearch('after:2026-03-01 before:2026-02-01').problems[0]).toMatch(/earlier/);
    expect(hasSearchable(parseSearch('   '))).toBe(false);
  });

  it('keeps quoted values and unterminated quotes together', () => {
    expect(parseSearch('from:"Bob Smith" x').from).toEqual(['Bob Smith']);
    expect(parseSearch('"half open phrase').terms).toEqual(['half open phrase']);
    expect(parseSearch('FROM:Ann').from).toEqual(['Ann']);
  });

  it('validates dates', () => {
    expect(isValidDate('2024-02-29')).toBe(true);
    expect(isValidDate('2023-02-29')).toBe(false);
    expect(isValidDate('2024-13-01')).toBe(false);
    expect(isValidDate('24-01-01')).toBe(false);
  });
});

describe('filter hints', () => {
  const ctx = { usernames: ['alice', 'bob', 'bobby'], channels: ['general', 'random'], now: Date.UTC(2026, 0, 15, 12) };

  it('offers filters for an empty or partial token', () => {
    expect(suggest('', 0, ctx).map((s) => s.label)).toEqual(['from:', 'in:', 'has:link', 'has:file', 'before:', 'after:']);
    expect(suggest('hello h', 7, ctx).map((s) => s.label)).toEqual(['has:link', 'has:file']);
    expect(suggest('hello', 5, ctx)).toEqual([]);
  });

  it('offers users, channels and dates', () => {
    expect(suggest('from:bo', 7, ctx).map((s) => s.label)).toEqual(['from:bob', 'from:bobby']);
    expect(suggest('in:#gen', 7, ctx).map((s) => s.insert)).toEqual(['in:general ']);
    expect(suggest('has:f', 5, ctx).map((s) => s.label)).toEqual(['has:file']);
    expect(suggest('before:', 7, ctx)[0].label).toMatch(/^before:2026-01-1\d$/);
    expect(suggest('before:2026-01-01', 17, ctx)).toEqual([]);
  });

  it('replaces the token under the caret', () => {
    expect(tokenAt('a from:b c', 8)).toEqual({ text: 'from:b', start: 2, end: 8 });
    expect(applySuggestion('a from:b c', 8, 'from:bob ')).toEqual({ q: 'a from:bob c', caret: 11 });
    expect(applySuggestion('', 0, 'in:')).toEqual({ q: 'in:', caret: 3 });
    expect(applySuggestion('x fr', 4, 'from:')).toEqual({ q: 'x from:', caret: 7 });
  });
});
