// Raw-byte POSTs that need no progress bar (custom emoji upload). Same error shape as api().

import { ApiError, getCsrfToken } from './api';

export async function postBytes<T>(path: string, body: Blob, headers: Record<string, string>): Promise<T> {
  const h: Record<string, string> = { Accept: 'application/json', ...headers };
  const csrf = getCsrfToken();
  if (csrf) h['X-CSRF-Token'] = csrf;
  let res: Response;
  try {
    res = await fetch(path, { method: 'POST', headers: h, body, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', "Can't reach the Spot box. Check your connection and try again.");
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    const code = err?.code ?? `http_${res.status}`;
    const message =
      err?.message ??
      (res.status === 413 ? 'The file is too large for this Spot box.' : `The upload failed (${res.status}).`);
    throw new ApiError(res.status, code, message);
  }
  return data as T;
}
