// Box names and time zones as the box reads them.

/**
 * The host name (and mDNS name) the box derives from a free-form box name, exactly as the
 * daemon does (firmware/server/src/firstrun.rs `hostname_for`): lower-case ASCII letters and
 * digits kept, spaces, dashes, underscores and dots become one dash, anything else is dropped;
 * "Anna's Spot" → `annas-spot`; nothing left → `spot`.
 */
const FOLD: [RegExp, string][] = [
  [/[à-åÀ-Å]/, 'a'], [/[æÆ]/, 'ae'], [/[çÇ]/, 'c'], [/[è-ëÈ-Ë]/, 'e'], [/[ì-ïÌ-Ï]/, 'i'], [/[ñÑ]/, 'n'],
  [/[ò-öøÒ-ÖØ]/, 'o'], [/ß/, 'ss'], [/[ù-üÙ-Ü]/, 'u'], [/[ýÿÝ]/, 'y'],
];

/** The host name a box name becomes: the same rule as `setup::validate::Hostname::from_box_name`
 * ("Anna's Café" → `annas-cafe`; apostrophes vanish, other separators become one dash). */
export function hostnameFromBoxName(name: string): string {
  let out = '';
  let dash = false;
  for (const raw of name) {
    const hit = FOLD.find(([re]) => re.test(raw));
    for (const c of hit ? hit[1] : raw) {
      if (c === "'" || c === '\u2019') continue;
      if (/^[A-Za-z0-9]$/.test(c)) {
        if (dash && out) out += '-';
        dash = false;
        out += c.toLowerCase();
      } else {
        dash = true;
      }
    }
    if (out.length >= 63) break;
  }
  out = out.slice(0, 63).replace(/-+$/, '');
  return out || 'spot';
}

/** The box's limit (firmware/server/src/firstrun.rs `box_name`). */
export const BOX_NAME_MAX = 40;

export function boxNameProblem(name: string): string | null {
  if (!name.trim()) return 'Give the box a name.';
  if ([...name.trim()].length > BOX_NAME_MAX) return `The box's name can be at most ${BOX_NAME_MAX} characters.`;
  if (/\p{Cc}/u.test(name)) return "The box's name cannot contain control characters.";
  return null;
}

/** Every IANA zone the browser knows (plus UTC, which some leave out). */
export function timeZones(): string[] {
  let list: string[] = [];
  try {
    list = Intl.supportedValuesOf('timeZone');
  } catch {
    list = [];
  }
  return list.includes('UTC') ? list : [...list, 'UTC'];
}

export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Case-insensitive, treats spaces and underscores alike: "new york" finds America/New_York. */
export function filterZones(zones: string[], query: string): string[] {
  const q = query.trim().toLowerCase().replace(/[\s_]+/g, '_');
  if (!q) return zones;
  return zones.filter((z) => z.toLowerCase().includes(q));
}

export function zoneLabel(z: string): string {
  return z.replace(/_/g, ' ');
}

/** The local time in a zone, e.g. "14:05", or '' if the zone is unknown here. */
export function timeIn(zone: string, now = new Date()): string {
  try {
    return new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit' }).format(now);
  } catch {
    return '';
  }
}

/** The box's user name rule (chat::rules::username), in words; null when fine. */
export function usernameProblem(name: string): string | null {
  const s = name.trim().toLowerCase();
  if (!s) return 'Choose a user name.';
  if (s.length < 2 || s.length > 32 || !/^[a-z0-9][a-z0-9_.-]*$/.test(s))
    return "User names are 2 to 32 characters: letters, digits, '_', '.' or '-', starting with a letter or digit.";
  return null;
}
