import { describe, expect, it } from 'vitest';
import { qrMatrix, qrPath, versionFor } from '../src/lib/qr';
// Golden matrices (versions 1, 5, 8 with version information, 13 with a 16-bit count), each read
// back by an independent decoder (zbarimg) when they were made: a change that moves a module fails.
import fixtures from './qr.fixtures.json';

const rows = (m: boolean[][]) => m.map((r) => r.map((c) => (c ? '1' : '0')).join(''));

describe('QR encoder', () => {
  for (const f of fixtures) {
    it(`matches the reference for ${new TextEncoder().encode(f.text).length} bytes (version ${f.version}, mask ${f.mask})`, () => {
      expect(versionFor(new TextEncoder().encode(f.text).length)).toBe(f.version);
      expect(rows(qrMatrix(f.text, f.mask))).toEqual(f.rows);
    });
  }

  it('picks a mask by itself and draws a path', () => {
    const m = qrMatrix('http://spot.local/invite/abc');
    expect(m.length).toBe(29);
    expect(qrPath(m)).toMatch(/^M4 4h7v1h-7z/);
  });

  it('refuses text too long for any version', () => {
    expect(() => qrMatrix('x'.repeat(3000))).toThrow();
  });
});
