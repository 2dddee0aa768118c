// The music library as the open library view shows it: one search listing, paged, kept live by
// the durable `track.create` / `track.delete` events (through `connection.onAnyEvent`), uploads
// with a progress bar and an error in words each, and deleting.

import { api, errorText } from './api';
import { connection } from './state/connection.svelte';
import { toast } from './state/toasts.svelte';
import { musicUploadErrorText, PAGE, withCreated, withDeleted, withPage, type Listing } from './music';
import { sendWithProgress } from './upload';
import type { Track } from './types';

export interface MusicUpload {
  key: number;
  name: string;
  fraction: number;
  state: 'waiting' | 'uploading' | 'done' | 'failed';
  error: string | null;
  /** The track it became. */
  track: Track | null;
}

class Library {
  listing = $state<Listing>({ q: '', tracks: [], total: 0 });
  loading = $state(false);
  error = $state<string | null>(null);
  uploads = $state<MusicUpload[]>([]);
  private seq = 0;
  private query = 0;
  private queue: { key: number; file: File }[] = [];
  private running = false;
  private aborts = new Map<number, () => void>();

  constructor() {
    connection.onAnyEvent((t, d) => {
      if (t === 'track.create') this.listing = withCreated(this.listing, d as Track);
      else if (t === 'track.delete') this.listing = withDeleted(this.listing, String((d as { id: string }).id));
    });
  }

  get hasMore(): boolean {
    return this.listing.tracks.length < this.listing.total;
  }

  /** Lists from the start for these words ('' for everything). An older answer never wins. */
  async search(q: string): Promise<void> {
    const n = ++this.query;
    this.loading = true;
    this.error = null;
    try {
      const r = await api<{ tracks: Track[]; total: number }>('GET', `/api/music/tracks?${params(q, 0)}`);
      if (n !== this.query) return;
      this.listing = { q, tracks: r.tracks, total: r.total };
    } catch (e) {
      if (n === this.query) this.error = `Could not load the library: ${errorText(e)}`;
    } finally {
      if (n === this.query) this.loading = false;
    }
  }

  async loadMore(): Promise<void> {
    if (this.loading || !this.hasMore) return;
    const n = ++this.query;
    const l = this.listing;
    this.loading = true;
    try {
      const r = await api<{ tracks: Track[]; total: number }>('GET', `/api/music/tracks?${params(l.q, l.tracks.length)}`);
      if (n === this.query) this.listing = withPage(this.listing, r.tracks, r.total);
    } catch (e) {
      if (n === this.query) this.error = `Could not load more: ${errorText(e)}`;
    } finally {
      if (n === this.query) this.loading = false;
    }
  }

  /** Queues files for upload, one at a time (the box decodes each as it arrives). */
  upload(files: File[]): void {
    for (const file of files) {
      const key = ++this.seq;
      this.uploads = [...this.uploads, { key, name: file.name || 'music', fraction: 0, state: 'waiting', error: null, track: null }];
      this.queue.push({ key, file });
    }
    void this.run();
  }

  private patch(key: number, p: Partial<MusicUpload>): void {
    this.uploads = this.uploads.map((u) => (u.key === key ? { ...u, ...p } : u));
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        const { key, file } = next;
        const name = file.name || 'music';
        this.patch(key, { state: 'uploading' });
        const h = sendWithProgress<Track>({
          method: 'POST',
          url: '/api/music/tracks',
          headers: { 'Content-Type': file.type || 'application/octet-stream', 'X-Filename': encodeURIComponent(name) },
          body: file,
          onProgress: (f) => this.patch(key, { fraction: f }),
          errorText: (status, body) => musicUploadErrorText(name, status, body),
          cancelled: `“${name}” was not uploaded: cancelled.`,
        });
        this.aborts.set(key, h.abort);
        try {
          const t = await h.promise;
          this.patch(key, { state: 'done', fraction: 1, track: t });
          this.listing = withCreated(this.listing, t);
        } catch (e) {
          this.patch(key, { state: 'failed', error: errorText(e) });
        } finally {
          this.aborts.delete(key);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Cancels a waiting or running upload, or clears a finished one from the list. */
  dismissUpload(key: number): void {
    this.queue = this.queue.filter((q) => q.key !== key);
    this.aborts.get(key)?.();
    this.uploads = this.uploads.filter((u) => u.key !== key);
  }

  clearFinished(): void {
    this.uploads = this.uploads.filter((u) => u.state === 'waiting' || u.state === 'uploading');
  }

  async remove(t: Track): Promise<boolean> {
    try {
      await api('DELETE', `/api/music/tracks/${encodeURIComponent(t.id)}`);
      this.listing = withDeleted(this.listing, t.id);
      return true;
    } catch (e) {
      toast(`Could not delete “${t.title}”: ${errorText(e)}`);
      return false;
    }
  }
}

function params(q: string, offset: number): string {
  return new URLSearchParams({ q, offset: String(offset), limit: String(PAGE) }).toString();
}

export const library = new Library();
