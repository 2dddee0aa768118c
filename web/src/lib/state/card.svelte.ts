// The profile card: whose card is open and what opened it (the card sits next to it on a wide
// screen, and focus goes back to it when the card closes). One card at a time, for the app.

import { chat } from './chat.svelte';

class CardState {
  userId = $state<string | null>(null);
  anchor: HTMLElement | null = null;

  open(userId: string, anchor: HTMLElement | null): void {
    this.anchor = anchor;
    this.userId = userId;
  }

  /** By `@username` (a mention); unknown names open nothing. */
  openByName(username: string, anchor: HTMLElement | null): void {
    const u = Object.values(chat.users).find((x) => x.username.toLowerCase() === username.toLowerCase());
    if (u) this.open(u.id, anchor);
  }

  close(): void {
    this.userId = null;
  }
}

export const card = new CardState();

/** Opens the card on click and on Enter/Space (for elements given role="button"). */
export function cardKeydown(e: KeyboardEvent, userId: string): void {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    card.open(userId, e.currentTarget as HTMLElement);
  }
}
