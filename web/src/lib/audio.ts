// Admin → Audio: the shapes of GET/PUT /api/admin/audio (typed by hand: the daemon builds them
// with json! from `audio::devices` and `audio::speaker`), the speaker's state and figures in
// words, what an output can do, and the settings form ↔ JSON. No framework imports: unit-tested
// in tests/audio.test.ts.

export interface AudioSettings {
  enabled: boolean;
  /** An ALSA name (`hw:CARD=Headphones,DEV=0`). */
  device: string | null;
  /** null: the card's usual control; "software": never the card's mixer; else an element name. */
  mixer: string | null;
  /** 0–100 %. */
  volume: number;
  /** The voice room whose DJ plays out of the box. */
  room_id: string | null;
}

export type SpeakerState =
  | { state: 'no_device_configured' | 'starting' | 'playing' | 'idle' | 'stopped' }
  | { state: 'waiting_for_device'; reason: string }
  | { state: 'error'; message: string };

export interface SpeakerParams {
  rate: number;
  format: string;
  channels: number;
  period_frames: number;
  buffer_frames: number;
}

export type VolumeControl = { kind: 'hardware'; element: string } | { kind: 'software' };

export interface SpeakerOpened {
  /** What was opened (it may be a fallback such as `plughw:…`). */
  pcm: string;
  params: SpeakerParams;
  volume: VolumeControl;
}

export interface SpeakerStats {
  state: SpeakerState;
  device: string | null;
  opened: SpeakerOpened | null;
  volume: number;
  underruns: number;
  suspends: number;
  dropped_frames: number;
  queued_frames: number;
  reopens: number;
  frames_written: number;
}

export interface HwCaps {
  formats: string[];
  rate_min: number;
  rate_max: number;
  /** Which common rates the device takes (empty: only the range is known). */
  rates: number[];
  channels_min: number;
  channels_max: number;
  period_min: number;
  period_max: number;
  buffer_min: number;
  buffer_max: number;
}

export interface AudioDevice {
  device: number;
  id: string;
  name: string;
  /** `hw:CARD=<id>,DEV=<n>`: what goes into the settings. */
  pcm: string;
  subdevices: number;
  caps: HwCaps | null;
  error: string | null;
}

export interface MixerElem {
  name: string;
  index: number;
  volume_min: number;
  volume_max: number;
  /** Hundredths of a dB. */
  db_min: number | null;
  db_max: number | null;
  has_switch: boolean;
  volume: number | null;
  db: number | null;
}

export interface SoundCard {
  index: number;
  id: string;
  name: string;
  long_name: string;
  driver: string;
  devices: AudioDevice[];
  mixers: MixerElem[];
  error: string | null;
}

export interface AudioInfo {
  settings: AudioSettings;
  speaker: SpeakerStats | null;
  cards: SoundCard[];
  report: string;
}

/** The speaker's state in words, as a sentence. */
export function speakerWords(s: SpeakerState | null | undefined): string {
  switch (s?.state) {
    case undefined:
    case 'no_device_configured':
      return 'Off: the box does not play out loud.';
    case 'starting':
      return 'Starting…';
    case 'playing':
      return 'Playing.';
    case 'idle':
      return 'Ready. Nothing to play right now, so the output rests until music comes.';
    case 'waiting_for_device':
      return `Waiting for the device: ${sentence(s.reason)} The box keeps trying every few seconds; plug it in or check its name.`;
    case 'error':
      return `The output cannot be used: ${sentence(s.message)} The box keeps trying; another program may be using it.`;
    case 'stopped':
      return 'Stopped.';
  }
}

/** How the state reads at a glance: good, needs a look, or off. */
export function speakerTone(s: SpeakerState | null | undefined): 'ok' | 'warn' | 'off' {
  switch (s?.state) {
    case 'playing':
    case 'idle':
    case 'starting':
      return 'ok';
    case 'waiting_for_device':
    case 'error':
      return 'warn';
    default:
      return 'off';
  }
}

function sentence(s: string): string {
  const t = s.trim();
  if (!t) return '';
  return /[.!?…]$/.test(t) ? t : t + '.';
}

/** 44100 → "44.1 kHz", 48000 → "48 kHz". */
export function kHz(rate: number): string {
  return `${Math.round(rate / 100) / 10} kHz`;
}

/** The rates a device takes: the tested list, else its range. */
export function ratesWords(c: HwCaps): string {
  if (c.rates.length) return c.rates.map((r) => kHz(r).replace(' kHz', '')).join(', ') + ' kHz';
  return c.rate_min === c.rate_max ? kHz(c.rate_min) : `${kHz(c.rate_min).replace(' kHz', '')}–${kHz(c.rate_max)}`;
}

export function channelsWords(c: HwCaps): string {
  const n = (x: number) => (x === 1 ? 'mono' : x === 2 ? 'stereo' : `${x} channels`);
  if (c.channels_min === c.channels_max) return n(c.channels_min);
  return `${c.channels_min}–${c.channels_max} channels`;
}

/** A mixer's range in dB, when the card tells it ("−102.4 dB to 4 dB"). */
export function mixerRange(m: MixerElem): string | null {
  if (m.db_min == null || m.db_max == null) return null;
  const db = (x: number) => `${(x / 100).toString().replace('-', '−')} dB`;
  return `${db(m.db_min)} to ${db(m.db_max)}`;
}

