// Shapes from the README's "HTTP API" and "Realtime gateway" sections.

export type Role = 'admin' | 'member';
export type Presence = 'online' | 'idle' | 'offline';

export interface User {
  id: string;
  username: string;
  display_name: string;
  role: Role;
  disabled: boolean;
  presence?: Presence;
  /** Rich chat: custom roles (ids of GET /api/roles; `@everyone` is implied). */
  role_ids?: string[];
  /** Unix ms; sending, reacting and voice are refused until then. */
  timeout_until?: number | null;
  banned?: boolean;
}

export interface Channel {
  id: string;
  name: string;
  topic: string;
  position: number;
  archived: boolean;
  last_message_id: string | null;
  last_read_id: string | null;
  unread_count: number;
  /** Absent from older boxes: text. */
  kind?: 'text' | 'voice' | 'dm' | 'thread';
  /** Voice rooms: most people at once; 0 = no limit. */
  user_limit?: number;
  /** Rich chat (README "Rich chat API"): per user. */
  mention_count?: number;
  /** My effective permissions here (roles and overrides applied), from the box. */
  permissions?: string[];
  muted?: boolean;
  /** Threads: whether I follow it. */
  following?: boolean;
  /** Threads: the parent channel and the message the thread was started from. */
  parent_id?: string | null;
  parent_message_id?: string | null;
  /** DMs: the 2–10 members. */
  member_ids?: string[];
  /** From GET /api/channels/:id/threads. */
  reply_count?: number;
  last_message_at?: number | null;
}

export interface ThreadSummary {
  id: string;
  name?: string;
  reply_count: number;
  last_reply_at: number | null;
}

export interface Reaction {
  /** One Unicode emoji or `:custom_name:`. */
  emoji: string;
  count: number;
  user_ids: string[];
}

export interface Attachment {
  id: string;
  filename: string;
  content_type: string;
  size: number;
  width: number | null;
  height: number | null;
  url: string;
  thumb_url: string | null;
}

export interface Embed {
  id?: string;
  url: string;
  title: string | null;
  description: string | null;
  site_name: string | null;
  image_url: string | null;
}

export interface CustomEmoji {
  id: string;
  name: string;
  url: string;
}

export interface Message {
  id: string;
  channel_id: string;
  author_id: string;
  content: string;
  reply_to: string | null;
  created_at: number;
  edited_at: number | null;
  deleted: boolean;
  nonce: string | null;
  /** Rich chat fields (absent from older boxes). */
  thread?: ThreadSummary | null;
  reactions?: Reaction[];
  pinned_at?: number | null;
  pinned_by?: string | null;
  mentions?: string[];
  mention_everyone?: boolean;
  attachments?: Attachment[];
  embeds?: Embed[];
}

export interface Invite {
  id: string;
  role: Role;
  created_at: number;
  expires_at: number | null;
  used_by: string | null;
}

export interface CreatedInvite {
  id: string;
  token: string;
  url: string;
  expires_at: number | null;
}

/** Limits the box enforces (absent from older boxes). */
export interface Limits {
  message_max_chars: number;
}

export interface Session {
  user: User;
  csrf_token: string;
  limits?: Limits;
}

export interface Snapshot {
  channels: Channel[];
  users: User[];
  me: User;
  limits?: Limits;
  /** Rich chat: roles (README "Rich chat API") and custom emoji. */
  roles?: import('./perms').ChatRole[];
  emoji?: CustomEmoji[];
}
