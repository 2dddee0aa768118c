import { describe, expect, it } from 'vitest';
import { noteTyping, typingText, typingUserIds, type TypingMap } from '../src/lib/typing';

describe('typing indicator', () => {
  it("ignores the echo of my own typing.start (the server sends it back to the sender)", () => {
    const t: TypingMap = {};
    expect(noteTyping(t, { channel_id: '10', user_id: '1' }, '1', 5000)).toBe(false);
    expect(t).toEqual({});
    expect(typingUserIds(t, '10', '1', 0)).toEqual([]);
  });

  it('records others, per channel, until they expire', () => {
    const t: TypingMap = {};
    expect(noteTyping(t, { channel_id: '10', user_id: '2' }, '1', 5000)).toBe(true);
    expect(noteTyping(t, { channel_id: '10', user_id: '3' }, '1', 6000)).toBe(true);
    expect(noteTyping(t, { channel_id: '11', user_id: '3' }, '1', 6000)).toBe(true);
    expect(typingUserIds(t, '10', '1', 1000)).toEqual(['2', '3']);
    expect(typingUserIds(t, '10', '1', 5500)).toEqual(['3']);
    expect(typingUserIds(t, '10', '1', 6000)).toEqual([]);
    expect(typingUserIds(t, '12', '1', 0)).toEqual([]);
  });

  it('never lists me, even if an entry for me got in', () => {
    const t: TypingMap = { '10': { '1': 9000, '2': 9000 } };
    expect(typingUserIds(t, '10', '1', 0)).toEqual(['2']);
  });

  it('drops malformed events and events before I am known', () => {
    const t: TypingMap = {};
    expect(noteTyping(t, null, '1', 5000)).toBe(false);
    expect(noteTyping(t, { channel_id: '10' }, '1', 5000)).toBe(false);
    expect(noteTyping(t, { user_id: '2' }, '1', 5000)).toBe(false);
    expect(noteTyping(t, { channel_id: '10', user_id: '2' }, null, 5000)).toBe(false);
    expect(t).toEqual({});
  });

  it('words the line', () => {
    expect(typingText([])).toBe('');
    expect(typingText(['Bob'])).toBe('Bob is typing…');
    expect(typingText(['Bob', 'Eve'])).toBe('Bob and Eve are typing…');
    expect(typingText(['Bob', 'Eve', 'Ann'])).toBe('Bob, Eve and Ann are typing…');
    expect(typingText(['Bob', 'Eve', 'Ann', 'Joe'])).toBe('Several people are typing…');
  });
});
