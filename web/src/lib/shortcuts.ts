// Keyboard shortcuts as data and pure rules: the sidebar's order, the next channel (or the next
// one with unread), and when a key belongs to the page rather than the field it was typed in.
// Keys are matched by `event.key` (what the layout types), never by `event.code`, so `?` works
// on any layout that has it. The sheet (components/ShortcutSheet.svelte) lists `SHORTCUTS`.

import { channelAttention } from './attention';
import type { Channel } from './types';

export interface Shortcut {
  keys: string[][];
  what: string;
}

export const SHORTCUTS: { group: string; items: Shortcut[] }[] = [
  {
    group: 'Moving around',
    items: [
      { keys: [['Alt', '↑'], ['Alt', '↓']], what: 'Previous or next channel' },
      { keys: [['Alt', 'Shift', '↑'], ['Alt', 'Shift', '↓']], what: 'Previous or next channel with unread messages' },
      { keys: [['?']], what: 'Show these shortcuts (outside a text field)' },
      { keys: [['Esc']], what: 'Close a dialog, a panel or a menu' },
    ],
  },
  {
    group: 'In a channel',
    items: [
      { keys: [['Esc']], what: 'Mark the channel as read (with an empty message box)' },
      { keys: [['↑']], what: 'Edit your last message (in an empty message box)' },
      { keys: [['Enter']], what: 'Send' },
      { keys: [['Shift', 'Enter']], what: 'New line' },
    ],
  },
  {
    group: 'On a focused message',
    items: [
      { keys: [['R']], what: 'Reply' },
      { keys: [['T']], what: 'Open or start a thread' },
      { keys: [['E']], what: 'Edit your message' },
      { keys: [['P']], what: 'Pin or unpin' },
      { keys: [['+']], what: 'Add a reaction' },
      { keys: [['Delete']], what: 'Delete' },
      { keys: [['↑'], ['↓']], what: 'Previous or next message' },
    ],
  },
];

/** The channels in the order the sidebar lists them: each text channel and its followed threads, then DMs. */
export function sidebarOrder(text: readonly Channel[], threadsOf: (id: string) => readonly Channel[], dms: readonly Channel[]): Channel[] {
  const out: Channel[] = [];
  for (const c of text) {
    out.push(c);
    out.push(...threadsOf(c.id));
  }
  out.push(...dms);
  return out;
}

/** Something to read there at the channel's notification level. */
export function hasUnread(c: Channel): boolean {
  const a = channelAttention(c);
  return a.pings > 0 || a.unread > 0;
}

/**
 * The channel `dir` steps from `current` in `order`, wrapping around; with `unreadOnly`, the
 * nearest one with unread in that direction (null when there is none). Without a current one in
 * the list, down starts at the top and up at the bottom.
 */
export function stepChannel(order: readonly Channel[], current: string | null, dir: 1 | -1, unreadOnly = false): Channel | null {
  const n = order.length;
  if (!n) return null;
  let i = order.findIndex((c) => c.id === current);
  if (i < 0) i = dir === 1 ? -1 : n;
  for (let k = 1; k <= n; k++) {
    const c = order[(((i + dir * k) % n) + n) % n];
    if (c.id === current) continue;
    if (!unreadOnly || hasUnread(c)) return c;
  }
  return null;
}

/** Where typing happens: a key pressed there is text, not a shortcut. */
export function isTextField(el: EventTarget | null): boolean {
  if (!el || typeof (el as HTMLElement).tagName !== 'string') return false;
  const e = el as HTMLElement;
  if (e.isContentEditable) return true;
  const tag = e.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag !== 'INPUT') return false;
  const type = ((e as HTMLInputElement).type || 'text').toLowerCase();
  return !['button', 'checkbox', 'radio', 'range', 'submit', 'reset', 'color', 'file', 'image'].includes(type);
}

export type ShortcutAction =
  | { kind: 'step'; dir: 1 | -1; unreadOnly: boolean }
  | { kind: 'sheet' }
  | { kind: 'markRead' }
  | null;

/** What a keydown on the page means (the caller checks dialogs and the open channel). */
export function shortcutFor(e: Pick<KeyboardEvent, 'key' | 'altKey' | 'shiftKey' | 'ctrlKey' | 'metaKey' | 'isComposing' | 'target'>): ShortcutAction {
  if (e.isComposing || e.ctrlKey || e.metaKey) return null;
  if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
    return { kind: 'step', dir: e.key === 'ArrowUp' ? -1 : 1, unreadOnly: e.shiftKey };
  }
  if (e.altKey) return null;
  if (e.key === '?' && !isTextField(e.target)) return { kind: 'sheet' };
  if (e.key === 'Escape' && !e.shiftKey) {
    const t = e.target as HTMLElement | null;
    // An empty message box, or anything that is not a text field.
    if (!isTextField(t)) return { kind: 'markRead' };
    if (t?.tagName === 'TEXTAREA' && t.dataset.composer !== undefined && !(t as HTMLTextAreaElement).value) {
      return { kind: 'markRead' };
    }
  }
  return null;
}
