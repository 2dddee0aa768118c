// Box names and time zones as the box reads them.

/**
 * The host name the box derives from a free-form box name (the same folding as the box's
 * `Hostname::from_box_name`): "Anna's Spot" → `annas-spot`, "Café Ökö" → `cafe-oko`.
 * Empty when nothing usable is left.
 */
export function hostnameFromBoxName(name: string): string {
  let out = '';
  let dash = false;
  for (const c0 of name) {
    for (const c of fold(c0)) {
      if (c === "'" || c === '\u2019') continue;
      if (/^[A-Za-z0-9]$/.test(c)) {
        if (dash && out) out += '-';
        dash = false;
        out += c.toLowerCase();
      } else dash = true;
    }
    if (out.length >= 63) break;
  }
  out = out.slice(0, 63).replace(/-+$/, '');
  return out === 'localhost' ? '' : out;
}

function fold(c: string): string {
  if (/[à-åÀ-Å]/.test(c)) return 'a';
  if (/[æÆ]/.test(c)) return 'ae';
  if (/[çÇ]/.test(c)) return 'c';
  if (/[è-ëÈ-Ë]/.test(c)) return 'e';
  if (/[ì-ïÌ-Ï]/.test(c)) return 'i';
  if (/[ñÑ]/.test(c)) return 'n';
  if (/[ò-öøÒ-ÖØ]/.test(c)) return 'o';
  if (c === 'ß') return 'ss';
  if (/[ù-üÙ-Ü]/.test(c)) return 'u';
  if (/[ýÿÝ]/.test(c)) return 'y';
  return c;
}

export function boxNameProblem(name: string): string | null {
  if (!name.trim()) return 'Give the box a name.';
  if (!hostnameFromBoxName(name)) return 'The name needs at least one letter (a–z) or digit.';
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
