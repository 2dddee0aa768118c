// Admin → Music: the DJ settings of GET/PUT /api/admin/dj (`server::music::DjSettings` around
// `dj::Config`, typed by hand), the form in people's units (percent, minutes, seconds) ↔ JSON, and
// a refusal (`dj.<key>: …`) placed next to its field. No framework imports: tests/djsettings.test.ts.

export interface DjConfig {
  /** Share of the listeners whose votes skip a track (rounded up, at least one vote), 0–1. */
  vote_ratio: number;
  max_queue: number;
  /** 0 = no limit. */
  per_user_limit: number;
  /** null = any length. */
  max_track_ms: number | null;
  leave_empty_after_ms: number;
  history_len: number;
  search_results: number;
  search_expiry_ms: number;
  resolve_timeout_ms: number;
  max_playlists: number;
  playlist_len: number;
  prefix: string;
  /** Set by the box: never shown, sent back as it came. */
  track_schemes: string[];
}

export interface DjSettings {
  config: DjConfig;
  /** Text channels whose `!` commands also reach the DJ of the room the sender is in. */
  command_channels: string[];
}

export interface DjSettingsInfo {
  settings: DjSettings;
  defaults: DjSettings;
}

/** The form: numbers as typed (strings), in the units the page shows. */
export interface DjForm {
  votePercent: string;
  maxQueue: string;
  perUserLimit: string;
  maxTrackMinutes: string;
  noTrackLimit: boolean;
  leaveAfterSeconds: string;
  historyLen: string;
  searchResults: string;
  prefix: string;
  commandChannels: string[];
}

export type DjField =
  | 'votePercent'
  | 'maxQueue'
  | 'perUserLimit'
  | 'maxTrackMinutes'
  | 'leaveAfterSeconds'
  | 'historyLen'
  | 'searchResults'
  | 'prefix'
  | 'commandChannels'
  | 'general';

const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places;

export function msToMinutes(ms: number): number {
  return round(ms / 60_000, 2);
}

export function minutesToMs(min: number): number {
  return Math.round(min * 60_000);
}

export function djToForm(s: DjSettings): DjForm {
  const c = s.config;
  return {
    votePercent: String(round(c.vote_ratio * 100, 1)),
    maxQueue: String(c.max_queue),
    perUserLimit: String(c.per_user_limit),
    maxTrackMinutes: c.max_track_ms == null ? '' : String(msToMinutes(c.max_track_ms)),
    noTrackLimit: c.max_track_ms == null,
    leaveAfterSeconds: String(round(c.leave_empty_after_ms / 1000, 1)),
    historyLen: String(c.history_len),
    searchResults: String(c.search_results),
    prefix: c.prefix,
    commandChannels: [...s.command_channels],
  };
}

/**
 * The form as the box takes it, on top of `base` (the keys the page does not show are sent back
 * as they came). What cannot be a number is refused here, by field; ranges are the box's to say.
 */
export function formToDj(f: DjForm, base: DjSettings): { settings: DjSettings } | { errors: Partial<Record<DjField, string>> } {
  const errors: Partial<Record<DjField, string>> = {};
  const num = (field: DjField, v: string, whole: boolean): number => {
    const t = v.trim().replace(',', '.');
    const n = t === '' ? NaN : Number(t);
    if (!Number.isFinite(n) || n < 0) errors[field] = whole ? 'Enter a whole number, 0 or more.' : 'Enter a number, 0 or more.';
    else if (whole && !Number.isInteger(n)) errors[field] = 'Enter a whole number.';
    return n;
  };
  const vote = num('votePercent', f.votePercent, false);
  const maxQueue = num('maxQueue', f.maxQueue, true);
  const perUser = num('perUserLimit', f.perUserLimit, true);
  const minutes = f.noTrackLimit ? null : num('maxTrackMinutes', f.maxTrackMinutes, false);
  const leave = num('leaveAfterSeconds', f.leaveAfterSeconds, false);
  const history = num('historyLen', f.historyLen, true);
  const results = num('searchResults', f.searchResults, true);
  if ([...f.prefix].length !== 1) errors.prefix = 'Enter one character, such as ! or .';
  if (Object.keys(errors).length) return { errors };
  return {
    settings: {
      config: {
        ...base.config,
        vote_ratio: round(vote / 100, 4),
        max_queue: maxQueue,
        per_user_limit: perUser,
        max_track_ms: minutes == null ? null : minutesToMs(minutes),
        leave_empty_after_ms: Math.round(leave * 1000),
        history_len: history,
        search_results: results,
        prefix: f.prefix,
      },
      command_channels: [...f.commandChannels],
    },
  };
}

const KEY_FIELD: Record<string, DjField> = {
  vote_ratio: 'votePercent',
  max_queue: 'maxQueue',
  per_user_limit: 'perUserLimit',
  max_track_ms: 'maxTrackMinutes',
  leave_empty_after_ms: 'leaveAfterSeconds',
  history_len: 'historyLen',
  search_results: 'searchResults',
  prefix: 'prefix',
  command_channels: 'commandChannels',
};

/** Refusals whose words speak the box's units, said in the page's. */
const IN_PAGE_UNITS: Partial<Record<DjField, string>> = {
  votePercent: 'Must be more than 0 % and at most 100 %.',
  maxTrackMinutes: 'Must be more than 0 minutes (or choose “No limit”).',
};

/** A refusal of PUT /api/admin/dj (`dj.vote_ratio: must be …`) as its field and words. */
export function djErrorField(message: string): { field: DjField; words: string } {
  const m = /^dj\.([a-z_]+): (.*)$/s.exec(message.trim());
  if (!m) return { field: 'general', words: message };
  const field = KEY_FIELD[m[1]] ?? 'general';
  if (field === 'general') return { field, words: message };
  const said = m[2].trim();
  const words = IN_PAGE_UNITS[field] ?? said[0].toUpperCase() + said.slice(1) + (/[.!?]$/.test(said) ? '' : '.');
  return { field, words };
}

/** Votes that skip a track in a room of `listeners`: the share rounded up, at least one. */
export function votesNeeded(ratio: number, listeners: number): number {
  return Math.max(1, Math.ceil(ratio * listeners - 1e-9));
}

/** JSON with every object's keys sorted: the box's key order is not ours. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** Same settings, whatever the order of keys and channels? (for "Unsaved changes") */
export function sameDj(a: DjSettings, b: DjSettings): boolean {
  const norm = (s: DjSettings) => canonical({ ...s, command_channels: [...s.command_channels].sort() });
  return norm(a) === norm(b);
}
