import { describe, expect, it } from 'vitest';
import { allowEntryProblem, parseAllowlist } from '../src/lib/allowlist';

describe('embed allowlist entries', () => {
  it('accepts hosts, host:port, IPs and networks', () => {
    for (const ok of ['wiki.lan', 'nas.local:8080', '192.168.1.10', '10.0.0.0/8', 'fd00::/8', '[fd00::1]:443', 'example.com'])
      expect(allowEntryProblem(ok), ok).toBeNull();
  });
  it('explains what is wrong', () => {
    expect(allowEntryProblem('http://wiki.lan')).toMatch(/without http/);
    expect(allowEntryProblem('wiki.lan/path')).toMatch(/host, host:port/);
    expect(allowEntryProblem('10.0.0.0/33')).toMatch(/32/);
    expect(allowEntryProblem('nas:99999')).toMatch(/port/);
    expect(allowEntryProblem('bad host')).toMatch(/not a host/);
    expect(allowEntryProblem('under_score.lan')).toMatch(/not a host/);
    expect(allowEntryProblem('')).toMatch(/Empty/);
  });
  it('splits and dedupes', () => {
    expect(parseAllowlist(' Wiki.lan\n10.0.0.0/8, wiki.lan  nas:81\n\n')).toEqual(['wiki.lan', '10.0.0.0/8', 'nas:81']);
  });
});
