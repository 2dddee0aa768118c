import { describe, expect, it } from 'vitest';
import {
  DEFAULT_COLOURS,
  avatarUrl,
  colourNote,
  contrast,
  copySide,
  cropSquare,
  defaultColour,
  initials,
  nameColour,
  rolesOf,
  themeColours,
  THEME_BACKGROUNDS,
} from '../src/lib/faces';
import type { RoleDef } from '../src/lib/types';

const role = (id: string, position: number, color: string): RoleDef => ({ id, name: `r${id}`, color, position, permissions: [] });

describe('default avatars', () => {
  it('keep white initials readable on every colour (WCAG AA)', () => {
    for (const c of DEFAULT_COLOURS) expect(contrast('#ffffff', c), c).toBeGreaterThanOrEqual(4.5);
  });
  it('are the same for the same id and spread over the palette', () => {
    expect(defaultColour('42')).toBe(defaultColour('42'));
    const seen = new Set(Array.from({ length: 50 }, (_, i) => defaultColour(String(i + 1))));
    expect(seen.size).toBeGreaterThanOrEqual(6);
  });
  it('take initials from the first two words', () => {
    expect(initials('Ann Lee')).toBe('AL');
    expect(initials('bob')).toBe('B');
    expect(initials('  émile  zola ')).toBe('ÉZ');
    expect(initials('🎸 band')).toBe('🎸B');
    expect(initials('')).toBe('?');
  });
});

describe('avatar urls', () => {
  it('pick the copy that is sharp at the shown size', () => {
    expect(copySide(32)).toBe(64);
    expect(copySide(40)).toBe(256);
    expect(avatarUrl({ avatar: 'ab.jpg' }, 24)).toBe('/api/avatars/64/ab.jpg');
    expect(avatarUrl({ avatar: 'ab.jpg' }, 96)).toBe('/api/avatars/256/ab.jpg');
    expect(avatarUrl({ avatar: null }, 96)).toBeNull();
    expect(avatarUrl(undefined, 96)).toBeNull();
  });
});

describe('role colours', () => {
  const roles = [role('1', 0, ''), role('2', 1, '#2b8a3e'), role('3', 2, ''), role('4', 3, '#c92a2a')];
  it('come from the highest-positioned role that has one', () => {
    expect(nameColour({ role_ids: ['2', '3'] }, roles)).toBe('#2b8a3e');
    expect(nameColour({ role_ids: ['2', '4'] }, roles)).toBe('#c92a2a');
    expect(nameColour({ role_ids: ['3'] }, roles)).toBeNull();
    expect(rolesOf({ role_ids: ['2', '4'] }, roles).map((r) => r.id)).toEqual(['4', '2']);
  });
  it('are checked against both themes', () => {
    expect(colourNote('#ffff00')).toMatch(/as chosen on the dark theme, a little darker on the light/);
    expect(colourNote('#101010')).toMatch(/as chosen on the light theme, a little lighter on the dark/);
    expect(colourNote('#808080')).toMatch(/darker on the light theme and lighter on the dark/);
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
  });
  it('are shown readable on each theme, as close to the chosen colour as that allows', () => {
    for (const c of ['#ffff00', '#3b5bdb', '#2b8a3e', '#101010', '#c92a2a', '#ffffff']) {
      const t = themeColours(c);
      expect(contrast(t.light, THEME_BACKGROUNDS.light), `${c} light`).toBeGreaterThanOrEqual(4.5);
      expect(contrast(t.dark, THEME_BACKGROUNDS.dark), `${c} dark`).toBeGreaterThanOrEqual(4.5);
    }
    // Already readable: unchanged.
    expect(themeColours('#1d62a8').light).toBe('#1d62a8');
  });
});

describe('the crop square', () => {
  it('fills the shorter side at zoom 1 and stays inside the picture', () => {
    expect(cropSquare(400, 200, 1, 200, 100)).toEqual({ x: 100, y: 0, side: 200 });
    expect(cropSquare(400, 200, 2, 0, 0)).toEqual({ x: 0, y: 0, side: 100 });
    expect(cropSquare(400, 200, 2, 1000, 1000)).toEqual({ x: 300, y: 100, side: 100 });
    expect(cropSquare(400, 200, 99, 200, 100).side).toBe(50);
  });
});
