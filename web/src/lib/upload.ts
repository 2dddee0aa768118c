// File uploads (README "Rich chat API": POST /api/uploads with the raw bytes). XMLHttpRequest,
// not fetch, because only XHR reports upload progress. Errors become sentences a person can act
// on (the limit named when a file is too large).

import { getCsrfToken } from './api';
import type { Attachment } from './types';

export interface UploadError {
  status: number;
  code: string;
  message: string;
}

/**
 * "1.5 MB", "820 KB", "12 bytes", in units of 1024 like the box's config (`max_file_mb = 25`
 * is 25 × 1024 × 1024 bytes and shows as "25 MB").
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const s = v >= 100 ? Math.round(v).toString() : (Math.round(v * 10) / 10).toString();
  return `${s} ${units[u]}`;
}

function num(o: Record<string, unknown> | undefined, ...keys: string[]): number | null {
  if (!o) return null;
  for (const k of keys) {
    const v = o[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

/**
 * Words for a failed upload. `body` is the parsed error answer (or null); `limitBytes` the
 * box's upload limit when the client knows it.
 */
export function uploadErrorText(
  filename: string,
  status: number,
  body: unknown,
  limitBytes?: number | null,
): string {
  const err = (body as { error?: Record<string, unknown> } | null)?.error;
  const code = typeof err?.code === 'string' ? err.code : '';
  const serverMsg = typeof err?.message === 'string' ? err.message : '';
  const name = `“${filename}”`;
  if (status === 0) return `${name} was not uploaded: can't reach the Spot box. Check your connection and try again.`;
  if (code === 'file_too_large' || (status === 413 && code !== 'storage_quota_exceeded')) {
    const limit = num(err, 'max_bytes', 'limit_bytes', 'limit') ?? limitBytes ?? null;
    if (limit) return `${name} is too large: files can be at most ${formatBytes(limit)}.`;
    return serverMsg ? `${name} is too large: ${serverMsg}` : `${name} is too large for this Spot box.`;
  }
  if (code === 'storage_quota_exceeded') {
    const quota = num(err, 'quota_bytes');
    const used = num(err, 'used_bytes');
    if (quota != null)
      return `${name} does not fit in your storage: you use ${formatBytes(used ?? 0)} of ${formatBytes(quota)}. Delete old files or ask the admin for more.`;
    return `${name} does not fit in your storage${serverMsg ? `: ${serverMsg}` : '.'}`;
  }
  if (code === 'bad_filename') return `${name} has a file name the box does not accept${serverMsg ? `: ${serverMsg}` : '.'}`;
  if (code === 'bad_file') return `${name} could not be read as the file type it claims${serverMsg ? `: ${serverMsg}` : '.'}`;
  if (code === 'rate_limited' || status === 429) return `${name} was not uploaded: you're uploading too often. Wait a moment and try again.`;
  if (status === 401) return `${name} was not uploaded: your session has ended. Please log in again.`;
  if (status === 403) return `${name} was not uploaded: ${serverMsg || "you don't have permission to upload here."}`;
  if (serverMsg) return `${name} was not uploaded: ${serverMsg}`;
  return `${name} was not uploaded (error ${status}).`;
}

export interface UploadHandle {
  promise: Promise<Attachment>;
  abort(): void;
}

/** A request whose body goes by XHR (for its upload progress) with the CSRF token: resolves with
 * the JSON object the box answers, rejects with an Error in `errorText`'s words (status 0: the
 * box was not reached) or `cancelled` on abort. */
export function sendWithProgress<T>(req: {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Blob;
  onProgress: (fraction: number) => void;
  errorText: (status: number, body: unknown) => string;
  cancelled: string;
}): { promise: Promise<T>; abort(): void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<T>((resolve, reject) => {
    xhr.open(req.method, req.url);
    for (const [k, v] of Object.entries(req.headers)) xhr.setRequestHeader(k, v);
    const csrf = getCsrfToken();
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) req.onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && typeof body === 'object') {
        req.onProgress(1);
        resolve(body as T);
      } else {
        reject(new Error(req.errorText(xhr.status, body)));
      }
    };
    xhr.onerror = () => reject(new Error(req.errorText(0, null)));
    xhr.onabort = () => reject(new Error(req.cancelled));
    xhr.send(req.body);
  });
  return { promise, abort: () => xhr.abort() };
}

/** Uploads one file; `onProgress` gets 0..1. Rejects with an Error whose message is in words. */
export function uploadFile(file: File, onProgress: (fraction: number) => void, limitBytes?: number | null): UploadHandle {
  const name = file.name || 'pasted file';
  if (limitBytes && file.size > limitBytes) {
    const text = uploadErrorText(name, 413, { error: { code: 'file_too_large' } }, limitBytes);
    return { promise: Promise.reject(new Error(text)), abort: () => {} };
  }
  return sendWithProgress<Attachment>({
    method: 'POST',
    url: '/api/uploads',
    headers: { 'Content-Type': file.type || 'application/octet-stream', 'X-Filename': encodeURIComponent(name) },
    body: file,
    onProgress,
    errorText: (status, body) => uploadErrorText(name, status, body, status === 0 ? undefined : limitBytes),
    cancelled: 'Upload cancelled.',
  });
}

/** The files of a paste or drop (not text). */
export function filesFrom(dt: DataTransfer | null): File[] {
  if (!dt) return [];
  const out: File[] = [];
  if (dt.files && dt.files.length) {
    for (const f of Array.from(dt.files)) out.push(f);
    return out;
  }
  for (const item of Array.from(dt.items ?? [])) {
    if (item.kind === 'file') {
      const f = item.getAsFile();
      if (f) out.push(f);
    }
  }
  return out;
}

export function isImage(a: { content_type: string }): boolean {
  return /^image\/(png|jpeg|gif|webp|avif|bmp)$/i.test(a.content_type);
}
