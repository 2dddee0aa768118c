// The box's music library (`/api/music/tracks`) without IO: the words for a failed upload,
// a track's line, and keeping a listing true as `track.create` / `track.delete` arrive.
// lib/library.svelte.ts is the shell.

import { formatBytes, uploadErrorText } from './upload';
import type { Track } from './types';

export const PAGE = 50;

/** Words for a library upload the box refused (`POST /api/music/tracks`). */
export function musicUploadErrorText(filename: string, status: number, body: unknown): string {
  const err = (body as { error?: Record<string, unknown> } | null)?.error;
  const code = typeof err?.code === 'string' ? err.code : '';
  const msg = typeof err?.message === 'string' ? err.message : '';
  const name = `“${filename}”`;
  if (code === 'unsupported_format') return `${name} is not music the box can play${msg ? `: ${msg}` : ' (try MP3, FLAC, Ogg, Opus, AAC or WAV).'}`;
  if (code === 'track_exists') return `${name} is already in the library${msg ? `: ${msg}` : '.'}`;
  if (code === 'corrupt') return `${name} could not be read: the file looks damaged${msg ? ` (${msg})` : '.'}`;
  return uploadErrorText(filename, status, body);
}

/** "Artist · Album", whichever the tags say. */
export function byLine(t: Pick<Track, 'artist' | 'album'>): string {
  return [t.artist, t.album].filter((x) => !!x && x.trim()).join(' · ');
}

/** The track's file, for a screen reader after its title: "FLAC, 4.2 MB". */
export function fileLine(t: Pick<Track, 'codec' | 'size'>): string {
  return [t.codec.toUpperCase(), formatBytes(t.size)].filter(Boolean).join(', ');
}

/** Does the listing's search match this track? Words are prefixes, all of them must match
 * (the box's FTS5 search by prefix words; close enough to place a new track live). */
export function matches(t: Pick<Track, 'title' | 'artist' | 'album' | 'filename'>, q: string): boolean {
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const hay = `${t.title} ${t.artist} ${t.album} ${t.filename}`.toLowerCase().split(/[^\p{L}\p{N}]+/u);
  return words.every((w) => {
    const bare = w.replace(/[^\p{L}\p{N}]+/gu, '');
    return !bare || hay.some((h) => h.startsWith(bare));
  });
}

export interface Listing {
  q: string;
  tracks: Track[];
  total: number;
}

/** A `track.create`: new tracks come first when they match the search (no duplicates). */
export function withCreated(l: Listing, t: Track): Listing {
  if (l.tracks.some((x) => x.id === t.id) || !matches(t, l.q)) return l;
  return { ...l, tracks: [t, ...l.tracks], total: l.total + 1 };
}

/** A `track.delete`. */
export function withDeleted(l: Listing, id: string): Listing {
  if (!l.tracks.some((x) => x.id === id)) return l;
  return { ...l, tracks: l.tracks.filter((x) => x.id !== id), total: Math.max(0, l.total - 1) };
}

/** A next page appended (tracks that arrived live meanwhile are not repeated). */
export function withPage(l: Listing, page: Track[], total: number): Listing {
  const have = new Set(l.tracks.map((t) => t.id));
  return { ...l, tracks: [...l.tracks, ...page.filter((t) => !have.has(t.id))], total };
}
