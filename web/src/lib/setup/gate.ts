// The setup routing guard (pure): where a route leads while the box is not set up.

import type { SetupInfo } from './types';

/**
 * Whether every page should lead to the wizard: nobody has claimed the box, or the admin
 * came from a Raspberry Pi Imager preset and has not been through the wizard yet.
 * A box claimed in the wizard whose admin wanders off to the chat is not pulled back.
 */
export function wizardPending(info: SetupInfo | null): boolean {
  return !!info && !info.complete && (!info.claimed || !!info.preset_admin);
}

/**
 * The path to replace the current one with, or null to stay.
 * `info` is null when the box has no setup API (older daemons) or it could not be read.
 */
export function guardRedirect(
  info: SetupInfo | null,
  route: string,
  phase: 'loading' | 'anon' | 'ready',
): string | null {
  if (phase === 'loading') return null;
  if (wizardPending(info)) return route === 'setup' ? null : '/setup';
  if (route === 'setup') return null; // the wizard shows "finished" or the login itself
  if (phase === 'anon' && route !== 'login' && route !== 'invite') return '/login';
  if (phase === 'ready' && route === 'login') return '/';
  return null;
}
