// Faces without IO: the generated default avatar (initials on a colour from the user id), avatar
// URLs, a member's name colour from their roles, WCAG contrast, and the square a crop view shows.

import type { RoleDef, User } from './types';

/**
 * Backgrounds for the default avatar. Each keeps white initials at WCAG AA (4.5:1 or more; see
 * tests/faces.test.ts), and differs enough in hue to tell people apart.
 */
export const DEFAULT_COLOURS = ['#4c3fb4', '#0b6e61', '#a3401c', '#1d62a8', '#94275f', '#3a6b1c', '#7a4f00', '#6b3fa0', '#b3261e', '#3d5a73'];

/** FNV-1a over the id's characters: the same id gives the same colour on every screen. */
export function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function defaultColour(userId: string): string {
  return DEFAULT_COLOURS[hashId(userId) % DEFAULT_COLOURS.length];
}

/** One or two letters: the first of the first two words ("Ann Lee" → "AL"); an emoji stays whole. */
export function initials(name: string): string {
  const words = name.trim().split(/[\s._-]+/u).filter(Boolean);
  const first = (w: string) => Array.from(w)[0] ?? '';
  const s = words.length >= 2 ? first(words[0]) + first(words[1]) : Array.from(words[0] ?? '?').slice(0, 1).join('');
  return s.toLocaleUpperCase() || '?';
}

/** The side of the stored copy that serves a shown size sharply (the box keeps 64 and 256). */
export function copySide(size: number, dpr = 2): 64 | 256 {
  return size * dpr <= 64 ? 64 : 256;
}

/** `/api/avatars/{side}/{name}`, or null for the generated default. */
export function avatarUrl(user: Pick<User, 'avatar'> | undefined, size: number): string | null {
  const name = user?.avatar;
  if (!name) return null;
  return `/api/avatars/${copySide(size)}/${encodeURIComponent(name)}`;
}

/** The highest-positioned role of theirs that has a colour (`roles` sorted by position, ascending). */
export function topColouredRole(user: Pick<User, 'role_ids'> | undefined, roles: readonly RoleDef[]): RoleDef | null {
  if (!user) return null;
  let best: RoleDef | null = null;
  for (const r of roles) {
    if (r.color && user.role_ids.includes(r.id) && (!best || r.position >= best.position)) best = r;
  }
  return best;
}

export function nameColour(user: Pick<User, 'role_ids'> | undefined, roles: readonly RoleDef[]): string | null {
  return topColouredRole(user, roles)?.color ?? null;
}

/** Their roles (not @everyone), highest first. */
export function rolesOf(user: Pick<User, 'role_ids'> | undefined, roles: readonly RoleDef[]): RoleDef[] {
  if (!user) return [];
  return roles.filter((r) => user.role_ids.includes(r.id)).sort((a, b) => b.position - a.position);
}

function channel(v: number): number {
  const c = v / 255;
  return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** Relative luminance of `#rrggbb` (WCAG 2). */
export function luminance(hex: string): number {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) return 0;
  const n = parseInt(m[1], 16);
  return 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
}

/** WCAG contrast ratio between two `#rrggbb` colours (1 to 21). */
export function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

/**
 * What names are read on in each theme: app.css `--bg-2` (the hover and panel background, a
 * little darker than `--bg` in light and lighter in dark, so readable there is readable on both).
 */
export const THEME_BACKGROUNDS = { light: '#f3f4f7', dark: '#1f2229' } as const;

function hex(n: number): string {
  return Math.round(Math.min(255, Math.max(0, n))).toString(16).padStart(2, '0');
}

/**
 * `colour`, mixed toward black (on a light background) or white (on a dark one) just enough to
 * reach `min` contrast with `bg`: a role colour stays recognisable and its names stay readable.
 */
export function readableOn(colour: string, bg: string, min = 4.5): string {
  const m = /^#?([0-9a-f]{6})$/i.exec(colour.trim());
  if (!m) return colour;
  const n = parseInt(m[1], 16);
  const rgb = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  const target = luminance(bg) > 0.18 ? 0 : 255;
  for (let t = 0; t <= 1.0001; t += 0.05) {
    const c = '#' + rgb.map((v) => hex(v + (target - v) * t)).join('');
    if (contrast(c, bg) >= min) return c;
  }
  return target === 0 ? '#000000' : '#ffffff';
}

/** The colour a name is shown in per theme (app.css `.role-name` picks one). */
export function themeColours(colour: string): { light: string; dark: string } {
  return { light: readableOn(colour, THEME_BACKGROUNDS.light), dark: readableOn(colour, THEME_BACKGROUNDS.dark) };
}

/**
 * Words for the admin about how a role colour is shown. No colour reads at 4.5:1 on both a light
 * and a dark background, so names are shown adjusted on the theme where it falls short.
 */
export function colourNote(colour: string): string {
  const short = (bg: string) => contrast(colour, bg) < 4.5;
  const light = short(THEME_BACKGROUNDS.light);
  const dark = short(THEME_BACKGROUNDS.dark);
  if (light && dark) return 'Names are shown darker on the light theme and lighter on the dark one, so they stay readable.';
  if (light) return 'Shown as chosen on the dark theme, a little darker on the light one, so names stay readable.';
  if (dark) return 'Shown as chosen on the light theme, a little lighter on the dark one, so names stay readable.';
  return 'Names in this colour read well on both themes.';
}

/** A square crop in image pixels. */
export interface Square {
  x: number;
  y: number;
  side: number;
}

/**
 * The square a crop view shows: the picture scaled so its shorter side fills the view at zoom
 * 1 (up to 4× closer), shifted by the pan. Kept inside the picture, in whole pixels.
 */
export function cropSquare(w: number, h: number, zoom: number, cx: number, cy: number): Square {
  const z = Math.min(4, Math.max(1, zoom));
  const side = Math.max(1, Math.floor(Math.min(w, h) / z));
  const x = Math.round(Math.min(Math.max(0, cx - side / 2), w - side));
  const y = Math.round(Math.min(Math.max(0, cy - side / 2), h - side));
  return { x, y, side };
}
