import { describe, expect, it } from 'vitest';
import { announcement, Batcher, spokenText } from '../src/lib/announce';

describe('live region announcements', () => {
  it('reads a message as author and plain text', () => {
    expect(announcement([{ author: 'Bob', text: spokenText('the canoe is **booked**', []) }])).toBe('Bob: the canoe is booked');
  });

  it('says what a message without text carries', () => {
    expect(spokenText('', [{ content_type: 'image/png' }])).toBe('sent an image');
    expect(spokenText('', [{ content_type: 'application/pdf' }])).toBe('sent a file');
    expect(spokenText('', [{ content_type: 'image/png' }, { content_type: 'image/png' }])).toBe('sent 2 files');
  });

  it('cuts very long messages', () => {
    const t = spokenText('x'.repeat(5000), []);
    expect(t.length).toBe(200);
    expect(t.endsWith('…')).toBe(true);
  });

  it('reads up to three one by one, sums up more', () => {
    const h = (author: string, text: string) => ({ author, text });
    expect(announcement([h('Bob', 'a'), h('Cy', 'b')])).toBe('Bob: a\nCy: b');
    expect(announcement([h('Bob', 'a'), h('Cy', 'b'), h('Bob', 'c'), h('Di', 'd')])).toBe(
      '4 new messages from Bob, Cy and Di. Latest, Di: d',
    );
    const many = ['A', 'B', 'C', 'D', 'E'].map((a) => h(a, 'x'));
    expect(announcement(many)).toBe('5 new messages from 5 people. Latest, E: x');
  });

  it('waits for messages arriving together and keeps announcements apart', () => {
    const b = new Batcher(400, 2500);
    expect(b.push({ author: 'Bob', text: 'one' }, 1000)).toBe(1400);
    expect(b.push({ author: 'Bob', text: 'two' }, 1100)).toBe(1500);
    expect(b.flush(1400)).toBe('Bob: one\nBob: two');
    expect(b.pending).toBe(0);
    // Right after speaking, the next one waits for the gap.
    expect(b.push({ author: 'Cy', text: 'three' }, 1500)).toBe(3900);
    expect(b.flush(3900)).toBe('Cy: three');
    expect(b.flush(4000)).toBe('');
  });
});
