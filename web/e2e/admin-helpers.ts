// Helpers for the rich-chat admin and search specs: JSON API calls made from inside a
// logged-in page (its cookie and CSRF token), so setup is quick and the UI is tested
// where it matters.

import { expect, type Page } from '@playwright/test';

export interface CallResult<T = unknown> {
  status: number;
  body: T;
}

export async function call<T = unknown>(page: Page, method: string, path: string, body?: unknown): Promise<CallResult<T>> {
  return page.evaluate(
    async ([method, path, body]) => {
      const me = await (await fetch('/api/me')).json();
      const r = await fetch(path as string, {
        method: method as string,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* not JSON */
      }
      return { status: r.status, body: parsed };
    },
    [method, path, body] as const,
  ) as Promise<CallResult<T>>;
}

/** Like call(), but fails the test on a non-2xx answer. */
export async function ok<T = unknown>(page: Page, method: string, path: string, body?: unknown): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const r = await call<T>(page, method, path, body);
    if (r.status === 429 && attempt < 20) {
      const s = (r.body as { error?: { retry_after_s?: number }; retry_after_s?: number })?.error?.retry_after_s;
      await page.waitForTimeout(Math.max(200, (s ?? 0.5) * 1000));
      continue;
    }
    expect(r.status, `${method} ${path} → ${JSON.stringify(r.body)}`).toBeLessThan(300);
    return r.body;
  }
}

export async function createUser(admin: Page, username: string, password: string): Promise<{ id: string }> {
  return ok(admin, 'POST', '/api/admin/users', { username, password, role: 'member' });
}

export async function createTextChannel(admin: Page, name: string): Promise<{ id: string }> {
  return ok(admin, 'POST', '/api/channels', { name });
}

export async function post(page: Page, channelId: string, content: string): Promise<{ id: string }> {
  return ok(page, 'POST', `/api/channels/${channelId}/messages`, { content });
}

/** A small PNG made by the browser's canvas. */
export async function pngBytes(page: Page, size = 32, color = '#e8590c'): Promise<Buffer> {
  const b64 = await page.evaluate(
    ([size, color]) => {
      const c = document.createElement('canvas');
      c.width = c.height = size as number;
      const g = c.getContext('2d')!;
      g.fillStyle = color as string;
      g.beginPath();
      g.arc((size as number) / 2, (size as number) / 2, (size as number) / 2 - 1, 0, Math.PI * 2);
      g.fill();
      return c.toDataURL('image/png').split(',')[1];
    },
    [size, color] as const,
  );
  return Buffer.from(b64, 'base64');
}
