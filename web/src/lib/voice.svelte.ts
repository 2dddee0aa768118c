// Voice rooms (README "Voice rooms"): one RTCPeerConnection to the box's SFU, signalling over
// the gateway. The box enforces mute/deafen and tells everyone who is speaking (from the RTP
// audio-level extension); this client captures the microphone, plays the others, and shows
// room state, mic level and connection quality.

import type { Gateway } from './gateway';
import { djAudioKey, type VoiceDj } from './dj';
import { grade, type QualityFigures } from './quality';

export interface VoiceParticipant {
  user_id: string;
  muted: boolean;
  deafened: boolean;
  speaking: boolean;
  /** What the box measured of this person's media path (null before its first figures). */
  quality?: QualityFigures | null;
}

export interface VoiceRoom {
  channel_id: string;
  participants: VoiceParticipant[];
  /** The room's DJ while it sits in the room (its music is one more remote audio track). */
  dj?: VoiceDj | null;
}

const SETTINGS_KEY = 'spot.voice';

interface Settings {
  deviceId: string;
  echoCancellation: boolean;
  noiseSuppression: boolean;
  autoGainControl: boolean;
  pushToTalk: boolean;
  pttKey: string;
  volumes: Record<string, number>;
  /** Rooms (channel ids) whose DJ I muted for myself on this device. */
  djMuted: Record<string, boolean>;
}

function loadSettings(): Settings {
  const d: Settings = {
    deviceId: '',
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
    pushToTalk: false,
    pttKey: 'Space',
    volumes: {},
    djMuted: {},
  };
  try {
    return { ...d, ...(JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') as Partial<Settings>) };
  } catch {
    return d;
  }
}

/** Short WebAudio tones instead of sound files: rising for a join, falling for a leave. */
function chime(up: boolean): void {
  try {
    const ctx = new AudioContext();
    const o = ctx.createOscillator();
    const g = ctx.createGain();
    o.type = 'sine';
    const t = ctx.currentTime;
    o.frequency.setValueAtTime(up ? 520 : 780, t);
    o.frequency.linearRampToValueAtTime(up ? 780 : 520, t + 0.15);
    g.gain.setValueAtTime(0.0001, t);
    g.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, t + 0.25);
    o.connect(g).connect(ctx.destination);
    o.start(t);
    o.stop(t + 0.3);
    o.onended = () => void ctx.close();
  } catch {
    /* no audio output: no chime */
  }
}

export function micErrorText(e: unknown): string {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    return 'Voice needs a secure page: open the box over HTTPS (https://…), or on this computer via http://localhost. Browsers only give the microphone to secure pages.';
  }
  const name = (e as { name?: string })?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return 'The microphone is blocked. Allow it for this site in the browser (the icon left of the address), then join again.';
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return 'No microphone found. Plug one in or pick another input device.';
  }
  return `Could not start voice: ${(e as Error)?.message ?? String(e)}`;
}

export class VoiceClient {
  rooms = $state<Record<string, VoiceParticipant[]>>({});
  /** Each room's DJ while it sits there (`voice.state`'s `dj`). */
  djs = $state<Record<string, VoiceDj>>({});
  /** The room we are in (or joining). */
  channelId = $state<string | null>(null);
  connection = $state<'idle' | 'connecting' | 'connected' | 'reconnecting'>('idle');
  muted = $state(false);
  deafened = $state(false);
  pttHeld = $state(false);
  micLevel = $state(0);
  rttMs = $state<number | null>(null);
  lossPct = $state<number | null>(null);
  /** Interarrival jitter of what I receive, in ms (the worst stream). */
  jitterMs = $state<number | null>(null);
  /** How media reaches the box: 'udp', or 'tcp' (ICE-TCP, when the network blocks UDP). */
  transport = $state<string | null>(null);
  error = $state<string | null>(null);
  devices = $state<MediaDeviceInfo[]>([]);
  settings = $state<Settings>(loadSettings());

