// Sending a new picture: `PUT /api/me/avatar?x=&y=&side=` with the original file as the body
// and the square chosen in the crop view; the box cuts, scales and re-encodes it. XHR for the
// upload progress. Errors in words.

import { getCsrfToken } from './api';
import { formatBytes } from './upload';
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
  const xhr = new XMLHttpRequest();
  const promise = new Promise<User>((resolve, reject) => {
    if (file.size > AVATAR_MAX_BYTES) {
      reject(new Error(avatarErrorText(413, { error: { code: 'file_too_large' } })));
      return;
    }
    const q = `x=${Math.round(square.x)}&y=${Math.round(square.y)}&side=${Math.round(square.side)}`;
    xhr.open('PUT', `/api/me/avatar?${q}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    const csrf = getCsrfToken();
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && typeof body === 'object') {
        onProgress(1);
        resolve(body as User);
      } else reject(new Error(avatarErrorText(xhr.status, body)));
    };
    xhr.onerror = () => reject(new Error(avatarErrorText(0, null)));
    xhr.onabort = () => reject(new Error('Cancelled.'));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
