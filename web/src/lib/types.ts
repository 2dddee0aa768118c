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
  kind?: 'text' | 'voice';
  /** Voice rooms: most people at once; 0 = no limit. */
  user_limit?: number;
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
}
