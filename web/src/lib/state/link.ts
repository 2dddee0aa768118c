// The gateway connection of the current session, shared by the stores that send requests over it
// (typing, presence, read acks, the outbox, voice). `connection.svelte.ts` sets it; nothing else.

import type { Gateway } from '../gateway';

export const link: { gateway: Gateway | null } = { gateway: null };
