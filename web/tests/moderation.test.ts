import { describe, expect, it } from 'vitest';
import { dmLabel, formatUntil, parseDuration, timedOutText, timeoutEnd } from '../src/lib/moderation';

describe('timeouts', () => {
  it('parses durations within the box’s range', () => {
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('2h')).toBe(120);
    expect(parseDuration('1.5 hours')).toBe(90);
    expect(parseDuration('3d')).toBe(4320);
    expect(parseDuration('1w')).toBe(10080);
    expect(parseDuration('4w')).toBe(40320);
    expect(parseDuration('5w')).toBeNull();
    expect(parseDuration('0')).toBeNull();
    expect(parseDuration('-5')).toBeNull();
    expect(parseDuration('soon')).toBeNull();
  });

  it('words the end time', () => {
    const now = new Date(2026, 0, 15, 10, 0).getTime();
    expect(formatUntil(new Date(2026, 0, 15, 14, 5).getTime(), now)).toBe('14:05');
    expect(formatUntil(new Date(2026, 0, 16, 9, 7).getTime(), now)).toMatch(/^\w{3} 09:07$/);
    expect(formatUntil(new Date(2026, 1, 20, 9, 7).getTime(), now)).toBe('2026-02-20 09:07');
    expect(timedOutText(new Date(2026, 0, 15, 14, 5).getTime(), now)).toBe('You are timed out until 14:05');
  });

  it('knows whether a timeout is running', () => {
    expect(timeoutEnd({ timeout_until: 2000 }, 1000)).toBe(2000);
    expect(timeoutEnd({ timeout_until: 500 }, 1000)).toBeNull();
    expect(timeoutEnd({ timeout_until: null }, 1000)).toBeNull();
    expect(timeoutEnd({}, 1000)).toBeNull();
    expect(timeoutEnd(null, 1000)).toBeNull();
    expect(timeoutEnd({ timeout_until: '3000' }, 1000)).toBe(3000);
  });
});

describe('labels', () => {
  const names: Record<string, string> = { '1': 'Me', '2': 'Bob', '3': 'Ann' };
  const nameOf = (id: string) => names[id] ?? '?';
  it('names a DM by its other members', () => {
    expect(dmLabel(['1', '2'], '1', nameOf)).toBe('Bob');
    expect(dmLabel(['1', '2', '3'], '1', nameOf)).toBe('Ann, Bob');
    expect(dmLabel(['1'], '1', nameOf)).toBe('Only you');
    expect(dmLabel(undefined, '1', nameOf, 'dm-7')).toBe('dm-7');
  });
});

import { formatSize } from '../src/lib/size';

describe('sizes', () => {
  it('uses the config’s binary units', () => {
    expect(formatSize(0)).toBe('0 bytes');
    expect(formatSize(1)).toBe('1 byte');
    expect(formatSize(1536)).toBe('1.5 KB');
    expect(formatSize(25 * 1024 * 1024)).toBe('25 MB');
    expect(formatSize(1024 * 1024 * 1024)).toBe('1 GB');
    expect(formatSize(150.4 * 1024 * 1024)).toBe('150 MB');
    expect(formatSize(undefined)).toBe('?');
    expect(formatSize(-1)).toBe('?');
  });
});
