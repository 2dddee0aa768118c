// Sending a new picture: `PUT /api/me/avatar?x=&y=&side=` with the original file as the body
// and the square chosen in the crop view; the box cuts, scales and re-encodes it. XHR for the
// upload progress. Errors in words.

import { formatBytes, sendWithProgress } from './upload';
import type { Square } from './faces';
import type { User } from './types';

/** The box's limit (`server::files::avatars::AVATAR_MAX_BYTES`). */
export const AVATAR_MAX_BYTES = 10 * 1024 * 1024;

export function avatarErrorText(status: number, body: unknown): string {
  const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof err?.code === 'string' ? err.code : '';
  const msg = typeof err?.message === 'string' ? err.message : '';
  if (status === 0) return "The picture was not saved: can't reach the Spot box. Check your connection and try again.";
  if (code === 'file_too_large' || status === 413 && !code) return `This picture is too large: at most ${formatBytes(AVATAR_MAX_BYTES)}.`;
  if (code === 'bad_file') return `This file is not a picture the box can read (PNG, JPEG, GIF or WebP)${msg ? `: ${msg}` : '.'}`;
  if (code === 'rate_limited' || status === 429) return 'You are changing your picture too often. Wait a moment and try again.';
  if (status === 401) return 'Your session has ended. Please log in again.';
  if (msg) return msg;
  return `The picture was not saved (error ${status}).`;
}

export interface AvatarUpload {
  promise: Promise<User>;
  abort(): void;
}

export function uploadAvatar(file: Blob, square: Square, onProgress: (fraction: number) => void): AvatarUpload {
  if (file.size > AVATAR_MAX_BYTES) {
    const text = avatarErrorText(413, { error: { code: 'file_too_large' } });
    return { promise: Promise.reject(new Error(text)), abort: () => {} };
  }
  const q = `x=${Math.round(square.x)}&y=${Math.round(square.y)}&side=${Math.round(square.side)}`;
  return sendWithProgress<User>({
    method: 'PUT',
    url: `/api/me/avatar?${q}`,
    headers: { 'Content-Type': 'application/octet-stream' },
    body: file,
    onProgress,
    errorText: avatarErrorText,
    cancelled: 'Cancelled.',
  });
}
