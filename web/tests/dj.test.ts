import { describe, expect, it } from 'vitest';
import {
  addLine,
  clockOffset,
  djAudioKey,
  formatDuration,
  isMine,
  libraryCommand,
  LINES_KEPT,
  moveUpCommand,
  nextLoop,
  nowTitle,
  placeLines,
  positionAt,
  queueSummary,
  removeCommand,
  roomFromPayload,
  skipLabel,
  spokenDuration,
  stateWords,
  volumeCommand,
  type DjEntry,
  type DjNowPlaying,
  type DjView,
} from '../src/lib/dj';

function entry(over: Partial<DjEntry['track']> = {}, requester = 7): DjEntry {
  return {
    id: 1,
    track: { source: 'library:12', title: 'Tone', artist: 'Osc', album: null, duration_ms: 180_000, cover: null, live: false, ...over },
    requester: { id: requester, name: 'Bob' },
    queued_at_ms: 0,
  };
}

function np(over: Partial<DjNowPlaying> = {}): DjNowPlaying {
  return { entry: entry(), state: 'playing', position_ms: 0, started_at_ms: 1_000_000, live: false, icy_title: null, ...over };
}

const view: DjView = {
  now_playing: null,
  queue: [],
  queue_total: 0,
  queue_ms: 0,
  queue_open_ended: false,
  volume: 100,
  loop_mode: 'off',
  fairqueue: false,
  skip_votes: { count: 0, needed: 0 },
  history_len: 0,
  joined: false,
};

describe('the position clock', () => {
  it("maps the box's clock onto ours from server_time", () => {
    // The box is 5 s ahead of this browser.
    expect(clockOffset(1_005_000, 1_000_000)).toBe(5000);
    expect(clockOffset(Number.NaN, 1_000_000)).toBe(0);
  });

  it('counts from started_at_ms while playing (server now − start)', () => {
    const offset = clockOffset(1_030_000, 1_025_000); // box 5 s ahead
    // Client 1_025_000 is box 1_030_000: 30 s into a track that started at box 1_000_000.
    expect(positionAt(np(), offset, 1_025_000)).toBe(30_000);
    expect(positionAt(np(), offset, 1_026_500)).toBe(31_500);
  });

  it('never runs past the end or before the start', () => {
    expect(positionAt(np(), 0, 1_000_000 + 999_999)).toBe(180_000);
    expect(positionAt(np(), 0, 900_000)).toBe(0);
  });

  it('stands still when paused, loading or stopped (the told position)', () => {
    for (const state of ['paused', 'loading', 'stopped'] as const) {
      expect(positionAt(np({ state, position_ms: 42_000 }), 0, 5_000_000)).toBe(42_000);
    }
    // Playing without a start (not yet known): the told position too.
    expect(positionAt(np({ started_at_ms: null, position_ms: 7000 }), 0, 5_000_000)).toBe(7000);
  });

  it('keeps counting a live stream (no length)', () => {
    const live = np({ entry: entry({ duration_ms: null, live: true }), live: true });
    expect(positionAt(live, 0, 1_000_000 + 3_600_000)).toBe(3_600_000);
  });

  it('reads a dj.state or GET answer, and refuses what is not one', () => {
    const got = roomFromPayload({ channel_id: 9, dj: view, server_time: 2000 }, 1500);
    expect(got).toEqual({ channelId: '9', room: { view, offsetMs: 500 } });
    expect(roomFromPayload(null, 0)).toBeNull();
    expect(roomFromPayload({ channel_id: '9' }, 0)).toBeNull();
  });
});

