// Search state (GET /api/search) and "jump to the message in context".

import { tick } from 'svelte';
import { api, errorText } from './api';
import { router } from './router.svelte';
import { app, parseMessage } from './store.svelte';
import { hasSearchable, parseSearch } from './search';
import type { Message } from './types';

/** Where a hit was said (the box sends it: unfollowed threads are not in the channel list). */
export interface HitChannel {
  name: string;
  kind?: string;
  parent_id?: string | null;
}

export interface SearchHit {
  message: Message;
  channel_id: string;
  channel: HitChannel | null;
  snippet: string;
}

const PAGE = 25;

class SearchState {
  /** The results panel is shown. */
  open = $state(false);
  /** What the box holds. */
  q = $state('');
  /** The query the results are for. */
  searched = $state('');
  hits = $state<SearchHit[]>([]);
  total = $state(0);
  loading = $state(false);
  error = $state('');
  problems = $state<string[]>([]);
  /** Bumped to ask the search box to take focus (Ctrl/Cmd+K, "/"). */
  focusRequest = $state(0);
  private gen = 0;

  async run(q: string = this.q, more = false): Promise<void> {
    const query = q.trim();
    const parsed = parseSearch(query);
    this.problems = parsed.problems;
    this.open = true;
    if (!hasSearchable(parsed)) {
      this.hits = [];
      this.total = 0;
      this.searched = query;
      this.error = query ? '' : 'Type something to search for.';
      return;
    }
    const gen = ++this.gen;
    const offset = more ? this.hits.length : 0;
    this.loading = true;
    this.error = '';
    try {
      const r = await api<{ results: SearchHit[]; total: number }>(
        'GET',
        `/api/search?q=${encodeURIComponent(query)}&limit=${PAGE}&offset=${offset}`,
      );
      if (gen !== this.gen) return;
      const hits: SearchHit[] = [];
      for (const x of r?.results ?? []) {
        const m = parseMessage(x.message);
        const ch = x.channel && typeof x.channel === 'object' ? x.channel : null;
        if (m)
          hits.push({
            message: m,
            channel_id: String(x.channel_id ?? m.channel_id),
            channel: ch
              ? { name: String(ch.name ?? ''), kind: ch.kind, parent_id: ch.parent_id != null ? String(ch.parent_id) : null }
              : null,
            snippet: String(x.snippet ?? ''),
          });
      }
      this.hits = more ? [...this.hits, ...hits] : hits;
      this.total = Number(r?.total ?? this.hits.length);
      this.searched = query;
    } catch (e) {
      if (gen !== this.gen) return;
      this.error = errorText(e);
      if (!more) this.hits = [];
    } finally {
      if (gen === this.gen) this.loading = false;
    }
  }

  close(): void {
    this.open = false;
    this.gen++;
    this.loading = false;
  }

  focus(): void {
    this.focusRequest++;
  }
}

export const search = new SearchState();

/** Opens the message's channel, loads the history around it and flashes it. */
export async function showMessage(channelId: string, messageId: string): Promise<void> {
  router.navigate(`/channels/${encodeURIComponent(channelId)}`);
  // Let the shell open the channel first, so our `around` load wins over its first load.
  await tick();
  await app.jumpTo(channelId, messageId);
}
