// The shared DJ of a voice room as the box tells it (`GET /api/channels/:id/dj`, the ephemeral
// `dj.state` and `dj.reply`, `voice.state`'s `dj`), typed by hand (the daemon builds them with
// `json!` from `dj::View`), and the pure rules the panel needs: the position clock, lengths in
// words, the commands the buttons send. No IO: lib/state/dj.svelte.ts is the shell.

/** `dj::TrackInfo`. `source` is a key (`library:12`) or a URL. */
export interface DjTrack {
  source: string;
  title: string;
  artist: string | null;
  album: string | null;
  duration_ms: number | null;
  /** A URL path of the cover image, when there is one. */
  cover: string | null;
  live: boolean;
}

/** `dj::Entry`: a track in the queue (or playing), with who asked for it. */
export interface DjEntry {
  id: number;
  track: DjTrack;
  /** `id` is a user id as a number (the DJ core's), unlike the rest of the API. */
  requester: { id: number; name: string };
  queued_at_ms: number;
  resume_ms?: number;
}

export type DjPlayState = 'loading' | 'playing' | 'paused' | 'stopped';
export type DjLoop = 'off' | 'track' | 'queue';

export interface DjNowPlaying {
  entry: DjEntry;
  state: DjPlayState;
  position_ms: number;
  /** While playing: the server-clock moment the track would have started had it played
   * straight through (position = server now − this). */
  started_at_ms: number | null;
  live: boolean;
  /** What a radio stream says it plays now (ICY metadata). */
  icy_title: string | null;
}

/** `dj::View`. */
export interface DjView {
  now_playing: DjNowPlaying | null;
  /** The first 100, in play order. */
  queue: DjEntry[];
  queue_total: number;
  queue_ms: number;
  /** Something in the queue has no known length (a live stream). */
  queue_open_ended: boolean;
  /** 0–150. */
  volume: number;
  loop_mode: DjLoop;
  fairqueue: boolean;
  skip_votes: { count: number; needed: number };
  history_len: number;
  /** The DJ sits in the voice room. */
  joined: boolean;
}

/** `GET /api/channels/:id/dj` and the `dj.state` event. */
export interface DjStatePayload {
  channel_id: string;
  dj: DjView;
  server_time: number;
}

/** The `dj.reply` event: the DJ's answer, in Markdown (bold, italic, code). */
export interface DjReplyPayload {
  channel_id: string;
  text: string;
  /** Only the person who asked sees it. */
  private: boolean;
  at: number;
}

/** `voice.state`'s `dj` of a room: the DJ as a participant (`p<id>` is its stream id). */
export interface VoiceDj {
  participant: string;
  speaking: boolean;
  muted: boolean;
}

/** A room's DJ as the client keeps it: the view and how far the box's clock is ahead of ours. */
export interface DjRoom {
  view: DjView;
  /** server clock − client clock, ms, from the answer that brought the view. */
  offsetMs: number;
}

/** A DJ reply line shown in the room's chat (not stored: gone on reload). */
export interface DjLine {
  key: string;
  channel_id: string;
  text: string;
  private: boolean;
  at: number;
}

export const VOLUME_MAX = 150;
/** Reply lines kept per room (oldest go first). */
export const LINES_KEPT = 50;

/** Server clock minus client clock, from a response's `server_time` and when it arrived. */
export function clockOffset(serverTime: number, clientNow: number): number {
  return Number.isFinite(serverTime) ? serverTime - clientNow : 0;
}

/** The view a `dj.state` or GET answer carries, or null when it is not one. */
export function roomFromPayload(p: unknown, clientNow: number): { channelId: string; room: DjRoom } | null {
  const d = p as Partial<DjStatePayload> | null;
  if (!d || d.channel_id == null || !d.dj || typeof d.dj !== 'object') return null;
  return { channelId: String(d.channel_id), room: { view: d.dj, offsetMs: clockOffset(Number(d.server_time), clientNow) } };
}

/** Where the track is, in ms, at client time `clientNow`: counted from `started_at_ms` while
 * playing (never past the end of a track of known length), else the position the box told. */
export function positionAt(np: DjNowPlaying, offsetMs: number, clientNow: number): number {
  const len = np.entry.track.duration_ms;
  let pos = np.position_ms;
  if (np.state === 'playing' && np.started_at_ms != null) pos = clientNow + offsetMs - np.started_at_ms;
  pos = Math.max(0, pos);
  return len != null && len > 0 ? Math.min(pos, len) : pos;
}

