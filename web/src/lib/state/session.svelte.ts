// The session: who I am, whether I am logged in, and the box's limits. Logging in, accepting an
// invite, the setup claim and logging out go through here; the rest of the app follows the
// session through the hooks `connection.svelte.ts` installs (gateway, channels, message windows).

import { api, ApiError, errorText, setCsrfToken, setUnauthorizedHandler } from '../api';
import { DEFAULT_MESSAGE_MAX_CHARS, parseMessageMaxChars } from '../limits';
import { router } from '../router.svelte';
import type { Session, User } from '../types';
import { toast } from './toasts.svelte';

export interface SessionHooks {
  /** A session began (login, invite, claim, or a cookie that still works). */
  started(s: Session): void;
  /** It ended: drop everything that belonged to it. */
  ended(): void;
}

class SessionState {
  phase = $state<'loading' | 'anon' | 'ready'>('loading');
  me = $state<User | null>(null);
  /** Shown on the loading screen while the box cannot be reached. */
  bootError = $state('');
  /** The box's `limits.message_max_chars` (from /api/me and the gateway snapshot). */
  messageMaxChars = $state(DEFAULT_MESSAGE_MAX_CHARS);
  isAdmin: boolean = $derived(this.me?.role === 'admin');

  private returnTo: string | null = null;
  private hooks: SessionHooks = { started() {}, ended() {} };

  constructor() {
    setUnauthorizedHandler(() => this.sessionEnded());
  }

  setHooks(h: SessionHooks): void {
    this.hooks = h;
  }

  async boot(attempt = 0): Promise<void> {
    try {
      const s = await api<Session>('GET', '/api/me');
      this.bootError = '';
      this.start(s);
    } catch (e) {
      if (e instanceof ApiError && (e.code === 'network' || e.status >= 500)) {
        // The box is restarting or unreachable: keep trying instead of showing the login form.
        this.bootError = `${errorText(e)} Retrying…`;
        setTimeout(() => void this.boot(attempt + 1), Math.min(10_000, 1000 * 2 ** attempt));
        return;
      }
      this.bootError = '';
      this.phase = 'anon';
    }
  }

  async login(username: string, password: string): Promise<void> {
    await this.signIn(username, password);
    const to = this.returnTo && this.returnTo !== '/login' ? this.returnTo : '/';
    this.returnTo = null;
    router.navigate(to, { replace: true });
  }

  /** Log in without leaving the page (the setup wizard signs in inline). */
  async signIn(username: string, password: string): Promise<void> {
    this.adoptSession(await api<Session>('POST', '/api/login', { username, password }));
  }

  /** A session the box handed out elsewhere (POST /api/setup/claim answers like a login). */
  adoptSession(s: Session): void {
    this.start(s);
  }

  async acceptInvite(token: string, username: string, password: string, display_name: string): Promise<void> {
    const s = await api<Session>('POST', `/api/invites/${encodeURIComponent(token)}/accept`, {
      username,
      password,
      display_name: display_name || undefined,
    });
    this.start(s);
    router.navigate('/', { replace: true });
  }

  async logout(everywhere = false): Promise<void> {
    try {
      await api('POST', everywhere ? '/api/logout-all' : '/api/logout');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        toast(errorText(e));
        return;
      }
    }
    this.end();
    router.navigate('/login', { replace: true });
  }

  /** The server ended the session (401 or gateway close 4001). */
  sessionEnded(): void {
    if (this.phase !== 'ready') return;
    this.returnTo = location.pathname;
    this.end();
    toast('Your session has ended. Please log in again.', 'info');
    router.navigate('/login', { replace: true });
  }

  /** Applies a `limits` object from the box; without one (older boxes) the current value stays. */
  setLimits(limits: unknown): void {
    const n = parseMessageMaxChars(limits);
    if (n !== null) this.messageMaxChars = n;
  }

  private start(s: Session): void {
    setCsrfToken(s.csrf_token);
    this.me = s.user;
    this.setLimits(s.limits);
    this.phase = 'ready';
    this.hooks.started(s);
  }

  private end(): void {
    this.hooks.ended();
    setCsrfToken(null);
    this.me = null;
    this.messageMaxChars = DEFAULT_MESSAGE_MAX_CHARS;
    this.phase = 'anon';
  }
}

export const session = new SessionState();
