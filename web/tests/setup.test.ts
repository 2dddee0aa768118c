import { describe, expect, it } from 'vitest';
import { checkPassword, MIN_PASSWORD } from '../src/lib/setup/password';
import { detectOs, osOrder } from '../src/lib/setup/os';
import { guardRedirect, wizardPending } from '../src/lib/setup/gate';
import { resumeStep, stepsFor } from '../src/lib/setup/steps';
import { boxNameProblem, filterZones, hostnameFromBoxName, usernameProblem } from '../src/lib/setup/names';
import {
  countryFromLocale,
  joinErrorWords,
  joinOutcome,
  mainAddress,
  signalBars,
  sortNetworks,
  ssidProblem,
  wifiPasswordProblem,
  wifiStepKind,
} from '../src/lib/setup/wifi';
import type { NetStatus, SetupInfo } from '../src/lib/setup/types';

function info(over: Partial<SetupInfo> = {}): SetupInfo {
  return {
    claimed: false,
    open: true,
    refusal: null,
    preset_admin: null,
    box_name: 'spot',
    timezone: null,
    complete: false,
    steps: { network: 'todo', tls: 'todo' },
    network: null,
    tls: { enabled: false, ca: true, https_url: 'https://spot.local' },
    urls: ['http://spot.local'],
    ...over,
  };
}

function net(over: Partial<NetStatus> = {}): NetStatus {
  return {
    mode: 'access_point',
    wifi: true,
    ethernet: false,
    ssid: null,
    signal_dbm: null,
    ap_ssid: 'Spot-Setup-AB12',
    addresses: ['192.168.4.1'],
    hostname: 'spot',
    country: null,
    last_error: null,
    ...over,
  };
}

describe('password strength (the box rules, firmware/server/src/strength.rs)', () => {
  it('refuses what the box refuses, with the reason in words (the box test table)', () => {
    for (const [pw, why] of [
      ['short1!', /at least 10 characters/],
      ['password123', /most common/],
      ['Password1!', /most common/],
      ['raspberry', /at least 10 characters/],
      ['raspberry1', /most common/],
      ['alice-is-great', /user name/],
      ['aaaaaaaaaaaa', /repeats/],
      ['abcdefghijklm', /sequence/],
    ] as const) {
      const c = checkPassword(pw, { username: 'alice', boxName: 'spot' });
      expect(c.allowed, pw).toBe(false);
      expect(c.problems.join(' '), pw).toMatch(why);
      expect(c.label).toBe('Not allowed');
      expect(c.score).toBe(1);
    }
    expect(checkPassword('correct horse battery', { username: 'alice', boxName: 'Spot' }).allowed).toBe(true);
    expect(checkPassword('tR4m!pol1ne', { username: 'alice' }).allowed).toBe(true);
  });

  it('says how many characters are missing, and nothing typed is score 0', () => {
    expect(checkPassword('xk7#q').problems).toEqual([`Use at least ${MIN_PASSWORD} characters (5 more).`]);
    expect(checkPassword('').score).toBe(0);
    expect(checkPassword('').problems[0]).toMatch(/at least 10/);
  });

  it('refuses the box name inside the password too, but not names shorter than 3', () => {
    expect(checkPassword('our-spot-box-rocks', { username: 'alice', boxName: 'Our-Spot-Box' }).problems.join(' ')).toMatch(
      /box's name/,
    );
    expect(checkPassword('jo-likes-kites-7', { username: 'jo' }).allowed).toBe(true);
  });

  it('counts characters, not UTF-16 units, and refuses more than 72 bytes', () => {
    expect(checkPassword('🦊🐸🦉🐙🦋🦊🐸🦉🐙').problems.join(' ')).toMatch(/at least 10/);
    expect(checkPassword('üöäßéèêëïî'.repeat(4)).problems.join(' ')).toMatch(/72 bytes/);
  });

  it('scores long mixed passwords high, and guides without refusing', () => {
    expect(checkPassword('lantern river').score).toBeGreaterThanOrEqual(2);
    const strong = checkPassword('Violet-Kettle-93-Orbit');
    expect(strong).toMatchObject({ allowed: true, score: 4, label: 'Strong', problems: [] });
    const run = checkPassword('xyz-aaab-qrs1');
    expect(run.allowed).toBe(true);
    expect(run.hints.join(' ')).toMatch(/repeats and runs/);
  });
});

