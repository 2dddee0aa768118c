// The gateway connection and the dispatch of what it sends: durable events, typing and presence
// go through the pure reducer into the stores; `voice.*` to the voice client, `dj.*` to the DJ
// store. Also wires the
// session's start and end to the other stores. The composition root: nothing imports it but the
// app's entry points.

import { Gateway, gatewayUrl, type GatewayStatus, type ReadyPayload } from '../gateway';
import { router } from '../router.svelte';
import type { EphemeralPayloads, EventPayloads, Snapshot } from '../types';
import { VoiceClient } from '../voice.svelte';
import { chat } from './chat.svelte';
import { dj } from './dj.svelte';
import { gatewayErrorText } from './errors';
import { link } from './link';
import { outbox } from './outbox.svelte';
import { presence } from './presence.svelte';
import { lostOpenChannel, reduce, type ChatEvent, type ChatState } from './reducer';
import { session } from './session.svelte';
import { timeline } from './timeline.svelte';
import { toast } from './toasts.svelte';

const DURABLE: ReadonlySet<string> = new Set<keyof EventPayloads>([
  'message.create',
  'message.update',
  'message.delete',
  'channel.create',
  'channel.update',
  'user.update',
  'read_state.update',
  'channel_settings.update',
  'role.create',
  'role.update',
  'role.delete',
  'emoji.create',
  'emoji.delete',
  'track.create',
  'track.delete',
] satisfies (keyof EventPayloads)[]);
const EPHEMERAL: ReadonlySet<string> = new Set<keyof EphemeralPayloads>(['typing.start', 'presence.update', 'dj.state', 'dj.reply']);

export type EventHook = <K extends keyof EventPayloads>(t: K, d: EventPayloads[K]) => void;

class Connection {
  status = $state<GatewayStatus>('closed');
  /** The browser reports no network (navigator.onLine). */
  offline = $state(typeof navigator !== 'undefined' && navigator.onLine === false);
  private watching = false;
  voice = new VoiceClient(
    () => link.gateway,
    () => session.me?.id ?? null,
  );
  /** Extra listeners for durable events (rich chat features in lib/rich.svelte.ts). */
  private eventHooks: EventHook[] = [];

  constructor() {
    session.setHooks({
      started: (s) => {
        chat.users = { ...chat.users, [s.user.id]: { ...chat.users[s.user.id], ...s.user } };
        void chat.loadInitial();
        this.start();
      },
      ended: () => {
        link.gateway?.stop();
        link.gateway = null;
        chat.reset();
        timeline.reset();
        presence.reset();
        outbox.reset();
        dj.reset();
      },
    });
  }

  onAnyEvent(fn: EventHook): void {
    this.eventHooks.push(fn);
  }

  reconnectNow(): void {
    link.gateway?.reconnectNow();
  }

  private watchNetwork(): void {
    if (this.watching || typeof window === 'undefined') return;
    this.watching = true;
    window.addEventListener('offline', () => {
      this.offline = true;
      link.gateway?.lost();
    });
    window.addEventListener('online', () => {
      this.offline = false;
      link.gateway?.reconnectNow();
    });
  }

  private start(): void {
    this.watchNetwork();
    link.gateway?.stop();
    const gw = new Gateway(
      { url: gatewayUrl() },
      {
        onStatus: (s) => {
          this.status = s;
          outbox.setConnected(s === 'connected');
        },
        onReady: (d) => this.onReady(d),
        onEvent: (t, d) => this.onEvent(t, d),
        onEphemeral: (t, d) => this.onEphemeral(t, d),
        onError: (e) => toast(gatewayErrorText(e)),
        onSessionEnded: () => session.sessionEnded(),
      },
    );
    link.gateway = gw;
    gw.start();
  }

  /** The stores' state as the reducer sees it. */
  private state(): ChatState {
    return {
      me: session.me,
      users: chat.users,
      channels: chat.channels,
      views: timeline.views,
      parents: timeline.parents,
      typing: presence.typing,
      roles: chat.roles,
      emoji: chat.emoji,
    };
  }

  /** Runs one event through the reducer and hands back what changed. */
  apply(e: ChatEvent): void {
    const cur = this.state();
    const next = reduce(cur, e, {
      now: Date.now(),
      focused: presence.focused,
      openChannelId: timeline.openChannelId,
      openThreadId: timeline.openThreadId,
    });
    if (next.me !== cur.me) session.me = next.me;
    if (next.users !== cur.users) chat.users = next.users;
    if (next.channels !== cur.channels) chat.channels = next.channels;
    if (next.views !== cur.views) timeline.views = next.views;
    if (next.parents !== cur.parents) timeline.parents = next.parents;
    if (next.roles !== cur.roles) chat.roles = next.roles;
    if (next.emoji !== cur.emoji) chat.emoji = next.emoji;
    if (next.typing !== cur.typing) {
      presence.typing = next.typing;
      if (e.t === 'typing.start') presence.now = Date.now();
    }
  }

  private onReady(d: ReadyPayload): void {
    this.voice.onReady(d.voice);
    dj.onReady();
    if (presence.idle) void link.gateway?.request('presence.set', { status: 'idle' }).catch(() => {});
    if (d.resumed) return;
    if (d.snapshot) this.applySnapshot(d.snapshot);
    else void chat.loadInitial();
    // Anything cached may be stale: drop other channels, re-read the open one.
    timeline.refreshAfterReady();
  }

  applySnapshot(s: Snapshot): void {
    const before = chat.channels;
    this.apply({ t: 'snapshot', d: s });
    // Permissions changed (4002) and the open channel is gone from what I may see: leave it.
    const lost = lostOpenChannel(before, chat.channels, timeline.openChannelId);
    if (lost) {
      toast(`You can no longer see ${lost.kind === 'dm' ? 'that conversation' : '#' + lost.name}.`, 'info');
      timeline.forget(lost.id);
      router.navigate('/', { replace: true });
    }
    session.setLimits(s.limits);
  }

  private onEvent(t: string, d: unknown): void {
    if (!DURABLE.has(t)) return;
    const e = { t, d } as ChatEvent & { t: keyof EventPayloads };
    for (const h of this.eventHooks) {
      try {
        h(e.t, e.d);
      } catch (err) {
        console.error(err);
      }
    }
    if (e.t === 'message.create' && e.d.author_id === session.me?.id && e.d.nonce) outbox.ackByNonce(e.d.nonce, e.d);
    // A channel I did not know (shown to me, a DM someone started), or one whose settings or
    // overrides changed (my permissions there may have too): the listing has my permissions.
    const newChannel = e.t === 'channel.create' && e.d.kind !== 'thread' && !chat.channel(e.d.id);
    const changed = e.t === 'channel.update' && e.d.kind !== 'thread';
    this.apply(e);
    if (newChannel) void chat.reloadChannels();
    else if (changed) void chat.refreshPermissions();
  }

  private onEphemeral(t: string, d: unknown): void {
    if (t.startsWith('voice.')) this.voice.onEphemeral(t, d);
    else if (!EPHEMERAL.has(t)) return;
    else if (t.startsWith('dj.')) dj.onEphemeral(t, d);
    else this.apply({ t, d } as ChatEvent);
  }
}

export const connection = new Connection();
