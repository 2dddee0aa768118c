// The mention/DM chime, synthesized with WebAudio: two soft sine notes (a rising fourth) with a
// short bell-like envelope, about 0.4 s. No audio file to download or cache. One AudioContext
// for the page, made on the first user gesture (browsers keep a context made earlier suspended).

type Ctor = typeof AudioContext;

let ctx: AudioContext | null = null;

function audioCtor(): Ctor | null {
  if (typeof window === 'undefined') return null;
  return window.AudioContext ?? (window as unknown as { webkitAudioContext?: Ctor }).webkitAudioContext ?? null;
}

function context(): AudioContext | null {
  if (ctx) return ctx;
  const C = audioCtor();
  if (!C) return null;
  try {
    ctx = new C();
  } catch {
    return null;
  }
  return ctx;
}

/** Makes (or resumes) the context inside a user gesture, so later chimes may sound. */
export function unlockAudio(): void {
  const c = context();
  if (c && c.state === 'suspended') void c.resume().catch(() => {});
}

/** Listens for the first gestures that let audio start; returns the uninstaller. */
export function installAudioUnlock(): () => void {
  if (typeof window === 'undefined') return () => {};
  const on = () => {
    unlockAudio();
    if (ctx?.state === 'running') off();
  };
  const off = () => {
    window.removeEventListener('pointerdown', on, true);
    window.removeEventListener('keydown', on, true);
  };
  window.addEventListener('pointerdown', on, true);
  window.addEventListener('keydown', on, true);
  return off;
}

/** Plays the chime (quietly does nothing where WebAudio is missing). */
export function playChime(): void {
  const c = context();
  if (!c) return;
  if (c.state === 'suspended') void c.resume().catch(() => {});
  const t0 = c.currentTime + 0.01;
  const master = c.createGain();
  master.gain.value = 0.18;
  master.connect(c.destination);
  // E5 then A5; each note: 8 ms attack, exponential decay.
  for (const [freq, at, len] of [
    [659.25, 0, 0.28],
    [880, 0.11, 0.32],
  ] as const) {
    const osc = c.createOscillator();
    const env = c.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    env.gain.setValueAtTime(0.0001, t0 + at);
    env.gain.exponentialRampToValueAtTime(1, t0 + at + 0.008);
    env.gain.exponentialRampToValueAtTime(0.0001, t0 + at + len);
    osc.connect(env).connect(master);
    osc.start(t0 + at);
    osc.stop(t0 + at + len + 0.02);
    osc.onended = () => env.disconnect();
  }
  setTimeout(() => master.disconnect(), 600);
}