describe('OS detection for the CA instructions', () => {
  const UA = {
    iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Mobile/15E148 Safari/604.1',
    ipados: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
    android: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36',
    windows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    linuxFirefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    chromeos: 'Mozilla/5.0 (X11; CrOS x86_64 15917.71.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  };

  it('knows each system, and an iPad from a Mac by its touch points', () => {
    expect(detectOs(UA.iphone)).toBe('ios');
    expect(detectOs(UA.ipados, 5)).toBe('ios');
    expect(detectOs(UA.ipados, 0)).toBe('macos');
    expect(detectOs(UA.android)).toBe('android'); // says Linux too
    expect(detectOs(UA.windows)).toBe('windows');
    expect(detectOs(UA.linuxFirefox)).toBe('linux');
    expect(detectOs(UA.chromeos)).toBeNull();
    expect(detectOs('curl/8.0')).toBeNull();
  });

  it('puts the detected system first', () => {
    expect(osOrder('android')).toEqual(['android', 'ios', 'windows', 'macos', 'linux']);
    expect(osOrder(null)).toEqual(['ios', 'android', 'windows', 'macos', 'linux']);
  });
});

describe('setup routing guard', () => {
  it('leads every route to /setup while the box is unclaimed', () => {
    for (const r of ['home', 'login', 'channel', 'admin-users', 'invite', 'not-found']) {
      expect(guardRedirect(info(), r, 'anon'), r).toBe('/setup');
    }
    expect(guardRedirect(info(), 'setup', 'anon')).toBeNull();
    expect(guardRedirect(info(), 'home', 'loading')).toBeNull();
  });

  it('leads to /setup for an Imager preset admin until the wizard is done', () => {
    const preset = info({ claimed: true, preset_admin: 'alice' });
    expect(wizardPending(preset)).toBe(true);
    expect(guardRedirect(preset, 'login', 'anon')).toBe('/setup');
    expect(guardRedirect({ ...preset, complete: true }, 'login', 'anon')).toBeNull();
  });

  it('lets the chat be once claimed, and keeps /setup reachable (it shows login or "closed")', () => {
    const claimed = info({ claimed: true, open: false });
    expect(wizardPending(claimed)).toBe(false);
    expect(guardRedirect(claimed, 'home', 'anon')).toBe('/login');
    expect(guardRedirect(claimed, 'home', 'ready')).toBeNull();
    expect(guardRedirect(claimed, 'login', 'ready')).toBe('/');
    expect(guardRedirect(claimed, 'setup', 'anon')).toBeNull();
    expect(guardRedirect(claimed, 'invite', 'anon')).toBeNull();
  });

  it('behaves as before on a box without the setup API', () => {
    expect(guardRedirect(null, 'home', 'anon')).toBe('/login');
    expect(guardRedirect(null, 'channel', 'ready')).toBeNull();
  });
});

describe('wizard steps', () => {
  it('has the account steps, or sign-in for a preset, and Wi-Fi only when it matters', () => {
    expect(stepsFor(info(), 'none')).toEqual(['welcome', 'name', 'account', 'timezone', 'secure', 'done']);
    expect(stepsFor(info(), 'required')).toContain('wifi');
    expect(stepsFor(info({ preset_admin: 'alice', claimed: true }), 'optional')).toEqual([
      'welcome',
      'signin',
      'wifi',
      'secure',
      'done',
    ]);
    expect(stepsFor(info({ steps: { network: 'done', tls: 'todo' } }), 'none')).toContain('wifi');
  });

  it('resumes at the first step left', () => {
    const s = stepsFor(info(), 'required');
    expect(resumeStep(info({ claimed: true }), s)).toBe('wifi');
    expect(resumeStep(info({ claimed: true, steps: { network: 'done', tls: 'todo' } }), s)).toBe('secure');
    const https = info({ claimed: true, steps: { network: 'done', tls: 'todo' }, tls: { enabled: true, ca: true, https_url: null } });
    expect(resumeStep(https, s)).toBe('done');
  });

  it('decides whether Wi-Fi is needed from the network mode', () => {
    expect(wifiStepKind(null)).toBe('none');
    expect(wifiStepKind(net())).toBe('required');
    expect(wifiStepKind(net({ mode: 'lost' }))).toBe('required');
    expect(wifiStepKind(net({ mode: 'ethernet', ethernet: true }))).toBe('optional');
    expect(wifiStepKind(net({ mode: 'ethernet', ethernet: true, wifi: false }))).toBe('none');
    expect(wifiStepKind(net({ mode: 'wifi', ssid: 'HomeNet' }))).toBe('none');
  });
});

describe('names', () => {
  it('derives the host name like the box does (firstrun.rs hostname_for)', () => {
    expect(hostnameFromBoxName('spot')).toBe('spot');
    expect(hostnameFromBoxName("Anna's Spot")).toBe('annas-spot');
    expect(hostnameFromBoxName('Ünïcode Box!')).toBe('unicode-box');
    expect(hostnameFromBoxName("Anna's Café Ökö")).toBe('annas-cafe-oko');
    expect(hostnameFromBoxName('  --  ')).toBe('spot');
    expect(hostnameFromBoxName('  --Hello _. World!! ')).toBe('hello-world');
    expect(hostnameFromBoxName('a'.repeat(100))).toHaveLength(63);
    expect(boxNameProblem('')).toMatch(/Give the box a name/);
    expect(boxNameProblem('x'.repeat(41))).toMatch(/at most 40/);
    expect(boxNameProblem('a\nb')).toMatch(/control/);
    expect(boxNameProblem('Our box')).toBeNull();
  });

  it('checks user names and finds zones by city', () => {
    expect(usernameProblem('alice')).toBeNull();
    expect(usernameProblem('a')).toMatch(/2 to 32/);
    expect(usernameProblem('_x')).toMatch(/starting with/);
    expect(filterZones(['America/New_York', 'Europe/Berlin'], 'new york')).toEqual(['America/New_York']);
    expect(filterZones(['America/New_York', 'Europe/Berlin'], '')).toHaveLength(2);
  });
});

describe('Wi-Fi words', () => {
  it('turns dBm into bars with words', () => {
    expect(signalBars(-40)).toEqual({ bars: 4, words: 'Excellent signal' });
    expect(signalBars(-70).bars).toBe(2);
    expect(signalBars(-90)).toEqual({ bars: 0, words: 'Very weak signal' });
  });

  it('lists each network once, strongest first', () => {
    const list = sortNetworks([
      { ssid: 'A', signal_dbm: -80, security: 'wpa2', frequency: 2412 },
      { ssid: 'B', signal_dbm: -50, security: 'wpa2', frequency: 2412 },
      { ssid: 'A', signal_dbm: -60, security: 'wpa2', frequency: 5180 },
      { ssid: '', signal_dbm: -30, security: 'open', frequency: 2412 },
    ]);
    expect(list.map((n) => [n.ssid, n.signal_dbm])).toEqual([
      ['B', -50],
      ['A', -60],
    ]);
  });

  it('validates what the helper would refuse', () => {
    expect(wifiPasswordProblem('short')).toMatch(/8 to 63/);
    expect(wifiPasswordProblem('z'.repeat(64))).toMatch(/8 to 63/);
    expect(wifiPasswordProblem('ab'.repeat(32))).toBeNull();
    expect(wifiPasswordProblem('grüne-wiese')).toMatch(/accents/);
    expect(wifiPasswordProblem('correct horse')).toBeNull();
    expect(ssidProblem('')).toMatch(/Type/);
    expect(ssidProblem('x'.repeat(33))).toMatch(/32 bytes/);
  });

  it('words join errors by code', () => {
    expect(joinErrorWords({ code: 'wrong_password', message: 'x' }, 'HomeNet')).toMatch(/password for “HomeNet” was not accepted/);
    expect(joinErrorWords({ code: 'new_code', message: 'Something new.' }, 'HomeNet')).toBe('Something new.');
    expect(joinErrorWords(null, 'HomeNet')).toMatch(/Could not join/);
  });

  it('reads a join outcome from status polls', () => {
    expect(joinOutcome(net({ mode: 'wifi', ssid: 'HomeNet' }), 'HomeNet', false, 100)).toBe('joined');
    expect(joinOutcome(net({ mode: 'joining', ssid: 'HomeNet' }), 'HomeNet', true, 100)).toBe('waiting');
    // The old status (an earlier failure) does not count right after the request...
    const failed = net({ last_error: { code: 'wrong_password', message: 'x' } });
    expect(joinOutcome(failed, 'HomeNet', false, 1000)).toBe('waiting');
    // ...but once joining was seen, or after a while, it does.
    expect(joinOutcome(failed, 'HomeNet', true, 1000)).toBe('failed');
    expect(joinOutcome(failed, 'HomeNet', false, 7000)).toBe('failed');
    expect(joinOutcome(net({ mode: 'wifi', ssid: 'Other' }), 'HomeNet', true, 100)).toBe('failed');
  });

  it('picks the IPv4 address and the country from the locale', () => {
    expect(mainAddress(['fe80::1', '192.168.50.23'])).toBe('192.168.50.23');
    expect(mainAddress(['fe80::1'])).toBe('fe80::1');
    expect(mainAddress([])).toBeNull();
    expect(countryFromLocale('de-DE')).toBe('DE');
    expect(countryFromLocale('en-GB')).toBe('GB');
    expect(countryFromLocale('fr')).toBe('FR');
    expect(countryFromLocale('nonsense-!!')).toBeNull();
    expect(countryFromLocale(undefined)).toBeNull();
  });
});
