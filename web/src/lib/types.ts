// The box's JSON as the client uses it. Everything a Rust type describes comes from ./api-types,
// generated from the Rust types (firmware/store/src/ts_types.rs; `make ts-types` rewrites it).
// Typed here by hand: the envelopes the server builds with `json!` (each names its Rust source),
// and what the client adds to the box's records.

import type * as api from './api-types';
import type { DjReplyPayload, DjStatePayload } from './dj';

export type * from './api-types';

/** One permission name (`chat::perms::Perms` travels as a list of them). */
export type Perm = api.Perms[number];

/** A user as the client keeps them: the box's `User`, with live presence once known. */
export type User = api.User & { presence?: api.Presence };

/** `GET /api/users` and the snapshot's users (`server::actions::UserView`: the user and presence). */
export type UserView = api.User & { presence: api.Presence };

/**
 * A channel as the client keeps it: the box's per-user view (`GET /api/channels`, the snapshot).
 * Channels learnt from an event (`channel.create`) get the per-user fields filled in by
 * `state/reducer.ts` until the next listing brings the box's.
 */
export type Channel = api.ChannelView;

/** A channel as everyone sees it (`chat::model::Channel`: events, creating a thread or a DM). */
export type ApiChannel = api.Channel;

/** `limits` of `GET /api/me` and the snapshot (`server::AppState::client_limits`). */
export interface Limits {
  message_max_chars: number;
  upload_max_bytes: number;
  upload_quota_bytes: number;
}

/**
 * `POST /api/login`, invite acceptance and the setup claim (`server::api::start_session`:
 * user and CSRF token), and `GET /api/me` (`server::api::me`: with `limits`).
 */
export interface Session {
  user: api.User;
  csrf_token: string;
  limits?: Limits;
}

/** The `ready` snapshot (`server::actions::snapshot`). */
export interface Snapshot {
  me: api.User;
  users: UserView[];
  channels: api.ChannelView[];
  roles: api.RoleDef[];
  emoji: api.CustomEmoji[];
  limits: Limits;
}

/** Ephemeral gateway signals besides `voice.*` (`server::actions::typing`, `server::hub::announce`). */
export interface EphemeralPayloads {
  'typing.start': { channel_id: api.ChannelId; user_id: api.UserId };
  'presence.update': { user_id: api.UserId; status: api.Presence };
  /** The room's DJ, whole (`server::music`; lib/dj.ts). */
  'dj.state': DjStatePayload;
  /** The DJ's answer in the room's chat, never stored. */
  'dj.reply': DjReplyPayload;
}

/** `GET /api/admin/invites` rows (`store::Invite`). */
export type Invite = api.Invite;

/** `POST /api/admin/invites` (`server::api::create_invite`). */
export interface CreatedInvite {
  id: api.InviteId;
  token: string;
  url: string;
  role: api.Role;
  expires_at: number;
}

/** Where an invite link can point (`GET /api/admin/invite-links`), the best first. */
export interface LinkBase {
  url: string;
  kind: 'public_origin' | 'mdns' | 'lan' | 'browser';
  loopback: boolean;
}
