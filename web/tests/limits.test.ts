import { describe, expect, it } from 'vitest';
import {
  charCount,
  counterText,
  DEFAULT_MESSAGE_MAX_CHARS,
  lengthState,
  parseMessageMaxChars,
  tooLongText,
  warnWithin,
} from '../src/lib/limits';

describe('message length limit', () => {
  it('reads limits.message_max_chars and rejects anything else', () => {
    expect(DEFAULT_MESSAGE_MAX_CHARS).toBe(4000);
    expect(parseMessageMaxChars({ message_max_chars: 120 })).toBe(120);
    expect(parseMessageMaxChars(undefined)).toBeNull();
    expect(parseMessageMaxChars(null)).toBeNull();
    expect(parseMessageMaxChars({})).toBeNull();
    expect(parseMessageMaxChars({ message_max_chars: '120' })).toBeNull();
    expect(parseMessageMaxChars({ message_max_chars: 0 })).toBeNull();
    expect(parseMessageMaxChars({ message_max_chars: -5 })).toBeNull();
    expect(parseMessageMaxChars({ message_max_chars: 1.5 })).toBeNull();
  });

  it('counts code points like the server, not UTF-16 units', () => {
    expect(charCount('')).toBe(0);
    expect(charCount('abc')).toBe(3);
    expect(charCount('é')).toBe(1);
    expect(charCount('😀')).toBe(1);
    expect('😀'.length).toBe(2);
    expect(charCount('a😀b😀')).toBe(4);
    // A lone surrogate counts once.
    expect(charCount('\ud83d')).toBe(1);
    expect(charCount('x\ude00')).toBe(2);
  });

  it('shows the counter near the limit and flags going over', () => {
    expect(warnWithin(4000)).toBe(500);
    expect(warnWithin(120)).toBe(24);
    expect(warnWithin(3)).toBe(1);

    expect(lengthState('a'.repeat(3499), 4000)).toMatchObject({ count: 3499, remaining: 501, near: false, over: false });
    expect(lengthState('a'.repeat(3500), 4000)).toMatchObject({ remaining: 500, near: true, over: false });
    expect(lengthState('a'.repeat(4000), 4000)).toMatchObject({ remaining: 0, near: true, over: false });
    expect(lengthState('a'.repeat(3999) + '😀', 4000)).toMatchObject({ count: 4000, over: false });
    expect(lengthState('a'.repeat(4001), 4000)).toMatchObject({ remaining: -1, near: true, over: true });
  });

  it('says it in words', () => {
    expect(counterText(lengthState('a'.repeat(119), 120))).toBe('1 character left');
    expect(counterText(lengthState('a'.repeat(100), 120))).toBe('20 characters left');
    expect(counterText(lengthState('a'.repeat(121), 120))).toBe('1 character over the limit of 120');
    expect(counterText(lengthState('a'.repeat(155), 120))).toBe('35 characters over the limit of 120');
    expect(tooLongText(lengthState('a'.repeat(155), 120))).toBe(
      'Not sent: this message is 155 characters long and the limit is 120. Shorten it by 35 characters.',
    );
    expect(tooLongText(lengthState('a'.repeat(121), 120), 'saved')).toMatch(/^Not saved: .* Shorten it by 1 character\.$/);
  });
});
