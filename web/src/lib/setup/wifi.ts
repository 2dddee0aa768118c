// Words for the Wi-Fi scan list and the network status (helper shapes in ./types).

import type { NetError, NetMode, NetStatus, Security, WifiNetwork } from './types';

/** 0–4 bars from dBm, with the words a screen reader says. */
export function signalBars(dbm: number): { bars: 0 | 1 | 2 | 3 | 4; words: string } {
  if (dbm >= -55) return { bars: 4, words: 'Excellent signal' };
  if (dbm >= -67) return { bars: 3, words: 'Good signal' };
  if (dbm >= -75) return { bars: 2, words: 'Fair signal' };
  if (dbm >= -85) return { bars: 1, words: 'Weak signal' };
  return { bars: 0, words: 'Very weak signal' };
}

export function securityWords(s: Security): string {
  switch (s) {
    case 'open':
      return 'Open (no password)';
    case 'wpa2':
      return 'Secured (WPA2)';
    case 'wpa3':
      return 'Secured (WPA3)';
    case 'wpa2_wpa3':
      return 'Secured (WPA2/WPA3)';
    default:
      return 'Not supported (WEP or enterprise)';
  }
}

export function needsPassword(s: Security): boolean {
  return s !== 'open';
}

/** Strongest first; a network seen on 2.4 and 5 GHz once (the stronger). */
export function sortNetworks(list: WifiNetwork[]): WifiNetwork[] {
  const best = new Map<string, WifiNetwork>();
  for (const n of list) {
    if (!n.ssid) continue;
    const had = best.get(n.ssid);
    if (!had || n.signal_dbm > had.signal_dbm) best.set(n.ssid, n);
  }
  return [...best.values()].sort((a, b) => b.signal_dbm - a.signal_dbm || a.ssid.localeCompare(b.ssid));
}

export function modeWords(s: NetStatus): string {
  const m: Record<NetMode, string> = {
    starting: 'Starting up, looking for a network cable',
    ethernet: 'Connected by cable (Ethernet)',
    access_point: `Serving its own setup Wi-Fi “${s.ap_ssid}”`,
    joining: `Joining the Wi-Fi “${s.ssid ?? ''}”`,
    wifi: `Connected to the Wi-Fi “${s.ssid ?? ''}”`,
    lost: `Lost the Wi-Fi “${s.ssid ?? s.saved_ssid ?? ''}”; the setup Wi-Fi “${s.ap_ssid}” comes back soon`,
  };
  return m[s.mode] ?? s.mode;
}

/** A join failure in words for a person (the helper's message when the code is new to us). */
export function joinErrorWords(e: NetError | null, ssid: string): string {
  if (!e) return `Could not join “${ssid}”. Try again.`;
  switch (e.code) {
    case 'wrong_password':
      return `The password for “${ssid}” was not accepted. Check it (capitals count) and try again.`;
    case 'not_found':
      return `The network “${ssid}” could not be found. Is it in range, and is the name exactly right?`;
    case 'no_address':
      return `Joined “${ssid}”, but its router gave the box no address. Try again, or restart the router.`;
    case 'timeout':
      return `Joining “${ssid}” took too long. Move the box closer to the router and try again.`;
    case 'unsupported_security':
      return `“${ssid}” uses a kind of security the box cannot join (WEP or enterprise).`;
    case 'radio':
      return `The box's Wi-Fi radio had a problem: ${e.message}`;
    default:
      return e.message || `Could not join “${ssid}” (${e.code}).`;
  }
}

/** The address to tell people: the first IPv4 one, else the first. */
export function mainAddress(addresses: string[]): string | null {
  return addresses.find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)) ?? addresses[0] ?? null;
}

/**
 * The wizard's Wi-Fi step: required while the box has no other way onto the home network
 * (its setup access point, or a lost Wi-Fi), optional on Ethernet with a radio, else absent.
 */
export function wifiStepKind(n: NetStatus | null): 'required' | 'optional' | 'none' {
  if (!n || !n.wifi) return 'none';
  if (n.mode === 'access_point' || n.mode === 'lost') return 'required';
  if (n.mode === 'joining') return n.ethernet ? 'optional' : 'required';
  if (n.mode === 'ethernet' || n.ethernet) return 'optional';
  return 'none'; // already on Wi-Fi
}

/** ISO 3166-1 alpha-2 codes for the regulatory domain list. */
export const COUNTRIES = (
  'AD AE AF AG AI AL AM AO AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BM BN BO BR BS BT BW BY BZ ' +
  'CA CD CF CG CH CI CK CL CM CN CO CR CU CV CW CY CZ DE DJ DK DM DO DZ EC EE EG ER ES ET FI FJ FK FM FO FR ' +
  'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GT GU GW GY HK HN HR HT HU ID IE IL IM IN IQ IR IS IT JE JM JO JP ' +
  'KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MG MH MK ML MM MN MO MP MQ MR ' +
  'MS MT MU MV MW MX MY MZ NA NC NE NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PR PS PT PW PY QA RE RO ' +
  'RS RU RW SA SB SC SD SE SG SI SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TG TH TJ TL TM TN TO TR TT TV TW TZ ' +
  'UA UG US UY UZ VA VC VE VG VI VN VU WS YE YT ZA ZM ZW'
).split(' ');

/** The browser's region (de-DE → DE, or the likely one for a bare language), else null. */
export function countryFromLocale(locale: string | undefined): string | null {
  if (!locale) return null;
  try {
    const l = new Intl.Locale(locale);
    const region = l.region ?? l.maximize().region;
    return region && COUNTRIES.includes(region.toUpperCase()) ? region.toUpperCase() : null;
  } catch {
    return null;
  }
}

export function countryName(code: string): string {
  try {
    return new Intl.DisplayNames(['en'], { type: 'region' }).of(code) ?? code;
  } catch {
    return code;
  }
}

/**
 * Where a join stands, from one status poll. Until the box is seen joining, a status without
 * progress may still be the one from before the request, so it only counts after a while.
 */
export function joinOutcome(
  s: NetStatus,
  target: string,
  sawJoining: boolean,
  elapsedMs: number,
): 'waiting' | 'joined' | 'failed' {
  if (s.mode === 'wifi' && s.ssid === target) return 'joined';
  if (s.mode === 'joining' || s.mode === 'starting') return elapsedMs > 120_000 ? 'failed' : 'waiting';
  if (sawJoining) return 'failed';
  return elapsedMs > 6000 ? 'failed' : 'waiting';
}

/** The helper's Wi-Fi password rule (validate.rs `Psk`), in words; null when fine. */
export function wifiPasswordProblem(psk: string): string | null {
  if (/^[0-9a-fA-F]{64}$/.test(psk)) return null;
  if (psk.length < 8 || psk.length > 63) return 'Wi-Fi passwords are 8 to 63 characters long (or 64 hexadecimal digits).';
  if (!/^[\x20-\x7e]*$/.test(psk))
    return 'Wi-Fi passwords may only contain letters, digits, spaces and punctuation without accents.';
  return null;
}

/** The helper's network name rule (validate.rs `Ssid`): 1 to 32 bytes. */
export function ssidProblem(ssid: string): string | null {
  const n = new TextEncoder().encode(ssid).length;
  if (n === 0) return 'Type the network name.';
  if (n > 32 || ssid.includes('\0')) return 'Wi-Fi network names are at most 32 bytes long.';
  return null;
}
