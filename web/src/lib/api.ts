// Thin fetch wrapper for the daemon's JSON API (see README "HTTP API").

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public retryAfterS?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** For requests made without `api()` (uploads use XMLHttpRequest for progress). */
export function getCsrfToken(): string | null {
  return csrfToken;
}

export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

const FRIENDLY: Record<string, string> = {
  network: "Can't reach the Spot box. Check your connection and try again.",
  rate_limited: "You're doing that too often. Please wait a moment.",
  unauthorized: 'Your session has ended. Please log in again.',
  forbidden: "You don't have permission to do that.",
};

export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'rate_limited' && e.retryAfterS) {
      return `You're doing that too often. Try again in ${Math.ceil(e.retryAfterS)} s.`;
    }
    return e.message || FRIENDLY[e.code] || `Request failed (${e.status}).`;
  }
  if (e instanceof Error && e.message) return e.message;
  return 'Something went wrong.';
}

/** A POST that outlives the page (`keepalive`): for what must reach the box as the tab closes or
 * reloads, e.g. the read position. Its answer is not read. */
export function beacon(path: string, body: unknown): void {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  void fetch(path, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin', keepalive: true }).catch(
    () => {},
  );
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const changing = method !== 'GET' && method !== 'HEAD';
  let payload: string | undefined;
  if (changing) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body ?? {});
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', FRIENDLY.network);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string; retry_after_s?: number } } | undefined)
      ?.error;
    const retry =
      err?.retry_after_s ??
      (data as { retry_after_s?: number } | undefined)?.retry_after_s ??
      (Number(res.headers.get('Retry-After')) || undefined);
    const code = err?.code ?? (res.status === 401 ? 'unauthorized' : res.status === 403 ? 'forbidden' : 'http_' + res.status);
    const message = err?.message ?? FRIENDLY[code] ?? `Request failed (${res.status}).`;
    if (res.status === 401 && onUnauthorized && !/^\/api\/(login|me|invites)/.test(path)) onUnauthorized();
    throw new ApiError(res.status, code, message, retry);
  }
  return data as T;
}