/** The card an output belongs to: by its pcm in the list, else by `CARD=<id>` in the name. */
export function cardOf(cards: readonly SoundCard[], device: string | null): SoundCard | null {
  if (!device) return null;
  const byPcm = cards.find((c) => c.devices.some((d) => d.pcm === device));
  if (byPcm) return byPcm;
  const m = /CARD=([^,]+)/.exec(device);
  return (m && cards.find((c) => c.id === m[1])) || null;
}

/** The form's value for "another output, typed". */
export const TYPED = '__typed';

export interface AudioForm {
  enabled: boolean;
  /** '' none, a found output's pcm, or TYPED. */
  output: string;
  typed: string;
  /** 'auto', 'software' or 'el:' + an element name. */
  mixer: string;
  volume: number;
  /** '' none. */
  room: string;
}

export function mixerToForm(m: string | null): string {
  return m == null ? 'auto' : m === 'software' ? 'software' : 'el:' + m;
}

export function mixerFromForm(v: string): string | null {
  return v === 'auto' ? null : v === 'software' ? 'software' : v.startsWith('el:') ? v.slice(3) : null;
}

export function settingsToForm(s: AudioSettings, cards: readonly SoundCard[]): AudioForm {
  const found = !!s.device && cards.some((c) => c.devices.some((d) => d.pcm === s.device));
  return {
    enabled: s.enabled,
    output: s.device == null ? '' : found ? s.device : TYPED,
    typed: s.device != null && !found ? s.device : '',
    mixer: mixerToForm(s.mixer),
    volume: s.volume,
    room: s.room_id ?? '',
  };
}

export function formDevice(f: AudioForm): string | null {
  return f.output === TYPED ? f.typed.trim() || null : f.output || null;
}

export function formToSettings(f: AudioForm): AudioSettings {
  const v = Math.round(Number(f.volume));
  return {
    enabled: f.enabled,
    device: formDevice(f),
    mixer: mixerFromForm(f.mixer),
    volume: Number.isFinite(v) ? Math.min(100, Math.max(0, v)) : 70,
    room_id: f.room || null,
  };
}

/** The volume control choices for an output: automatic, software, then the card's own. The saved
 * element stays a choice even when the card (or a typed output) does not list it. */
export function mixerChoices(card: SoundCard | null, current: string): { value: string; label: string }[] {
  const out = [
    { value: 'auto', label: "Automatic (the card's usual control, else software)" },
    { value: 'software', label: "Software (never touch the card's mixer)" },
  ];
  for (const m of card?.mixers ?? []) {
    const r = mixerRange(m);
    out.push({ value: 'el:' + m.name, label: `The card's “${m.name}” control${r ? ` (${r})` : ''}` });
  }
  if (current.startsWith('el:') && !out.some((o) => o.value === current)) {
    out.push({ value: current, label: `The card's “${current.slice(3)}” control` });
  }
  return out;
}

export type AudioField = 'enabled' | 'output' | 'mixer' | 'volume' | 'room' | 'general';

/** Which field a refusal of PUT /api/admin/audio is about, and its words without the key. */
export function audioErrorField(code: string, message: string): { field: AudioField; words: string } {
  if (code === 'no_audio_device') return { field: 'output', words: message };
  if (code === 'not_voice_channel') return { field: 'room', words: message };
  const m = /^speaker\.(device|mixer|volume): (.*)$/s.exec(message);
  if (m) {
    const field = ({ device: 'output', mixer: 'mixer', volume: 'volume' } as const)[m[1] as 'device' | 'mixer' | 'volume'];
    return { field, words: capital(m[2]) };
  }
  return { field: 'general', words: message };
}

function capital(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/** The report (words for a terminal) with its `code` spans marked, as text parts (never HTML). */
export function codeParts(s: string): { code: boolean; text: string }[] {
  return s
    .split('`')
    .map((text, i) => ({ code: i % 2 === 1, text }))
    .filter((p) => p.text !== '');
}

/** With no card: the report's first line as the headline ("No sound card found: …") and the
 * rest as its explanation. */
export function noCardWords(report: string): { headline: string; detail: string } {
  const lines = report.trim().split('\n');
  const first = lines[0]?.trim() || 'No sound card found.';
  return { headline: capital(first), detail: lines.slice(1).join(' ').replace(/\s+/g, ' ').trim() };
}

/** The speaker's opened output in words: "hw:… · 48 kHz · S16_LE · stereo · 1024-frame periods". */
export function openedWords(o: SpeakerOpened): string {
  const p = o.params;
  const parts = [o.pcm, kHz(p.rate), p.format, channelsWords({ channels_min: p.channels, channels_max: p.channels } as HwCaps)];
  if (p.period_frames) parts.push(`${p.period_frames}-frame periods of a ${p.buffer_frames}-frame buffer`);
  return parts.join(' · ');
}

export function volumeWords(v: VolumeControl): string {
  return v.kind === 'hardware' ? `On the card's “${v.element}” control` : 'In software (the card has no control the box uses)';
}

/** Played time from the frames written at the device's rate ("12 min 5 s"). */
export function playedWords(frames: number, rate: number | null | undefined): string | null {
  if (!rate || !frames) return null;
  const s = Math.floor(frames / rate);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

/** Same settings, whatever order the keys came in. */
export function sameAudio(a: AudioSettings, b: AudioSettings): boolean {
  return a.enabled === b.enabled && a.device === b.device && a.mixer === b.mixer && a.volume === b.volume && a.room_id === b.room_id;
}
