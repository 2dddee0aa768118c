// Search state (GET /api/search) and "jump to the message in context".

import { tick } from 'svelte';
import { api, errorText } from './api';
import { router } from './router.svelte';
import { timeline } from './state/timeline.svelte';
import { hasSearchable, parseSearch } from './search';
import type { SearchHit } from './types';

export type { HitChannel, SearchHit } from './types';

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
  /** The next navigation is a jump to a result: the results stay (beside the chat, on a desktop). */
  jumping = false;
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
      this.hits = more ? [...this.hits, ...r.results] : r.results;
      this.total = r.total;
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
  search.jumping = search.open;
  router.navigate(`/channels/${encodeURIComponent(channelId)}`);
  // Let the shell open the channel first, so our `around` load wins over its first load.
  await tick();
  await timeline.jumpTo(channelId, messageId);
}
