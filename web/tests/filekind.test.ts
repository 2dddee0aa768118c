import { describe, expect, it } from 'vitest';
import { fileKind } from '../src/lib/filekind';

describe('file kinds in words', () => {
  it('names a file by its extension before a MIME type that says nothing', () => {
    expect(fileKind('notes.txt', 'application/octet-stream')).toBe('Text file');
    expect(fileKind('Report.PDF', 'application/octet-stream')).toBe('PDF document');
    expect(fileKind('song.mp3', 'audio/mpeg')).toBe('Audio (MP3)');
  });
  it('falls back to the type family, then the extension, then "File"', () => {
    expect(fileKind('clip', 'video/x-weird')).toBe('Video');
    expect(fileKind('data.xyz', 'application/octet-stream')).toBe('XYZ file');
    expect(fileKind('blob', 'application/octet-stream')).toBe('File');
    expect(fileKind('blob')).toBe('File');
  });
});