describe('lengths in words', () => {
  it('formats m:ss and h:mm:ss', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(7_999)).toBe('0:07');
    expect(formatDuration(187_000)).toBe('3:07');
    expect(formatDuration(3_729_000)).toBe('1:02:09');
    expect(formatDuration(null)).toBe('0:00');
    expect(formatDuration(-5)).toBe('0:00');
  });

  it('says them for screen readers', () => {
    expect(spokenDuration(187_000)).toBe('3 minutes 7 seconds');
    expect(spokenDuration(60_000)).toBe('1 minute');
    expect(spokenDuration(3_601_000)).toBe('1 hour 1 second');
    expect(spokenDuration(0)).toBe('0 seconds');
  });

  it('sums up the queue', () => {
    expect(queueSummary(view)).toBe('The queue is empty');
    expect(queueSummary({ queue_total: 1, queue_ms: 187_000, queue_open_ended: false })).toBe('1 track · 3:07');
    expect(queueSummary({ queue_total: 3, queue_ms: 680_000, queue_open_ended: true })).toBe('3 tracks · 11:20 and more (a live stream)');
    expect(queueSummary({ queue_total: 1, queue_ms: 0, queue_open_ended: true })).toBe('1 track · open-ended (a live stream)');
  });

  it('names the play state only when it does not simply play', () => {
    expect(stateWords('playing')).toBeNull();
    expect(stateWords('paused')).toBe('Paused');
    expect(stateWords('loading')).toBe('Loading…');
    expect(stateWords('stopped')).toBe('Stopped');
  });

  it("shows a radio's ICY title, with the station under it", () => {
    const radio = np({ entry: entry({ title: 'Radio Paradise', duration_ms: null, live: true }), live: true, icy_title: 'Song – Band' });
    expect(nowTitle(radio)).toEqual({ title: 'Song – Band', by: 'Radio Paradise' });
    expect(nowTitle(np())).toEqual({ title: 'Tone', by: 'Osc' });
    expect(nowTitle(np({ entry: entry({ artist: 'A', album: 'B' }) }))).toEqual({ title: 'Tone', by: 'A · B' });
    expect(nowTitle(np({ entry: entry({ artist: null }) })).by).toBeNull();
  });
});

describe('the commands the buttons send', () => {
  it('volume is a whole number in 0–150', () => {
    expect(volumeCommand(80)).toBe('!volume 80');
    expect(volumeCommand(80.4)).toBe('!volume 80');
    expect(volumeCommand(999)).toBe('!volume 150');
    expect(volumeCommand(-3)).toBe('!volume 0');
    expect(volumeCommand(Number.NaN)).toBe('!volume 100');
  });

  it('queue positions count from 1, as people say them', () => {
    expect(removeCommand(0)).toBe('!remove 1');
    expect(removeCommand(2)).toBe('!remove 3');
    expect(moveUpCommand(0)).toBeNull();
    expect(moveUpCommand(3)).toBe('!move 4 3');
  });

  it('plays and queues library tracks by source key', () => {
    expect(libraryCommand('12')).toBe('!play library:12');
    expect(libraryCommand('12', true)).toBe('!playnext library:12');
  });

  it('loops off → track → queue → off', () => {
    expect(nextLoop('off')).toBe('track');
    expect(nextLoop('track')).toBe('queue');
    expect(nextLoop('queue')).toBe('off');
  });

  it('shows the skip vote while one runs', () => {
    expect(skipLabel({ count: 0, needed: 2 })).toBe('Skip');
    expect(skipLabel({ count: 1, needed: 3 })).toBe('Skip (1/3)');
    expect(skipLabel(undefined)).toBe('Skip');
  });

  it("knows my entries though the DJ's user ids are numbers", () => {
    expect(isMine(entry({}, 7), '7')).toBe(true);
    expect(isMine(entry({}, 7), '8')).toBe(false);
    expect(isMine(entry({}, 7), null)).toBe(false);
  });

  it("finds the DJ's audio by its stream id p<id>", () => {
    expect(djAudioKey({ participant: 'p18446744073709551615', speaking: false, muted: false })).toBe('18446744073709551615');
    expect(djAudioKey(null)).toBeNull();
  });
});

describe('reply lines in the chat', () => {
  const r = (at: number, text = 'x', priv = false) => ({ channel_id: '9', text, private: priv, at });

  it('keeps them in time order, the newest few', () => {
    let lines = addLine([], r(20, 'b'), 'k2');
    lines = addLine(lines, r(10, 'a', true), 'k1');
    expect(lines.map((l) => [l.key, l.text, l.private])).toEqual([
      ['k1', 'a', true],
      ['k2', 'b', false],
    ]);
    for (let i = 0; i < LINES_KEPT + 5; i++) lines = addLine(lines, r(100 + i), `n${i}`);
    expect(lines).toHaveLength(LINES_KEPT);
    expect(lines[0].key).toBe('n5');
  });

  it('places each before the first message after it, the rest at the end', () => {
    const msgs = [
      { id: 'm1', created_at: 100 },
      { id: 'm2', created_at: 200 },
    ];
    const lines = [
      { key: 'a', at: 50 },
      { key: 'b', at: 150 },
      { key: 'c', at: 160 },
      { key: 'd', at: 200 },
      { key: 'e', at: 900 },
    ];
    const p = placeLines(lines, msgs);
    expect(p.before.m1.map((l) => l.key)).toEqual(['a']);
    expect(p.before.m2.map((l) => l.key)).toEqual(['b', 'c']);
    // An answer in the same millisecond as the command comes after it.
    expect(p.after.map((l) => l.key)).toEqual(['d', 'e']);
    expect(placeLines(lines, []).after).toHaveLength(5);
  });
});
