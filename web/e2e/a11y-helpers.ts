// The accessibility spec's world and its tour: a box with two users, a channel with messages, a
// reaction, an image, a link embed, a pin and a thread, a DM, a voice room; then every page and
// major state of the app visited with axe-core run on each (e2e/axe.ts).

import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { axe } from './axe';
import { ok, pngBytes } from './admin-helpers';
import { messages, screenshot } from './helpers';

export const BOB_PW = 'bob-secret-password-1';
export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 844 };

export interface World {
  general: string;
  lobby: string;
  dm: string;
  thread: string;
  bobId: string;
  site: Server;
}

export async function newPage(browser: Browser, phone = false): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext(
    phone ? { viewport: PHONE, hasTouch: true, isMobile: true } : { viewport: DESKTOP },
  );
  return { ctx, page: await ctx.newPage() };
}

async function upload(page: Page, name: string, bytes: Buffer): Promise<string> {
  const r = await page.evaluate(
    async ([name, b]) => {
      const me = await (await fetch('/api/me')).json();
      const res = await fetch('/api/uploads', {
        method: 'POST',
        headers: { 'Content-Type': 'image/png', 'X-Filename': encodeURIComponent(name as string), 'X-CSRF-Token': me.csrf_token },
        body: new Uint8Array(b as number[]),
      });
      return { status: res.status, body: await res.json() };
    },
    [name, [...bytes]] as const,
  );
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (r.body as { id: string }).id;
}

