// Admin → Updates: the shapes of GET /api/admin/updates (setup::proto::OtaReport), the words
// for each state and outcome, and the bundle upload with progress (XHR: only it reports upload
// progress).

import { getCsrfToken } from './api';
import { formatBytes } from './upload';

export interface OtaSlot {
  name: string;
  version: string;
  state: 'good' | 'empty';
  running: boolean;
  primary: boolean;
  trial: boolean;
}

export interface OtaPhase {
  phase: 'idle' | 'installing' | 'staged' | 'trial';
  version: string | null;
  done: number | null;
  total: number | null;
  speed: number | null;
  eta: number | null;
  commit_in: number | null;
}

export interface OtaRecord {
  at: number;
  outcome: 'staged' | 'install_failed' | 'committed' | 'rolled_back';
  version: string | null;
  code: string | null;
  message: string | null;
}

export interface OtaReport {
  board: string;
  version: string;
  floor: string;
  slots: OtaSlot[];
  status: OtaPhase;
  history: OtaRecord[];
}

export interface FeedDownload {
  name: string;
  version: string;
  done: number;
  total: number;
  state: 'downloading' | 'installing' | 'failed';
  error: { code: string; message: string } | null;
}

export type UpdatesInfo =
  | { managed: false; version: string }
  | { managed: true; version: string; ota: OtaReport; download: FeedDownload | null; restart_at: number | null };

/** The next 04:00 local time after `now` (ms), in seconds since the epoch: a quiet hour. */
export function nextQuietHour(now: number, hour = 4): number {
  const d = new Date(now);
  d.setHours(hour, 0, 0, 0);
  if (d.getTime() <= now) d.setDate(d.getDate() + 1);
  return Math.floor(d.getTime() / 1000);
}

export interface FeedOffer {
  name: string;
  version: string;
  notes: string;
  length: number;
}

export interface FeedCheck {
  at: number;
  updates: FeedOffer[];
  error: { code: string; message: string } | null;
}

export interface FeedInfo {
  url: string | null;
  last_check: FeedCheck | null;
  download: FeedDownload | null;
}

const FEED_CODES: Record<string, string> = {
  expired_metadata: "the feed's signed list has expired (its publisher must re-sign it)",
  replayed_metadata: 'the feed offered an older list than one the box already saw (a replay)',
  mixed_release: 'the feed mixes files of two releases',
  bad_signature: "the feed's list is not signed correctly",
  wrong_key: "the feed's list was not signed by the keys this box trusts",
  oversized: 'the feed sent more data than allowed',
  download_mismatch: "the downloaded file is not the one the feed's signed list names",
};

/** A failed check or download, in words. */
export function feedErrorWords(e: { code: string; message: string }): string {
  return FEED_CODES[e.code] ? `${FEED_CODES[e.code]}.` : e.message;
}

/** "3 min 20 s", "45 s", "1 h 5 min". */
export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

/** The line under the progress bar while installing. */
export function progressWords(p: OtaPhase): string {
  if (p.phase !== 'installing') return '';
  const done = p.done ?? 0;
  const total = p.total ?? 0;
  const parts = [`${formatBytes(done)} of ${formatBytes(total)} checked and written`];
  if (p.speed) parts.push(`${formatBytes(p.speed)}/s`);
  if (p.eta != null && p.speed) parts.push(`about ${formatDuration(p.eta)} left`);
  return parts.join(' · ');
}

/** 0..1 for the bar (null: not known yet). */
export function progressFraction(p: OtaPhase): number | null {
  if (p.phase !== 'installing' || !p.total) return null;
  return Math.min(1, (p.done ?? 0) / p.total);
}

const CODES: Record<string, string> = {
  bad_signature: 'its signature is not valid: the file was changed or damaged',
  wrong_key: 'it was not signed by the key this box trusts',
  wrong_board: 'it is for a different kind of board',
  downgrade: 'it is not newer than what the box runs',
  below_floor: 'it is older than a version this box already ran (no going back that far)',
  needs_newer_base: 'the box must first be updated to a newer version',
  eeprom_too_old: "the Raspberry Pi's bootloader must be updated first",
  truncated: 'the file is cut short (the download or copy did not finish)',
  oversized: 'the file is bigger than it says',
  tampered_block: 'part of it does not match its signed contents: the file was changed or damaged',
  image_mismatch: 'the written system did not read back as it should',
  malformed: 'it is not a valid update file',
  boot_file_refused: 'it brings boot files this box cannot take safely',
  busy: 'another update was in progress',
  io: 'the box could not read or write the update',
};

/** One history entry, in words. */
export function recordWords(r: OtaRecord): string {
  const v = r.version ? `Version ${r.version}` : 'An update';
  switch (r.outcome) {
    case 'staged':
      return `${v} was installed and starts at the next restart.`;
    case 'committed':
      return `${v} started, checked itself healthy and is now the box's system.`;
    case 'rolled_back':
      return `${v} was rolled back: ${r.message ?? 'it did not start properly'}. The box went back to the previous system.`;
    case 'install_failed': {
      const why = (r.code && CODES[r.code]) || r.message || 'it could not be installed';
      return `An update was refused: ${why}.`;
    }
  }
}

export function phaseWords(p: OtaPhase): string {
  switch (p.phase) {
    case 'idle':
      return 'No update in progress.';
    case 'installing':
      return `Installing version ${p.version ?? ''}…`;
    case 'staged':
      return `Version ${p.version ?? ''} is installed. Restart the box to start it.`;
    case 'trial':
      return p.commit_in != null
        ? `Trying version ${p.version ?? ''}: it is kept if it stays healthy for ${formatDuration(p.commit_in)} more.`
        : `Trying version ${p.version ?? ''}: waiting for it to report healthy.`;
  }
}

export function slotWords(s: OtaSlot): string {
  if (s.state === 'empty') return s.trial ? 'Being written' : 'Empty';
  const tags = [s.running ? 'running now' : null, s.primary ? 'the box’s system' : null, s.trial ? 'on trial' : null].filter(Boolean);
  return `Version ${s.version || '?'}${tags.length ? ` (${tags.join(', ')})` : ''}`;
}

export interface UploadHandle {
  promise: Promise<void>;
  abort(): void;
}

/** Words for a refused upload (the daemon's own refusal, before the helper looks at it). */
export function uploadRefusal(status: number, body: unknown): string {
  const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
  if (status === 0) return "The update was not uploaded: can't reach the Spot box. Check your connection and try again.";
  if (err?.message) return `The update was not uploaded: ${err.message}`;
  return `The update was not uploaded (error ${status}).`;
}

/** Uploads a bundle; `onProgress(sent, total)`. Resolves when the box accepted it. */
export function uploadBundle(file: File, onProgress: (sent: number, total: number) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<void>((resolve, reject) => {
    xhr.open('POST', '/api/admin/updates/upload');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    const csrf = getCsrfToken();
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(new Error(uploadRefusal(xhr.status, body)));
    };
    xhr.onerror = () => reject(new Error(uploadRefusal(0, null)));
    xhr.onabort = () => reject(new Error('Upload cancelled.'));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
