import { describe, expect, it } from 'vitest';
import { grade, qualityWords, tileColumns } from '../src/lib/quality';

describe('quality', () => {
  it('grades like the box does, with jitter for my own figures', () => {
    expect(grade(5, 0)).toBe('good');
    expect(grade(null, 0)).toBe('good');
    expect(grade(200, 1.9)).toBe('good');
    expect(grade(201, 0)).toBe('fair');
    expect(grade(20, 2)).toBe('fair');
    expect(grade(401, 0)).toBe('poor');
    expect(grade(20, 8)).toBe('poor');
    expect(grade(20, 0, 31)).toBe('fair');
    expect(grade(20, 0, 61)).toBe('poor');
  });
  it('says the figures in words', () => {
    expect(qualityWords({ grade: 'good', rtt_ms: 12.4, loss_pct: 0 })).toBe('Connection good: 12 ms round trip, 0.0 % loss');
    expect(qualityWords({ grade: 'poor', rtt_ms: null, loss_pct: 12.25, jitter_ms: 70 })).toBe('Connection poor: 12.3 % loss, 70 ms jitter');
  });
  it('sizes the grid to the room', () => {
    expect(tileColumns(1, false)).toBe(1);
    expect(tileColumns(2, false)).toBe(2);
    expect(tileColumns(4, false)).toBe(2);
    expect(tileColumns(5, false)).toBe(3);
    expect(tileColumns(12, false)).toBe(4);
    expect(tileColumns(3, true)).toBe(2);
    expect(tileColumns(7, true)).toBe(3);
  });
});
