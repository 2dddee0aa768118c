// Which CA instructions to open first, from the browser's user agent.

export type ClientOs = 'ios' | 'android' | 'windows' | 'macos' | 'linux';

export const OS_ORDER: ClientOs[] = ['ios', 'android', 'windows', 'macos', 'linux'];

/**
 * `maxTouchPoints` tells an iPad (whose Safari says "Macintosh") from a Mac.
 * Unknown systems get null (all instructions closed).
 */
export function detectOs(ua: string, maxTouchPoints = 0): ClientOs | null {
  if (/iPhone|iPad|iPod/i.test(ua)) return 'ios';
  if (/Android/i.test(ua)) return 'android';
  if (/Windows/i.test(ua)) return 'windows';
  if (/Macintosh|Mac OS X/i.test(ua)) return maxTouchPoints > 1 ? 'ios' : 'macos';
  if (/CrOS/i.test(ua)) return null;
  if (/Linux|X11|FreeBSD|OpenBSD/i.test(ua)) return 'linux';
  return null;
}

/** The detected system first, the others in their usual order. */
export function osOrder(first: ClientOs | null): ClientOs[] {
  return first ? [first, ...OS_ORDER.filter((o) => o !== first)] : OS_ORDER;
}
