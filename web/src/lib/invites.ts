// Invite links: which of the box's addresses a link starts with, said in words.

import type { LinkBase } from './types';

export function inviteUrl(base: string, token: string): string {
  return `${base.replace(/\/+$/, '')}/invite/${encodeURIComponent(token)}`;
}

/** What the address is, for the admin choosing one. */
export function baseKind(b: LinkBase): string {
  switch (b.kind) {
    case 'public_origin':
      return "the box's configured public address (public_origin)";
    case 'mdns':
      return "the box's name on your network (mDNS)";
    case 'lan':
      return "the box's address on your network (LAN)";
    default:
      return b.loopback ? 'the address this browser uses (only works on this computer)' : 'the address this browser uses';
  }
}
