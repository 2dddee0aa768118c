import { describe, expect, it } from 'vitest';
import { nextTri, OVERRIDE_PERMS, PERMS, setTri, triOf } from '../src/lib/overrides';

describe('override tri-state', () => {
  it('reads allow, deny and inherit (deny wins when both)', () => {
    const ov = { allow: ['view', 'pin'] as const, deny: ['send', 'pin'] as const };
    const o = { allow: [...ov.allow], deny: [...ov.deny] };
    expect(triOf(o, 'view')).toBe('allow');
    expect(triOf(o, 'send')).toBe('deny');
    expect(triOf(o, 'pin')).toBe('deny');
    expect(triOf(o, 'manage_channel')).toBe('inherit');
    expect(triOf(null, 'view')).toBe('inherit');
  });

  it('sets one permission without touching the others, no duplicates, stable order', () => {
    let ov = setTri(null, 'send', 'deny');
    expect(ov).toEqual({ allow: [], deny: ['send'] });
    ov = setTri(ov, 'view', 'allow');
    ov = setTri(ov, 'view', 'allow');
    expect(ov).toEqual({ allow: ['view'], deny: ['send'] });
    ov = setTri(ov, 'send', 'allow');
    expect(ov).toEqual({ allow: ['view', 'send'], deny: [] });
    ov = setTri(ov, 'view', 'inherit');
    ov = setTri(ov, 'send', 'inherit');
    expect(ov).toEqual({ allow: [], deny: [] });
    // a broken input (both lists) is repaired; null only tidies up
    expect(setTri({ allow: ['pin', 'view'], deny: ['pin'] }, 'send', 'inherit')).toEqual({ allow: ['view'], deny: ['pin'] });
    expect(setTri({ allow: ['send', 'view', 'view'], deny: [] }, null, 'inherit')).toEqual({ allow: ['view', 'send'], deny: [] });
  });

  it('cycles', () => {
    expect(nextTri('allow')).toBe('inherit');
    expect(nextTri('inherit')).toBe('deny');
    expect(nextTri('deny')).toBe('allow');
  });

  it('offers every permission but moderate and dj in overrides (roles only)', () => {
    expect(PERMS.map((p) => p.id)).toEqual(['view', 'send', 'manage_messages', 'pin', 'manage_channel', 'moderate', 'dj']);
    expect(OVERRIDE_PERMS.map((p) => p.id)).not.toContain('moderate');
    expect(OVERRIDE_PERMS.map((p) => p.id)).not.toContain('dj');
  });
});
