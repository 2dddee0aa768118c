// The wizard's steps for a box, and where to resume (pure; lib/setup.svelte.ts moves through them).

import type { SetupInfo } from './types';

export type StepId = 'welcome' | 'name' | 'account' | 'signin' | 'timezone' | 'wifi' | 'secure' | 'done';

export const STEP_LABELS: Record<StepId, string> = {
  welcome: 'Welcome',
  name: 'Box name',
  account: 'Admin account',
  signin: 'Sign in',
  timezone: 'Time zone',
  wifi: 'Wi-Fi',
  secure: 'Secure connection',
  done: 'Done',
};

/** The wizard's steps for this box (pure, for tests). */
export function stepsFor(info: SetupInfo, wifi: 'required' | 'optional' | 'none'): StepId[] {
  const head: StepId[] = info.preset_admin ? ['welcome', 'signin'] : ['welcome', 'name', 'account', 'timezone'];
  const showWifi = wifi !== 'none' || info.steps.network !== 'todo';
  return [...head, ...(showWifi ? (['wifi'] as StepId[]) : []), 'secure', 'done'];
}

/** The step to resume at once the box is claimed and its admin is signed in (pure). */
export function resumeStep(info: SetupInfo, steps: StepId[]): StepId {
  if (steps.includes('wifi') && info.steps.network === 'todo') return 'wifi';
  if (info.steps.tls === 'todo' && !info.tls.enabled) return 'secure';
  return 'done';
}

