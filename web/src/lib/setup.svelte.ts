// The first-run wizard's state: which step is shown, what was typed before the box is
// claimed, and the calls that move it on. Only the wizard chunk imports this.

import { api, ApiError, errorText } from './api';
import { session } from './state/session.svelte';
import { gate } from './setupGate.svelte';
import { router } from './router.svelte';
import { browserTimeZone } from './setup/names';
import { wifiStepKind } from './setup/wifi';
import { resumeStep, stepsFor, type StepId } from './setup/steps';
import type { Session } from './types';
import type { SetupInfo } from './setup/types';

export { STEP_LABELS, type StepId } from './setup/steps';

/** Where a failed claim sends the person back to, by error code. */
const CLAIM_FIELD: Record<string, StepId> = {
  weak_password: 'account',
  invalid_username: 'account',
  username_taken: 'account',
  invalid_box_name: 'name',
  invalid_timezone: 'timezone',
};

class Wizard {
  step = $state<StepId>('welcome');
  /** Set once per visit so the Wi-Fi step does not vanish from the list after joining. */
  wifiKind = $state<'required' | 'optional' | 'none'>('none');
  boxName = $state('spot');
  username = $state('');
  password = $state('');
  timezone = $state(browserTimeZone());
  /** A claim error, shown on the step it is about. */
  error = $state<{ step: StepId; code: string; message: string } | null>(null);
  busy = $state(false);
  /** Step changes made by the person (not the first render) move focus to the heading. */
  moved = $state(0);

  info: SetupInfo | null = $derived(gate.info);
  steps: StepId[] = $derived(this.info ? stepsFor(this.info, this.wifiKind) : []);
  /** Claimed, and I am its admin: the steps after the claim are mine to take. */
  isAdmin: boolean = $derived(session.phase === 'ready' && session.me?.role === 'admin');

  start(): void {
    const info = this.info;
    if (!info) return;
    this.wifiKind = wifiStepKind(info.network);
    if (info.box_name) this.boxName = info.box_name;
    if (info.timezone) this.timezone = info.timezone;
    if (!info.claimed) this.step = 'welcome';
    else if (this.isAdmin) this.step = resumeStep(info, this.steps);
    else this.step = info.preset_admin ? 'welcome' : 'signin';
  }

  go(step: StepId): void {
    this.step = step;
    this.moved++;
    if (typeof window !== 'undefined') window.scrollTo(0, 0);
  }

  next(): void {
    const i = this.steps.indexOf(this.step);
    if (i >= 0 && i < this.steps.length - 1) this.go(this.steps[i + 1]);
  }

  back(): void {
    const i = this.steps.indexOf(this.step);
    if (i > 0) this.go(this.steps[i - 1]);
  }

  /** Back is offered before the claim, and between the steps after it. */
  canGoBack(): boolean {
    const i = this.steps.indexOf(this.step);
    if (i <= 0) return false;
    const prev = this.steps[i - 1];
    if (this.info?.claimed) return !['welcome', 'name', 'account', 'signin', 'timezone'].includes(prev);
    return true;
  }

  errorFor(step: StepId): { code: string; message: string } | null {
    return this.error && this.error.step === step ? this.error : null;
  }

  async refresh(): Promise<void> {
    try {
      gate.set(await api<SetupInfo>('GET', '/api/setup'));
      if (this.wifiKind === 'none') this.wifiKind = wifiStepKind(this.info?.network ?? null);
    } catch {
      /* keep what we have */
    }
  }

  async claim(): Promise<void> {
    this.busy = true;
    this.error = null;
    try {
      const s = await api<Session>('POST', '/api/setup/claim', {
        box_name: this.boxName.trim(),
        username: this.username.trim(),
        password: this.password,
        timezone: this.timezone,
      });
      this.password = '';
      session.adoptSession(s);
      await this.refresh();
      this.next();
    } catch (e) {
      const code = e instanceof ApiError ? e.code : 'error';
      const step = CLAIM_FIELD[code] ?? 'timezone';
      this.error = { step, code, message: errorText(e) };
      if (code === 'already_claimed' || code === 'setup_not_local') await this.refresh();
      if (step !== this.step) this.go(step);
    } finally {
      this.busy = false;
    }
  }

  async signIn(username: string, password: string): Promise<void> {
    await session.signIn(username, password);
    await this.refresh();
    const info = this.info;
    if (info && this.isAdmin) this.go(resumeStep(info, this.steps));
  }

  /** Record a step's outcome (best effort: the box may be switching networks). */
  async record(step: 'network' | 'tls', outcome: 'done' | 'skipped'): Promise<void> {
    try {
      // The answer may be the setup info, or nothing (204): then read it.
      if (!gate.set(await api<SetupInfo>('POST', '/api/setup/step', { step, outcome }))) await this.refresh();
    } catch {
      /* the next GET /api/setup tells */
    }
  }

  async finish(): Promise<void> {
    this.busy = true;
    this.error = null;
    try {
      if (!gate.set(await api<SetupInfo>('POST', '/api/setup/finish'))) await this.refresh();
      if (gate.info && !gate.info.complete) gate.info = { ...gate.info, complete: true };
      router.navigate('/', { replace: true });
    } catch (e) {
      this.error = { step: 'done', code: e instanceof ApiError ? e.code : 'error', message: errorText(e) };
    } finally {
      this.busy = false;
    }
  }
}

export const wizard = new Wizard();
