import { describe, expect, it } from 'vitest';
import { byLine, fileLine, matches, musicUploadErrorText, withCreated, withDeleted, withPage, type Listing } from '../src/lib/music';
import type { Track } from '../src/lib/types';

function track(id: string, over: Partial<Track> = {}): Track {
  return {
    id,
    title: `Song ${id}`,
    artist: 'Band',
    album: '',
    track_no: null,
    duration_ms: 1000,
    codec: 'flac',
    filename: `song-${id}.flac`,
    size: 2048,
    cover_url: null,
    uploaded_by: '1',
    created_at: 0,
    ...over,
  };
}

describe('library uploads in words', () => {
  it("names the file and says what the box refused", () => {
    expect(musicUploadErrorText('a.txt', 415, { error: { code: 'unsupported_format', message: '' } })).toBe(
      '“a.txt” is not music the box can play (try MP3, FLAC, Ogg, Opus, AAC or WAV).',
    );
    expect(musicUploadErrorText('a.flac', 409, { error: { code: 'track_exists', message: 'as “Song 3”' } })).toBe(
      '“a.flac” is already in the library: as “Song 3”',
    );
    expect(musicUploadErrorText('a.mp3', 422, { error: { code: 'corrupt' } })).toBe('“a.mp3” could not be read: the file looks damaged.');
  });

  it('falls back to the upload words (size limit, no connection)', () => {
    expect(musicUploadErrorText('big.wav', 413, { error: { code: 'file_too_large', max_bytes: 200 * 1024 * 1024 } })).toBe(
      '“big.wav” is too large: files can be at most 200 MB.',
    );
    expect(musicUploadErrorText('x.wav', 0, null)).toMatch(/can't reach the Spot box/);
  });
});

describe('a track line', () => {
  it('joins what the tags say', () => {
    expect(byLine({ artist: 'Band', album: 'LP' })).toBe('Band · LP');
    expect(byLine({ artist: '', album: 'LP' })).toBe('LP');
    expect(byLine({ artist: ' ', album: '' })).toBe('');
    expect(fileLine({ codec: 'flac', size: 4.2 * 1024 * 1024 })).toBe('FLAC, 4.2 MB');
  });
});

describe('a live listing', () => {
  const l: Listing = { q: '', tracks: [track('1')], total: 1 };

  it('puts a new track first, once', () => {
    const n = withCreated(l, track('2'));
    expect(n.tracks.map((t) => t.id)).toEqual(['2', '1']);
    expect(n.total).toBe(2);
    expect(withCreated(n, track('2'))).toBe(n);
  });

  it('leaves out a new track that does not match the search (prefix words)', () => {
    const s: Listing = { q: 'sun ban', tracks: [], total: 0 };
    expect(withCreated(s, track('3', { title: 'Sunrise', artist: 'Bandit' })).tracks).toHaveLength(1);
    expect(withCreated(s, track('4', { title: 'Moonrise', artist: 'Bandit' })).tracks).toHaveLength(0);
    expect(matches(track('5', { title: 'Hello-World' }), 'wor')).toBe(true);
  });

  it('drops a deleted track and pages without repeats', () => {
    expect(withDeleted(l, '1')).toEqual({ q: '', tracks: [], total: 0 });
    expect(withDeleted(l, '9')).toBe(l);
    const p = withPage({ q: '', tracks: [track('3'), track('2')], total: 3 }, [track('2'), track('1')], 3);
    expect(p.tracks.map((t) => t.id)).toEqual(['3', '2', '1']);
  });
});