  private gw: () => Gateway | null;
  private me: () => string | null;
  private pc: RTCPeerConnection | null = null;
  private stream: MediaStream | null = null;
  private audioEls = new Map<string, HTMLAudioElement>();
  /** Receiving m-line → user id. */
  private mids: Record<string, string> = {};
  private meterCtx: AudioContext | null = null;
  private timers: ReturnType<typeof setInterval>[] = [];
  private lastLost = 0;
  private lastRecv = 0;
  /** Round-trip samples (ms) of the media path, newest last, and where the last one ended. */
  private rtts: number[] = [];
  private rttFrom = { pair: '', total: 0, count: 0 };
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(gw: () => Gateway | null, me: () => string | null) {
    this.gw = gw;
    this.me = me;
    if (typeof window !== 'undefined') {
      window.addEventListener('keydown', (e) => this.onKey(e, true));
      window.addEventListener('keyup', (e) => this.onKey(e, false));
    }
  }

  /** My own connection quality from my getStats (null until the first sample). */
  get ownQuality(): QualityFigures | null {
    if (this.connection !== 'connected' || (this.rttMs === null && this.lossPct === null)) return null;
    const loss = this.lossPct ?? 0;
    return { grade: grade(this.rttMs, loss, this.jitterMs), rtt_ms: this.rttMs, loss_pct: loss, jitter_ms: this.jitterMs };
  }

  /** What the microphone sends right now: muted, or push-to-talk and the key is up. */
  get sending(): boolean {
    return !this.muted && (!this.settings.pushToTalk || this.pttHeld);
  }

