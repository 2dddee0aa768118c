import { describe, expect, it } from 'vitest';
import { formatDuration, nextQuietHour, phaseWords, progressFraction, progressWords, recordWords, slotWords, type OtaPhase } from '../src/lib/updates';

const idle: OtaPhase = { phase: 'idle', version: null, done: null, total: null, speed: null, eta: null, commit_in: null };

describe('update words', () => {
  it('progress names bytes, speed and time left', () => {
    const p: OtaPhase = { ...idle, phase: 'installing', version: '0.2.0', done: 50 << 20, total: 200 << 20, speed: 5 << 20, eta: 30 };
    expect(progressWords(p)).toBe('50 MB of 200 MB checked and written · 5 MB/s · about 30 s left');
    expect(progressFraction(p)).toBe(0.25);
    expect(progressFraction(idle)).toBeNull();
    expect(progressFraction({ ...p, total: 0 })).toBeNull();
  });

  it('durations read like people say them', () => {
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(3900)).toBe('1 h 5 min');
    expect(formatDuration(-3)).toBe('0 s');
  });

  it('every outcome and refusal is a sentence', () => {
    expect(recordWords({ at: 0, outcome: 'install_failed', version: null, code: 'wrong_key', message: 'x' })).toBe(
      'An update was refused: it was not signed by the key this box trusts.',
    );
    expect(recordWords({ at: 0, outcome: 'install_failed', version: null, code: 'boot_file_refused', message: 'x' })).toBe(
      'An update was refused: it brings boot files this box cannot take safely.',
    );
    expect(recordWords({ at: 0, outcome: 'install_failed', version: null, code: 'new_code', message: 'Something odd' })).toBe(
      'An update was refused: Something odd.',
    );
    expect(recordWords({ at: 0, outcome: 'rolled_back', version: '0.3.0', code: null, message: 'it never became ready' })).toContain(
      'Version 0.3.0 was rolled back: it never became ready',
    );
    expect(recordWords({ at: 0, outcome: 'committed', version: '0.2.0', code: null, message: null })).toContain('is now');
    expect(phaseWords({ ...idle, phase: 'trial', version: '0.2.0', commit_in: 40 })).toContain('40 s more');
    expect(phaseWords({ ...idle, phase: 'staged', version: '0.2.0' })).toContain('Restart');
  });

  it('slots say what they hold', () => {
    expect(slotWords({ name: 'A', version: '0.1.0', state: 'good', running: true, primary: true, trial: false })).toBe(
      'Version 0.1.0 (running now, the box’s system)',
    );
    expect(slotWords({ name: 'B', version: '', state: 'empty', running: false, primary: false, trial: false })).toBe('Empty');
  });
});

describe('scheduled restart', () => {
  it('picks the next 4:00 local time', () => {
    const evening = new Date(2026, 11, 3, 21, 30).getTime();
    expect(new Date(nextQuietHour(evening) * 1000)).toEqual(new Date(2026, 11, 4, 4, 0));
    const early = new Date(2026, 11, 3, 2, 0).getTime();
    expect(new Date(nextQuietHour(early) * 1000)).toEqual(new Date(2026, 11, 3, 4, 0));
    const exactly = new Date(2026, 11, 3, 4, 0).getTime();
    expect(new Date(nextQuietHour(exactly) * 1000)).toEqual(new Date(2026, 11, 4, 4, 0));
  });
});
