// Typing, presence and the clock: who is typing where, whether I am idle, whether the window has
// focus, and `now` (ticking each second) for typing lines and timeouts.

import { timeoutEnd } from '../moderation';
import { typingUserIds, type TypingMap } from '../typing';
import type { User } from '../types';
import { chat } from './chat.svelte';
import { link } from './link';
import { session } from './session.svelte';

export const TYPING_SEND_EVERY_MS = 3000;
export const IDLE_AFTER_MS = 5 * 60 * 1000;

class PresenceStore {
  typing = $state<TypingMap>({});
  focused = $state(true);
  now = $state(Date.now());
  idle = $state(false);
  /** When my timeout ends (Unix ms), or null when I am not timed out. */
  timeoutUntil: number | null = $derived(timeoutEnd(session.me, this.now));

  private lastTypingSent: Record<string, number> = {};
  private lastInput = Date.now();
  private wasTimedOut = false;

  /** Tells the others I am typing (at most every 3 s per channel). */
  typingStart(channelId: string): void {
    const now = Date.now();
    if (now - (this.lastTypingSent[channelId] ?? 0) < TYPING_SEND_EVERY_MS) return;
    const gw = link.gateway;
    if (!gw?.connected) return;
    this.lastTypingSent[channelId] = now;
    void gw.request('typing.start', { channel_id: channelId }).catch(() => {});
  }

  /** A message went out: the next keystroke may say "typing" again at once. */
  sent(channelId: string): void {
    this.lastTypingSent[channelId] = 0;
  }

  /** Users typing in a channel right now (never me). */
  typers(channelId: string): User[] {
    return typingUserIds(this.typing, channelId, session.me?.id, this.now)
      .map((uid) => chat.users[uid])
      .filter((u): u is User => !!u);
  }

  private setPresence(status: 'online' | 'idle'): void {
    void link.gateway?.request('presence.set', { status }).catch(() => {});
  }

  /** Installs window listeners for focus, idle detection and the clock. */
  installWindowHooks(): () => void {
    const updateFocus = () => {
      this.focused = document.visibilityState === 'visible' && document.hasFocus();
    };
    const onInput = () => {
      this.lastInput = Date.now();
      if (this.idle) {
        this.idle = false;
        this.setPresence('online');
      }
    };
    let lastMove = 0;
    const onMove = () => {
      const n = Date.now();
      if (n - lastMove > 1000) {
        lastMove = n;
        onInput();
      }
    };
    const onOnline = () => link.gateway?.reconnectNow();
    const tick = setInterval(() => {
      this.now = Date.now();
      if (!this.idle && session.phase === 'ready' && Date.now() - this.lastInput >= IDLE_AFTER_MS) {
        this.idle = true;
        this.setPresence('idle');
      }
      // My permissions lost `send` while timed out; the box lists them again once it has run out.
      const timedOut = this.timeoutUntil !== null;
      if (this.wasTimedOut && !timedOut && session.phase === 'ready') void chat.reloadChannels();
      this.wasTimedOut = timedOut;
    }, 1000);
    window.addEventListener('focus', updateFocus);
    window.addEventListener('blur', updateFocus);
    document.addEventListener('visibilitychange', updateFocus);
    window.addEventListener('keydown', onInput, true);
    window.addEventListener('pointerdown', onInput, true);
    window.addEventListener('pointermove', onMove, true);
    window.addEventListener('wheel', onMove, { capture: true, passive: true });
    window.addEventListener('online', onOnline);
    updateFocus();
    return () => {
      clearInterval(tick);
      window.removeEventListener('focus', updateFocus);
      window.removeEventListener('blur', updateFocus);
      document.removeEventListener('visibilitychange', updateFocus);
      window.removeEventListener('keydown', onInput, true);
      window.removeEventListener('pointerdown', onInput, true);
      window.removeEventListener('pointermove', onMove, true);
      window.removeEventListener('wheel', onMove, true);
      window.removeEventListener('online', onOnline);
    };
  }

  reset(): void {
    this.typing = {};
  }
}

export const presence = new PresenceStore();