/** Everything the tour looks at, made through the API (the UI is what the tour checks). */
export async function makeWorld(admin: Page, bob: Page, loginBob: () => Promise<void>): Promise<World> {
  const general = (await ok<{ id: string }>(admin, 'POST', '/api/channels', { name: 'trips', topic: 'Plans for the weekend' })).id;
  const lobby = (await ok<{ id: string }>(admin, 'POST', '/api/channels', { name: 'lobby' })).id;
  await ok(admin, 'POST', '/api/channels', { name: 'hangout', kind: 'voice', user_limit: 5 });
  const bobId = (await ok<{ id: string }>(admin, 'POST', '/api/admin/users', { username: 'bob', password: BOB_PW, role: 'member' })).id;
  await loginBob();

  // A local web site for the link embed.
  const og = await pngBytes(admin, 64, '#1971c2');
  const site = createServer((req, res) => {
    if (req.url === '/og.png') {
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': og.length }).end(og);
    } else if (req.url === '/trip.html') {
      const base = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>Trip</title>
<meta property="og:title" content="Lake Trip Planner">
<meta property="og:description" content="Cabins, canoes and a campfire.">
<meta property="og:site_name" content="Trip Site">
<meta property="og:image" content="${base}/og.png"></head><body>hi</body></html>`);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  const port = (site.address() as AddressInfo).port;
  await ok(admin, 'PATCH', '/api/admin/settings', { embeds_enabled: true, embed_allowlist: [`127.0.0.1:${port}`] });

  const post = (p: Page, ch: string, content: string, extra: object = {}) =>
    ok<{ id: string }>(p, 'POST', `/api/channels/${ch}/messages`, { content, ...extra });
  const first = await post(admin, general, 'Who is up for the **lake trip**? @bob');
  await post(bob, general, 'Me! I bring the tent');
  const img = await upload(admin, 'lake.png', await pngBytes(admin, 120, '#e8590c'));
  await post(admin, general, 'The view from the cabin', { attachments: [img] });
  await post(admin, general, `Plans: http://127.0.0.1:${port}/trip.html`);
  const snacks = await post(bob, general, 'Bring snacks please');
  await ok(bob, 'PUT', `/api/messages/${snacks.id}/reactions/${encodeURIComponent('👍')}`);
  await ok(admin, 'PUT', `/api/messages/${snacks.id}/reactions/${encodeURIComponent('👍')}`);
  const dock = await post(admin, general, 'Meet at the north dock at 9');
  await ok(admin, 'PUT', `/api/messages/${dock.id}/pin`);
  const thread = (await ok<{ id: string }>(admin, 'POST', `/api/messages/${first.id}/thread`, { name: 'Lake trip' })).id;
  await post(admin, thread, 'Day one: canoes');
  await post(bob, thread, 'Day two: campfire');
  const dm = (await ok<{ id: string }>(admin, 'POST', '/api/dms', { user_ids: [bobId] })).id;
  await post(bob, dm, 'psst, secret snacks');
  return { general, lobby, dm, thread, bobId, site };
}

/** Opens a channel by URL and waits for its messages. */
export async function openAt(page: Page, base: string, id: string, text: string): Promise<void> {
  await page.goto(`${base}/channels/${id}`);
  await expect(messages(page, text).first()).toBeVisible();
}

/** The message toolbar: shown on hover, or on a tap on touch screens. */
async function action(page: Page, text: string, name: string, phone: boolean): Promise<void> {
  const m = messages(page, text).first();
  await m.scrollIntoViewIfNeeded();
  if (phone) await m.getByTestId('message-content').tap();
  else await m.hover();
  await m.getByRole('toolbar', { name: 'Message actions' }).getByRole('button', { name }).click();
}

/** Exactly one visible h1 on the page. */
export async function oneH1(page: Page, what: string): Promise<void> {
  await expect(page.locator('h1:visible'), `one h1 on ${what}`).toHaveCount(1);
}

async function check(page: Page, what: string, shot?: string): Promise<void> {
  await axe(page, what);
  if (shot) await screenshot(page, shot);
}

const ADMIN_PAGES: [string, string][] = [
  ['/admin/users', 'Users'],
  ['/admin/invites', 'Invites'],
  ['/admin/channels', 'Channels'],
  ['/admin/roles', 'Roles'],
  ['/admin/emoji', 'Emoji'],
  ['/admin/audit', 'Audit log'],
  ['/admin/settings', 'Link previews'],
  ['/admin/audio', 'Audio'],
  ['/admin/music', 'Music'],
  ['/admin/network', 'Network'],
  ['/admin/updates', 'Updates'],
  ['/admin/box', 'Box'],
];

/** The whole app, logged in as the admin, with axe on every page and state. */
export async function tour(page: Page, base: string, w: World, tag: 'desktop' | 'phone'): Promise<void> {
  const phone = tag === 'phone';
  // The channel: messages, a mention, reactions, an image, an embed, a pin mark, a thread summary.
  await openAt(page, base, w.general, 'north dock');
  await expect(messages(page, 'Plans:').getByTestId('embed')).toBeVisible({ timeout: 20_000 });
  await expect(messages(page, 'view from the cabin').getByTestId('attachment-image')).toBeVisible();
  await expect(messages(page, 'Bring snacks').getByTestId('reaction')).toBeVisible();
  await oneH1(page, `${tag} channel`);
  await check(page, `${tag} channel view`, `a11y-${tag}-channel`);

  // The thread panel.
  await messages(page, 'lake trip').first().getByTestId('thread-summary').click();
  await expect(page.getByTestId('thread-panel')).toBeVisible();
  await expect(page.getByTestId('thread-panel').getByText('Day two: campfire')).toBeVisible();
  await check(page, `${tag} thread open`, `a11y-${tag}-thread`);
  await page.getByTestId('thread-panel').getByRole('button', { name: 'Close thread' }).last().click();
  await expect(page.getByTestId('thread-panel')).toHaveCount(0);

  // The emoji picker.
  await action(page, 'Bring snacks', 'Add reaction', phone);
  await expect(page.getByTestId('emoji-picker')).toBeVisible();
  await expect(page.getByTestId('emoji-picker').getByRole('button', { name: 'thumbs up', exact: true })).toBeVisible();
  await check(page, `${tag} emoji picker`, `a11y-${tag}-emoji`);
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('emoji-picker')).toHaveCount(0);

  // Pins, then the channel's threads.
  await page.getByTestId('open-pins').click();
  await expect(page.getByTestId('pins-panel').getByTestId('pinned-message')).toContainText('north dock');
  await check(page, `${tag} pins`, `a11y-${tag}-pins`);
  await page.getByTestId('pins-panel').getByRole('button', { name: 'Close pinned messages' }).click();
  await page.getByTestId('open-threads').click();
  await expect(page.getByTestId('threads-panel').getByTestId('thread-row')).toHaveCount(1);
  await check(page, `${tag} thread list`);
  await page.getByTestId('threads-panel').getByRole('button', { name: 'Close threads' }).last().click();

  // The image viewer.
  await messages(page, 'view from the cabin').getByTestId('attachment-image').click();
  await expect(page.getByTestId('image-viewer')).toBeVisible();
  await check(page, `${tag} image viewer`, `a11y-${tag}-viewer`);
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('image-viewer')).toHaveCount(0);

  // The confirm dialog (delete my message), cancelled.
  await action(page, 'north dock', 'Delete message', phone);
  const confirm = page.getByRole('dialog', { name: 'Delete message?' });
  await expect(confirm).toBeVisible();
  await check(page, `${tag} confirm dialog`, `a11y-${tag}-confirm`);
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(confirm).toBeHidden();

  // Members, and the moderation dialog.
  if (phone) await page.getByRole('button', { name: 'Show members' }).click();
  await expect(page.getByTestId('member-list')).toBeVisible();
  if (phone) await check(page, `${tag} member list`);
  await page.getByTestId('member-list').getByRole('button', { name: 'Moderate bob' }).click();
  await expect(page.getByTestId('moderation-dialog')).toBeVisible();
  await check(page, `${tag} moderation dialog`, `a11y-${tag}-moderation`);
  await page.getByTestId('moderation-dialog').getByRole('button', { name: 'Close' }).click();
  if (phone) await page.getByRole('button', { name: 'Back to the conversation' }).click();

  // Search results (the box is in the sidebar: the list pane on a phone).
  if (phone) await page.getByRole('button', { name: 'Back to channels' }).click();
  const box = page.getByTestId('search-input');
  await box.fill('snacks');
  await box.press('Enter');
  await expect(page.getByTestId('search-result').first()).toBeVisible();
  await check(page, `${tag} search results`, `a11y-${tag}-search`);
  await page.getByRole('button', { name: 'Close search' }).click();

  // The channel list on its own (the phone's home).
  if (phone) {
    await page.goto(base + '/');
    await expect(page.getByRole('navigation', { name: 'Channels and pages' })).toBeVisible();
    await oneH1(page, `${tag} channel list`);
    await check(page, `${tag} channel list`, `a11y-${tag}-list`);
  }

  // A DM, a thread as a page, and the DM picker.
  await openAt(page, base, w.dm, 'secret snacks');
  await oneH1(page, `${tag} DM`);
  await check(page, `${tag} DM`);
  await openAt(page, base, w.thread, 'Day two');
  await check(page, `${tag} thread page`);
  if (phone) await page.goto(base + '/');
  await page.getByTestId('dm-new').click();
  await expect(page.getByTestId('dm-picker')).toBeVisible();
  await check(page, `${tag} DM picker`, `a11y-${tag}-dm-picker`);
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('dm-picker')).toBeHidden();

  // Settings (every section is on the one page).
  await page.goto(base + '/settings');
  await expect(page.getByRole('heading', { level: 2, name: 'Sessions' })).toBeVisible();
  await oneH1(page, `${tag} settings`);
  await check(page, `${tag} settings`, `a11y-${tag}-settings`);

  // Every admin page.
  for (const [path, name] of ADMIN_PAGES) {
    await page.goto(base + path);
    await expect(page.getByRole('navigation', { name: 'Admin pages' }).getByRole('link', { name, exact: true })).toHaveAttribute(
      'aria-current',
      'page',
    );
    await expect(page.locator('main h1')).toBeVisible();
    // Pages that load their data show it (or an error in words) before they are checked.
    await page.waitForLoadState('networkidle');
    await oneH1(page, `${tag} admin ${name}`);
    await check(page, `${tag} admin ${name}`, `a11y-${tag}-admin-${name.toLowerCase().replace(/ /g, '-')}`);
  }
  await page.goto(`${base}/admin/channels/${w.general}/permissions`);
  await expect(page.locator('main h1')).toBeVisible();
  await page.waitForLoadState('networkidle');
  await check(page, `${tag} admin channel permissions`);

  // The not-found pages.
  await page.goto(base + '/no/such/page');
  await expect(page.getByTestId('not-found')).toBeVisible();
  await oneH1(page, `${tag} page not found`);
  await check(page, `${tag} page not found`);
  await page.goto(base + '/channels/999999');
  await expect(page.getByTestId('not-found')).toBeVisible();
  await oneH1(page, `${tag} channel not found`);
  await check(page, `${tag} channel not found`);
}