/** "3:07", "1:02:09"; "0:00" for nothing sensible. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '0:00';
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The same length for a screen reader: "3 minutes 7 seconds". */
export function spokenDuration(ms: number | null | undefined): string {
  const s = ms == null || !Number.isFinite(ms) || ms < 0 ? 0 : Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const part = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const out: string[] = [];
  if (h) out.push(part(h, 'hour'));
  if (m) out.push(part(m, 'minute'));
  if (sec || !out.length) out.push(part(sec, 'second'));
  return out.join(' ');
}

/** The queue's size and length: "3 tracks · 11:20", "1 track · 3:07 and a live stream". */
export function queueSummary(v: Pick<DjView, 'queue_total' | 'queue_ms' | 'queue_open_ended'>): string {
  if (!v.queue_total) return 'The queue is empty';
  const n = `${v.queue_total} ${v.queue_total === 1 ? 'track' : 'tracks'}`;
  const len = v.queue_ms > 0 ? ` · ${formatDuration(v.queue_ms)}` : '';
  return `${n}${len}${v.queue_open_ended ? (len ? ' and more (a live stream)' : ' · open-ended (a live stream)') : ''}`;
}

/** The next loop mode of the loop button: off → track → queue → off. */
export function nextLoop(m: DjLoop): DjLoop {
  return m === 'off' ? 'track' : m === 'track' ? 'queue' : 'off';
}

export function loopLabel(m: DjLoop): string {
  return m === 'off' ? 'Loop off' : m === 'track' ? 'Loop this track' : 'Loop the queue';
}

/** `!volume N` with N made a whole number in 0–150. */
export function volumeCommand(v: number): string {
  const n = Math.round(Number.isFinite(v) ? v : 100);
  return `!volume ${Math.max(0, Math.min(VOLUME_MAX, n))}`;
}

/** What plays a library track (`!play library:ID`), or puts it next (`!playnext …`). */
export function libraryCommand(trackId: string, next = false): string {
  return `${next ? '!playnext' : '!play'} library:${trackId}`;
}

/** `!remove N` / `!move N N-1` for the entry at queue index `i` (0-based; the DJ counts from 1). */
export function removeCommand(i: number): string {
  return `!remove ${i + 1}`;
}
export function moveUpCommand(i: number): string | null {
  return i > 0 ? `!move ${i + 1} ${i}` : null;
}

/** The skip button's words: "Skip", or "Skip (1/3)" while a vote runs. */
export function skipLabel(votes: { count: number; needed: number } | undefined): string {
  return votes && votes.count > 0 && votes.needed > 0 ? `Skip (${votes.count}/${votes.needed})` : 'Skip';
}

/** The entry was asked for by this user (`requester.id` is a number, user ids are strings). */
export function isMine(e: DjEntry, me: string | null | undefined): boolean {
  return !!me && String(e.requester.id) === me;
}

/** The stream id the box gives the DJ (`p<id>`) against the id lib/voice keys remote audio by. */
export function djAudioKey(d: VoiceDj | null | undefined): string | null {
  if (!d?.participant) return null;
  return d.participant.startsWith('p') ? d.participant.slice(1) : d.participant;
}

/** A reply line appended to a room's lines: the newest `LINES_KEPT`, in time order. */
export function addLine(lines: readonly DjLine[], r: DjReplyPayload, key: string): DjLine[] {
  const line: DjLine = { key, channel_id: String(r.channel_id), text: String(r.text ?? ''), private: !!r.private, at: Number(r.at) || 0 };
  const out = [...lines, line].sort((a, b) => a.at - b.at);
  return out.length > LINES_KEPT ? out.slice(out.length - LINES_KEPT) : out;
}

/**
 * Places reply lines among messages by time: each line goes before the first message created
 * after it, the rest after the last message. Returns the lines before each message id, and the
 * trailing ones.
 */
export function placeLines<L extends { at: number }>(
  lines: readonly L[],
  messages: readonly { id: string; created_at: number }[],
): { before: Record<string, L[]>; after: L[] } {
  const before: Record<string, L[]> = {};
  const after: L[] = [];
  for (const l of lines) {
    const m = messages.find((x) => x.created_at > l.at);
    if (m) (before[m.id] ??= []).push(l);
    else after.push(l);
  }
  return { before, after };
}

/** The title line of what plays: a radio's ICY title beats the station's name. */
export function nowTitle(np: DjNowPlaying): { title: string; by: string | null } {
  const t = np.entry.track;
  if ((np.live || t.live) && np.icy_title) return { title: np.icy_title, by: t.title };
  return { title: t.title, by: [t.artist, t.album].filter(Boolean).join(' · ') || null };
}

/** Words for the play state, or null while it simply plays. */
export function stateWords(s: DjPlayState): string | null {
  return s === 'loading' ? 'Loading…' : s === 'paused' ? 'Paused' : s === 'stopped' ? 'Stopped' : null;
}
