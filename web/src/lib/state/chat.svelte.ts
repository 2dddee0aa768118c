// Channels, users, roles and custom emoji: what the snapshot, the HTTP listings and the gateway's
// events say (events are applied by `connection.svelte.ts` through the pure reducer), and the
// channel-level actions (mute, DMs).

import { api, errorText } from '../api';
import { cmpId } from '../ids';
import type { ApiChannel, Channel, CustomEmoji, Message, Perm, RoleDef, User, UserView } from '../types';
import { mentionsMe, mergeChannels, mergeUsers, sortRoles, upsertChannel } from './reducer';
import { session } from './session.svelte';
import { toast } from './toasts.svelte';

class ChatStore {
  users = $state<Record<string, User>>({});
  /** Sorted by position, then id. */
  channels = $state<Channel[]>([]);
  /** Roles (id "1" is @everyone) and custom emoji, from the snapshot, HTTP and events. */
  roles = $state<RoleDef[]>([]);
  emoji = $state<CustomEmoji[]>([]);

  visibleChannels: Channel[] = $derived(this.channels.filter((c) => !c.archived));
  textChannels: Channel[] = $derived(
    this.visibleChannels.filter((c) => c.kind !== 'voice' && c.kind !== 'dm' && c.kind !== 'thread'),
  );
  voiceChannels: Channel[] = $derived(this.visibleChannels.filter((c) => c.kind === 'voice'));
  /** Direct messages, most recent activity first. */
  dmChannels: Channel[] = $derived(
    this.channels
      .filter((c) => c.kind === 'dm')
      .sort((a, b) => cmpId(b.last_message_id ?? b.id, a.last_message_id ?? a.id)),
  );
  /**
   * May kick, ban and time out. Moderation is box-wide, and the box puts it in my permissions of
   * every channel that is not a DM (`chat::perms::effective`); admins always may.
   */
  isModerator: boolean = $derived(
    session.me?.role === 'admin' || this.channels.some((c) => c.kind !== 'dm' && c.permissions.includes('moderate')),
  );

  private reloading: Promise<void> | null = null;

  /** Threads I follow under a channel (GET /api/channels lists the followed ones). */
  threadsOf(parentId: string): Channel[] {
    return this.channels.filter((c) => c.kind === 'thread' && c.parent_id === parentId && c.following && !c.archived);
  }

  channel(id: string): Channel | undefined {
    return this.channels.find((c) => c.id === id);
  }

  /** My permissions in a channel, as the box listed them. */
  can(channelId: string, perm: Perm): boolean {
    return !!this.channel(channelId)?.permissions.includes(perm);
  }

  displayName(userId: string): string {
    const u = this.users[userId];
    return u ? u.display_name || u.username : 'Unknown user';
  }

  /** The message mentions me (by name, @everyone or @here). */
  mentionsMe(m: Message): boolean {
    return mentionsMe(m, session.me?.id);
  }

  upsertChannel(c: Partial<Channel> & Pick<Channel, 'id'>): void {
    this.channels = upsertChannel(this.channels, c);
  }

  setUsers(list: readonly User[]): void {
    this.users = mergeUsers(this.users, list, session.me);
  }

  /** Channels and users over HTTP (a session's start, or a `ready` without a snapshot). */
  async loadInitial(): Promise<void> {
    try {
      const [channels, users] = await Promise.all([
        api<Channel[]>('GET', '/api/channels'),
        api<UserView[]>('GET', '/api/users'),
      ]);
      // A snapshot from the gateway may have arrived first; both are fine to apply.
      this.channels = mergeChannels(this.channels, channels);
      this.setUsers(users);
      void this.loadRolesAndEmoji();
    } catch (e) {
      toast(`Could not load channels: ${errorText(e)}`);
    }
  }

  /**
   * Re-reads the channel list: my permissions in a channel an event just told me about, or after
   * my timeout ran out. Calls while one is in flight share it.
   */
  reloadChannels(): Promise<void> {
    this.reloading ??= api<Channel[]>('GET', '/api/channels')
      .then((list) => {
        if (session.phase === 'ready') this.channels = mergeChannels(this.channels, list);
      })
      .catch(() => {})
      .finally(() => (this.reloading = null));
    return this.reloading;
  }

  /**
   * Re-reads my permissions in the channels I have (a channel's settings or overrides changed).
   * Only permissions: a channel I lost is taken away by the fresh snapshot after the 4002 close,
   * which also tells me so.
   */
  refreshPermissions(): Promise<void> {
    return api<Channel[]>('GET', '/api/channels')
      .then((list) => {
        if (session.phase !== 'ready') return;
        this.channels = this.channels.map((c) => {
          const fresh = list.find((x) => x.id === c.id);
          return fresh ? { ...c, permissions: fresh.permissions } : c;
        });
      })
      .catch(() => {});
  }

  /** Roles and custom emoji over HTTP (when a ready came without a snapshot). */
  async loadRolesAndEmoji(): Promise<void> {
    const [roles, emoji] = await Promise.all([
      api<RoleDef[]>('GET', '/api/roles').catch(() => null),
      api<CustomEmoji[]>('GET', '/api/emoji').catch(() => null),
    ]);
    if (roles) this.roles = sortRoles(roles);
    if (emoji) this.emoji = emoji;
  }

  /** Mute or unmute a channel for me (PUT /api/channels/:id/settings). */
  async setMuted(channelId: string, muted: boolean): Promise<void> {
    try {
      const r = await api<{ channel_id: string; muted: boolean; following: boolean }>(
        'PUT',
        `/api/channels/${encodeURIComponent(channelId)}/settings`,
        { muted },
      );
      const c = this.channel(r.channel_id);
      if (c) {
        c.muted = r.muted;
        c.following = r.following;
      }
    } catch (e) {
      toast(`Could not ${muted ? 'mute' : 'unmute'} the channel: ${errorText(e)}`);
    }
  }

  /** Opens (or creates) the DM with these people (POST /api/dms) and returns it. */
  async startDm(userIds: string[]): Promise<Channel> {
    const c = await api<ApiChannel>('POST', '/api/dms', { user_ids: userIds });
    const known = !!this.channel(c.id);
    this.upsertChannel(c);
    // The answer is the channel as everyone sees it: my permissions come with the listing.
    if (!known) void this.reloadChannels();
    return this.channel(c.id)!;
  }

  async updateDisplayName(display_name: string): Promise<void> {
    const { user } = await api<{ user: User }>('PATCH', '/api/me', { display_name });
    session.me = { ...session.me!, ...user };
    this.users[user.id] = { ...this.users[user.id], ...user };
  }

  reset(): void {
    this.users = {};
    this.channels = [];
    this.roles = [];
    this.emoji = [];
  }
}

export const chat = new ChatStore();