/** Pages seen before logging in: login (with an error), an invite, a dead invite. */
export async function anonTour(browser: Browser, admin: Page, base: string, tag: 'desktop' | 'phone'): Promise<void> {
  const { ctx, page } = await newPage(browser, tag === 'phone');
  await page.goto(base + '/login');
  await expect(page.getByRole('heading', { level: 1, name: 'Log in to Spot' })).toBeVisible();
  await check(page, `${tag} login`, `a11y-${tag}-login`);
  await page.getByLabel('Username').fill('nobody');
  await page.getByLabel('Password').fill('wrong-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  // A refused login is answered slowly on purpose.
  await expect(page.getByRole('alert')).toBeVisible({ timeout: 30_000 });
  await check(page, `${tag} login error`);

  const inv = await ok<{ url: string }>(admin, 'POST', '/api/admin/invites', {});
  await page.goto(base + new URL(inv.url).pathname);
  await expect(page.getByLabel('Display name')).toBeVisible();
  await oneH1(page, `${tag} invite`);
  await check(page, `${tag} invite acceptance`, `a11y-${tag}-invite`);
  await page.goto(base + '/invite/not-a-real-token');
  await expect(page.getByRole('alert')).toContainText('not valid');
  await check(page, `${tag} dead invite`);
  await ctx.close();
}