  saveSettings(): void {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(this.settings));
  }

  // ---------------------------------------------------------------- gateway frames

  onReady(voice: unknown): void {
    if (Array.isArray(voice)) {
      const next: Record<string, VoiceParticipant[]> = {};
      const djs: Record<string, VoiceDj> = {};
      for (const r of voice as VoiceRoom[]) {
        next[String(r.channel_id)] = r.participants;
        if (r.dj) djs[String(r.channel_id)] = r.dj;
      }
      this.rooms = next;
      this.djs = djs;
      this.applyVolumes();
    }
    // A new socket: server offers would go to the old one, so join again (the seat was kept).
    if (this.channelId && this.connection !== 'idle') void this.join(this.channelId, true);
  }

  onEphemeral(t: string, d: unknown): void {
    if (t === 'voice.state') {
      const r = d as VoiceRoom;
      const id = String(r.channel_id);
      const before = new Set((this.rooms[id] ?? []).map((p) => p.user_id));
      const after = new Set(r.participants.map((p) => p.user_id));
      this.rooms = { ...this.rooms, [id]: r.participants };
      const hadDj = this.djs[id];
      if (r.dj) this.djs = { ...this.djs, [id]: r.dj };
      else if (hadDj) {
        const { [id]: _, ...rest } = this.djs;
        this.djs = rest;
      }
      if (r.dj?.participant !== hadDj?.participant) this.applyVolumes();
      if (id === this.channelId && this.connection === 'connected') {
        const me = this.me();
        const joined = [...after].some((u) => !before.has(u) && u !== me);
        const left = [...before].some((u) => !after.has(u) && u !== me);
        if (joined) chime(true);
        if (left) chime(false);
      }
    } else if (t === 'voice.offer') {
      void this.onServerOffer((d as { sdp: string }).sdp);
    } else if (t === 'voice.disconnected') {
      this.scheduleRejoin(0);
    }
  }

  private async onServerOffer(sdp: string): Promise<void> {
    const pc = this.pc;
    if (!pc) return;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this.gw()?.request('voice.answer', { sdp: pc.localDescription?.sdp ?? answer.sdp });
  }

  // ---------------------------------------------------------------- join / leave

  async join(channelId: string, rejoin = false): Promise<void> {
    this.error = null;
    const gw = this.gw();
    if (!gw) return;
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      this.error = micErrorText(null);
      return;
    }
    const wasIn = this.channelId;
    this.channelId = channelId;
    this.connection = rejoin ? 'reconnecting' : 'connecting';
    try {
      if (!this.stream) this.stream = await this.openMic();
      this.closePc();
      const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
      this.pc = pc;
      // For diagnostics (and the e2e test): the connection and which m-line is whose.
      (window as unknown as { __spotVoice?: unknown }).__spotVoice = { pc, mids: this.mids };
      for (const track of this.stream.getAudioTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [this.stream] });
      this.applySending();
      pc.ontrack = (e) => this.onTrack(e);
      pc.onconnectionstatechange = () => this.onPcState(pc);
      pc.onicecandidate = (e) => {
        // Candidates found after the offer went out trickle in; the box ignores what it can't use.
        if (e.candidate && this.pc === pc && this.connection !== 'connecting') {
          void gw.request('voice.candidate', { candidate: e.candidate.candidate }).catch(() => {});
        }
      };
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      await this.gathered(pc);
      const r = (await gw.request('voice.join', { channel_id: channelId, sdp: pc.localDescription?.sdp ?? offer.sdp })) as {
        sdp: string;
      };
      if (this.pc !== pc) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: r.sdp });
      if (this.muted || this.deafened) {
        await gw.request('voice.state', { muted: this.muted, deafened: this.deafened }).catch(() => {});
      }
      this.startTimers();
      if (!rejoin && wasIn !== channelId) chime(true);
    } catch (e) {
      const code = (e as { code?: string }).code;
      this.error = code ? ((e as Error).message ?? code) : micErrorText(e);
      if (!rejoin) this.cleanup();
      else this.scheduleRejoin(3000);
    }
  }

  async leave(): Promise<void> {
    const gw = this.gw();
    const was = this.channelId;
    this.cleanup();
    if (was) {
      chime(false);
      await gw?.request('voice.leave', {}).catch(() => {});
    }
  }

  private cleanup(): void {
    this.closePc();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    void this.meterCtx?.close();
    this.meterCtx = null;
    this.micLevel = 0;
    this.channelId = null;
    this.connection = 'idle';
    this.rttMs = this.lossPct = this.jitterMs = null;
    this.transport = null;
    this.rtts = [];
  }

  private closePc(): void {
    this.pc?.close();
    this.pc = null;
    for (const a of this.audioEls.values()) {
      a.srcObject = null;
      a.remove();
    }
    this.audioEls.clear();
    for (const k of Object.keys(this.mids)) delete this.mids[k];
  }

  private gathered(pc: RTCPeerConnection): Promise<void> {
    // Non-trickle for the first offer: host candidates take milliseconds on a LAN.
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      const check = () => {
        if (pc.iceGatheringState === 'complete') done();
      };
      pc.addEventListener('icegatheringstatechange', check);
      setTimeout(done, 1500);
    });
  }

  private onPcState(pc: RTCPeerConnection): void {
    if (pc !== this.pc) return;
    if (pc.connectionState === 'connected') {
      this.connection = 'connected';
      this.error = null;
    } else if (pc.connectionState === 'failed') {
      this.scheduleRejoin(0);
    } else if (pc.connectionState === 'disconnected') {
      // Often recovers by itself; if not, build a new connection without leaving the room.
      this.connection = 'reconnecting';
      this.scheduleRejoin(4000);
    }
  }

  private scheduleRejoin(ms: number): void {
    if (!this.channelId || this.reconnectTimer) return;
    this.connection = 'reconnecting';
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.channelId && this.pc?.connectionState !== 'connected') void this.join(this.channelId, true);
    }, ms);
  }

  private onTrack(e: RTCTrackEvent): void {
    // The box names each remote stream p<user id>.
    const sid = e.streams[0]?.id ?? '';
    const user = sid.startsWith('p') ? sid.slice(1) : sid;
    if (e.transceiver.mid) this.mids[e.transceiver.mid] = user;
    let a = this.audioEls.get(user);
    if (!a) {
      a = document.createElement('audio');
      a.autoplay = true;
      a.dataset.voiceUser = user;
      a.style.display = 'none';
      document.body.appendChild(a);
      this.audioEls.set(user, a);
    }
    a.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    this.applyVolumes();
  }

  // ---------------------------------------------------------------- controls

  async setMuted(m: boolean): Promise<void> {
    this.muted = m;
    this.applySending();
    if (this.channelId) await this.gw()?.request('voice.state', { muted: !this.sending }).catch(() => {});
  }

  async setDeafened(d: boolean): Promise<void> {
    this.deafened = d;
    this.applyVolumes();
    if (this.channelId) await this.gw()?.request('voice.state', { deafened: d }).catch(() => {});
  }

  setVolume(user: string, v: number): void {
    this.settings.volumes[user] = v;
    this.saveSettings();
    this.applyVolumes();
  }

  volumeOf(user: string): number {
    return this.settings.volumes[user] ?? 1;
  }

  /** I muted this room's DJ for myself (this device remembers it; the others still hear it). */
  djMutedFor(channelId: string): boolean {
    return !!this.settings.djMuted?.[channelId];
  }

  setDjMuted(channelId: string, muted: boolean): void {
    const next = { ...(this.settings.djMuted ?? {}) };
    if (muted) next[channelId] = true;
    else delete next[channelId];
    this.settings.djMuted = next;
    this.saveSettings();
    this.applyVolumes();
  }

  async setInput(patch: Partial<Settings>): Promise<void> {
    Object.assign(this.settings, patch);
    this.saveSettings();
    if (!this.stream || !this.pc) return;
    // A new capture with the new device/constraints, swapped in without renegotiating.
    try {
      const s = await this.openMic();
      const track = s.getAudioTracks()[0];
      for (const sender of this.pc.getSenders()) if (sender.track?.kind === 'audio') await sender.replaceTrack(track);
      this.stream.getTracks().forEach((t) => t.stop());
      this.stream = s;
      this.applySending();
    } catch (e) {
      this.error = micErrorText(e);
    }
  }

  private onKey(e: KeyboardEvent, down: boolean): void {
    if (!this.settings.pushToTalk || !this.channelId || e.code !== this.settings.pttKey) return;
    const t = e.target as HTMLElement | null;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    if (this.pttHeld === down) return;
    this.pttHeld = down;
    this.applySending();
    void this.gw()?.request('voice.state', { muted: !this.sending }).catch(() => {});
  }

  private applySending(): void {
    for (const t of this.stream?.getAudioTracks() ?? []) t.enabled = this.sending;
  }

  private applyVolumes(): void {
    // The DJ of the room I am in is a remote track keyed by its stream id like a person's.
    const room = this.channelId;
    const djKey = room ? djAudioKey(this.djs[room]) : null;
    const djMuted = !!room && this.djMutedFor(room);
    for (const [user, a] of this.audioEls) {
      a.muted = this.deafened || (user === djKey && djMuted);
      a.dataset.dj = user === djKey ? 'true' : 'false';
      a.volume = Math.max(0, Math.min(1, this.volumeOf(user)));
    }
  }

  private async openMic(): Promise<MediaStream> {
    const s = this.settings;
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        deviceId: s.deviceId ? { exact: s.deviceId } : undefined,
        echoCancellation: s.echoCancellation,
        noiseSuppression: s.noiseSuppression,
        autoGainControl: s.autoGainControl,
      },
    });
    this.devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput');
    this.startMeter(stream);
    return stream;
  }

  private startMeter(stream: MediaStream): void {
    void this.meterCtx?.close();
    try {
      const ctx = new AudioContext();
      const an = ctx.createAnalyser();
      an.fftSize = 512;
      ctx.createMediaStreamSource(stream).connect(an);
      this.meterCtx = ctx;
      const buf = new Float32Array(an.fftSize);
      const tick = setInterval(() => {
        if (this.meterCtx !== ctx) return clearInterval(tick);
        an.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const v of buf) sum += v * v;
        this.micLevel = Math.min(1, Math.sqrt(sum / buf.length) * 4);
      }, 100);
    } catch {
      this.micLevel = 0;
    }
  }

  private startTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [setInterval(() => void this.sampleQuality(), 2000)];
  }

  private async sampleQuality(): Promise<void> {
    const pc = this.pc;
    if (!pc) return;
    const stats = await pc.getStats();
    let lost = 0;
    let recv = 0;
    let jitter: number | null = null;
    let upLoss = 0;
    // The pair media actually uses is the transport's selected one; other pairs (several may
    // say `nominated`, e.g. after a network change) only get occasional checks and their RTT
    // says nothing about the call. `currentRoundTripTime` is in seconds.
    let selected: Record<string, unknown> | undefined;
    let nominated: Record<string, unknown> | undefined;
    stats.forEach((s: Record<string, unknown>) => {
      if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') {
        selected = stats.get(s.selectedCandidatePairId) as Record<string, unknown> | undefined;
      }
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') nominated ??= s;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        lost += Number(s.packetsLost ?? 0);
        recv += Number(s.packetsReceived ?? 0);
        if (typeof s.jitter === 'number') jitter = Math.max(jitter ?? 0, s.jitter * 1000);
      }
      // What the box reports of my microphone's stream (RTCP receiver reports).
      if (s.type === 'remote-inbound-rtp' && s.kind === 'audio' && typeof s.fractionLost === 'number') {
        upLoss = Math.max(upLoss, s.fractionLost * 100);
      }
    });
    const pair = selected ?? nominated;
    const rtt = pair ? this.roundTrip(pair) : null;
    const local = pair ? (stats.get(String(pair.localCandidateId)) as Record<string, unknown> | undefined) : undefined;
    this.transport = typeof local?.protocol === 'string' ? local.protocol : null;
    const dl = lost - this.lastLost;
    const dr = recv - this.lastRecv;
    this.lastLost = lost;
    this.lastRecv = recv;
    this.rttMs = rtt;
    const downLoss = dr + dl > 0 ? (100 * Math.max(0, dl)) / (dr + dl) : 0;
    this.lossPct = Math.max(downLoss, upLoss);
    this.jitterMs = jitter;
  }

  /**
   * The round trip to show, in ms. `currentRoundTripTime` is one ICE check (one every couple of
   * seconds), so a single check that waited behind a busy CPU would show a 200 ms call for the
   * next few seconds. Instead: the average of the checks since the last sample
   * (`totalRoundTripTime` / `responsesReceived`, both cumulative), and the median of the last five.
   */
  private roundTrip(pair: Record<string, unknown>): number | null {
    const id = String(pair.id);
    const total = Number(pair.totalRoundTripTime ?? 0);
    const count = Number(pair.responsesReceived ?? 0);
    const from = this.rttFrom;
    if (from.pair !== id || count < from.count) {
      // A new path (a re-join, a network change): its own samples only.
      this.rtts = [];
      this.rttFrom = { pair: id, total: 0, count: 0 };
    }
    if (count > this.rttFrom.count && total >= this.rttFrom.total) {
      this.rtts.push(((total - this.rttFrom.total) / (count - this.rttFrom.count)) * 1000);
      if (this.rtts.length > 5) this.rtts.shift();
      this.rttFrom = { pair: id, total, count };
    } else if (!this.rtts.length && typeof pair.currentRoundTripTime === 'number') {
      return pair.currentRoundTripTime * 1000;
    }
    if (!this.rtts.length) return null;
    const sorted = [...this.rtts].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }
}
