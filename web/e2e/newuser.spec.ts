import { test, expect, type Browser, type Page } from '@playwright/test';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './daemon';
import { login, messages, openChannel, screenshot, send } from './helpers';
import { createTextChannel, createUser, ok, pngBytes, post } from './admin-helpers';

// The defects a new user meets first (the UX issue, part one), each seen in a real browser.
test.describe.configure({ mode: 'serial' });

let daemon: Daemon;
let admin: Page;
let bob: Page;

const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true };

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  admin = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await login(admin, daemon.url, daemon.adminUser, daemon.adminPassword);
  await createUser(admin, 'bob', 'bob-password-1');
  bob = await (await browser.newContext()).newPage();
  await login(bob, daemon.url, 'bob', 'bob-password-1');
});

test.afterAll(async () => {
  await admin?.context().close();
  await bob?.context().close();
  await daemon?.dispose();
});

/** `page` has read `name` up to now, then leaves it while bob writes `n` messages there. */
async function busyWhileAway(page: Page, name: string, n: number): Promise<{ id: string }> {
  const ch = await createTextChannel(admin, name);
  await post(bob, ch.id, `${name}: the last message read`);
  await page.getByTestId('channel-list').getByRole('link', { name }).click();
  await expect(messages(page, `${name}: the last message read`)).toHaveCount(1);
  await expect
    .poll(() =>
      page.evaluate(async (name) => {
        const list = (await (await fetch('/api/channels')).json()) as { name: string; unread_count: number }[];
        return list.find((c) => c.name === name)?.unread_count;
      }, name),
    )
    .toBe(0);
  // Away: another channel on a desktop, the channel list on a phone.
  const general = page.getByTestId('channel-list').getByRole('link', { name: 'general' });
  if (await general.isVisible()) await general.click();
  else await page.getByRole('button', { name: 'Back to channels' }).click();
  for (let i = 0; i < n; i++) await post(bob, ch.id, `${name} chatter ${i}\nwith a second line so it takes room`);
  await expect(page.getByTestId('channel-list').getByRole('link', { name }).getByLabel(`${n} unread`)).toBeVisible();
  return ch;
}

async function sendAndSee(page: Page, text: string, shot: string) {
  await expect(page.getByTestId('unread-divider')).toBeInViewport();
  await send(page, text);
  const mine = messages(page, text);
  await expect(mine).toHaveCount(1);
  await expect(mine).toBeInViewport();
  await expect(page.getByTestId('jump-present')).toBeHidden();
  await screenshot(page, shot);
}

test('sending from a busy channel opened at "New messages" brings you to your message', async () => {
  // 60 unread: the channel opens around the read position (an older window of history).
  await busyWhileAway(admin, 'busy', 60);
  await openChannel(admin, 'busy');
  await sendAndSee(admin, 'my answer lands in view', 'send-from-divider-desktop');
});

test('phone: a channel with a screenful of unread follows your send to the bottom', async ({ browser }) => {
  const phone = await phonePage(browser);
  await busyWhileAway(phone, 'lively', 20);
  await phone.getByTestId('channel-list').getByRole('link', { name: 'lively' }).click();
  await expect(phone.getByRole('heading', { level: 1, name: 'lively', exact: true })).toBeVisible();
  await sendAndSee(phone, 'phone answer in view', 'send-from-divider-phone');
  await phone.context().close();
});

async function phonePage(browser: Browser): Promise<Page> {
  const page = await (await browser.newContext(PHONE)).newPage();
  await login(page, daemon.url, daemon.adminUser, daemon.adminPassword);
  return page;
}

test('invite links say which address they use, warn on loopback, and come as a QR code', async () => {
  await admin.goto(daemon.url + '/admin/invites');
  await admin.getByRole('button', { name: 'Create invite' }).click();
  const box = admin.getByTestId('created-invite');
  // The test box listens on 127.0.0.1 only: the one address is loopback, and it is said so.
  await expect(box.getByTestId('invite-base')).toContainText('only works on this computer');
  await expect(box.getByTestId('invite-loopback')).toContainText('Friends cannot open this link');
  await box.getByRole('button', { name: 'Show QR code' }).click();
  await expect(box.getByRole('img', { name: 'QR code of the invite link' })).toBeVisible();
  await screenshot(admin, 'invite-loopback-qr');

  // With a public origin configured, links start with it, whatever the browser used.
  const origin = 'http://chat.example.test';
  const toml = path.join(daemon.dataDir, 'spot.toml');
  writeFileSync(toml, `public_origin = "${origin}"\n` + readFileSync(toml, 'utf8'));
  await daemon.restart();
  await admin.goto(daemon.url + '/admin/invites');
  await admin.getByRole('button', { name: 'Create invite' }).click();
  await expect(box.getByRole('textbox')).toHaveValue(new RegExp(`^${origin}/invite/.+`));
  await expect(box.getByTestId('invite-base')).toContainText("configured public address");
  await expect(box.getByTestId('invite-loopback')).toHaveCount(0);
  await box.getByRole('button', { name: 'Show QR code' }).click();
  await screenshot(admin, 'invite-public-origin-qr');
  // Choosing the browser's address instead is possible, and warned about.
  await box.getByLabel('Address in the link').selectOption({ index: 1 });
  await expect(box.getByRole('textbox')).toHaveValue(new RegExp(`^${daemon.url}/invite/.+`));
  await expect(box.getByTestId('invite-loopback')).toBeVisible();
});

test('search results close on navigation and never cover the composer', async () => {
  await admin.goto(daemon.url + '/');
  await openChannel(admin, 'busy');
  const box = admin.getByTestId('search-input');
  await expect(async () => {
    await admin.keyboard.press('Control+k');
    await expect(box).toBeFocused({ timeout: 500 });
  }).toPass();
  await box.fill('chatter');
  await box.press('Enter');
  const results = admin.getByTestId('search-results');
  await expect(results).toBeVisible();
  // Every composer button is still the topmost thing where it is drawn.
  for (const name of ['Attach files', 'Insert emoji', 'Send message']) {
    const b = admin.getByRole('button', { name });
    await expect(b).toBeVisible();
    const hit = await b.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      return !!top && el.contains(top);
    });
    expect(hit, `${name} is covered`).toBe(true);
  }
  await send(admin, 'typed beside the results');
  await expect(messages(admin, 'typed beside the results')).toBeInViewport();
  await screenshot(admin, 'search-beside-composer');
  // A jump to a result keeps the results; going to another page closes them.
  await results.getByTestId('search-result').first().click();
  await expect(results).toBeVisible();
  await admin.getByRole('link', { name: 'Settings' }).click();
  await expect(admin.getByRole('heading', { name: 'Settings' })).toBeVisible();
  await expect(results).toBeHidden();
  await screenshot(admin, 'search-closed-on-navigation');
});

test('a bad channel address says "not found" with a way back, on desktop and phone', async ({ browser }) => {
  await admin.goto(daemon.url + '/channels/987654321');
  await expect(admin.getByRole('heading', { level: 1, name: 'Channel not found' })).toBeVisible();
  await expect(admin.getByTestId('composer')).toHaveCount(0);
  await expect(admin.getByRole('button', { name: 'Try again' })).toHaveCount(0);
  await expect(admin.getByText('#…')).toHaveCount(0);
  await screenshot(admin, 'channel-not-found-desktop');
  await admin.getByRole('link', { name: 'Go to #general' }).click();
  await expect(admin.getByRole('heading', { level: 1, name: 'general', exact: true })).toBeVisible();
  await admin.goto(daemon.url + '/no/such/page');
  await expect(admin.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();

  const phone = await phonePage(browser);
  await phone.goto(daemon.url + '/channels/not-a-channel');
  await expect(phone.getByRole('heading', { level: 1, name: 'Channel not found' })).toBeVisible();
  await expect(phone.getByTestId('composer')).toHaveCount(0);
  await screenshot(phone, 'channel-not-found-phone');
  await phone.getByRole('button', { name: 'Back to channels' }).click();
  await expect(phone.getByRole('navigation', { name: 'Channels and pages' })).toBeVisible();
  await phone.context().close();
});

/** Notifications not decided yet (the browser would ask). */
function undecidedNotifications() {
  const w = window as unknown as { Notification: unknown };
  w.Notification = class {
    static permission = 'default';
    static requestPermission() {
      return Promise.resolve('default');
    }
    close() {}
  };
}

test('a direct message asks about notifications in its own words, and the newest message stays in view', async ({ browser }) => {
  const ctx = await browser.newContext(PHONE);
  await ctx.addInitScript(undecidedNotifications);
  const phone = await ctx.newPage();
  await login(phone, daemon.url, daemon.adminUser, daemon.adminPassword);
  await phone.getByTestId('channel-list').getByRole('link', { name: 'lively' }).click();
  await send(phone, 'the newest line before the bar');
  const newest = messages(phone, 'the newest line before the bar');
  await expect(newest).toBeInViewport();

  const me = (await (await phone.request.get(daemon.url + '/api/me')).json()) as { user: { id: string } } & { id?: string };
  const adminId = me.user?.id ?? me.id;
  const dm = await ok<{ id: string }>(bob, 'POST', '/api/dms', { user_ids: [adminId] });
  await post(bob, dm.id, 'hi, a private word');
  const ask = phone.getByTestId('notify-ask');
  await expect(ask).toContainText('bob sent you a direct message.');
  await expect(ask).not.toContainText('mentioned');
  await expect(newest).toBeInViewport();
  await screenshot(phone, 'dm-notify-ask-phone');
  await ctx.close();
});

test('offline: the banner comes at once, presence says unknown, a queued message reads as mine', async ({ browser }) => {
  const ctx = await browser.newContext(PHONE);
  const phone = await ctx.newPage();
  await login(phone, daemon.url, daemon.adminUser, daemon.adminPassword);
  await phone.getByTestId('channel-list').getByRole('link', { name: 'lively' }).click();
  await post(bob, (await ok<{ id: string; name: string }[]>(bob, 'GET', '/api/channels')).find((c) => c.name === 'lively')!.id, 'bob has the last word');
  await expect(messages(phone, 'bob has the last word')).toBeInViewport();

  await ctx.setOffline(true);
  const banner = phone.getByTestId('reconnect-banner');
  await expect(banner).toContainText('You are offline', { timeout: 2000 });
  await send(phone, 'queued while offline');
  const queued = phone.getByTestId('pending-message').filter({ hasText: 'queued while offline' });
  await expect(queued).toBeVisible();
  await expect(queued.getByTestId('pending-author')).toHaveText('admin');
  await expect(queued).toContainText('Waiting for connection');
  await screenshot(phone, 'offline-pending-phone');
  await phone.getByRole('button', { name: 'Show members' }).click();
  await expect(phone.getByTestId('presence-unknown')).toBeVisible();
  await expect(phone.locator('[data-testid="member"][data-presence="online"]')).toHaveCount(0);
  await screenshot(phone, 'offline-members-phone');
  await phone.getByRole('button', { name: 'Back to the conversation' }).click();

  await ctx.setOffline(false);
  await expect(banner).toBeHidden({ timeout: 15_000 });
  await expect(messages(phone, 'queued while offline')).toHaveCount(1);
  await expect(phone.getByTestId('pending-message')).toHaveCount(0);
  await ctx.close();
});

test('one "Admin" entry, its pages two taps away on a phone, and a visible "Log out"', async ({ browser }) => {
  const side = admin.getByRole('navigation', { name: 'Channels and pages' });
  await admin.goto(daemon.url + '/');
  await expect(side.getByRole('link', { name: /^Admin: / })).toHaveCount(0);
  await side.getByRole('link', { name: 'Admin', exact: true }).click();
  const nav = admin.getByRole('navigation', { name: 'Admin pages' });
  for (const name of ['Users', 'Invites', 'Channels', 'Roles', 'Emoji', 'Audit log', 'Link previews', 'Network', 'Updates']) {
    await expect(nav.getByRole('link', { name, exact: true })).toBeVisible();
  }
  await nav.getByRole('link', { name: 'Roles', exact: true }).click();
  await expect(admin).toHaveURL(/\/admin\/roles$/);
  await expect(nav.getByRole('link', { name: 'Roles', exact: true })).toHaveAttribute('aria-current', 'page');
  await expect(side.getByTestId('user-area').getByRole('button', { name: 'Log out' })).toBeVisible();
  await screenshot(admin, 'admin-area-desktop');

  const phone = await phonePage(browser);
  const pside = phone.getByRole('navigation', { name: 'Channels and pages' });
  await pside.getByRole('link', { name: 'Admin', exact: true }).click();
  await phone.getByRole('navigation', { name: 'Admin pages' }).getByRole('link', { name: 'Invites', exact: true }).click();
  await expect(phone.getByRole('heading', { level: 1, name: 'Invites' })).toBeVisible();
  await screenshot(phone, 'admin-area-phone');
  await phone.getByRole('button', { name: 'Back to channels' }).click();
  await pside.getByTestId('user-area').getByRole('button', { name: 'Log out' }).click();
  await expect(phone.getByRole('button', { name: 'Log in' })).toBeVisible();
  await phone.context().close();
});

test('the invite page states its rules first; files have a kind in words; a tombstone is its own row', async ({ browser }) => {
  await admin.goto(daemon.url + '/admin/invites');
  await admin.getByRole('button', { name: 'Create invite' }).click();
  const link = await admin.getByTestId('created-invite').getByRole('textbox').inputValue();
  const guest = await (await browser.newContext()).newPage();
  await guest.goto(link.replace(/^https?:\/\/[^/]+/, daemon.url));
  await expect(guest.getByText('2 to 32 characters: letters, digits')).toBeVisible();
  await expect(guest.getByText('At least 8 characters')).toBeVisible();
  await expect(guest.getByLabel('Username')).toHaveAccessibleDescription(/2 to 32 characters/);
  await screenshot(guest, 'invite-rules');
  await guest.context().close();

  await admin.goto(daemon.url + '/');
  await openChannel(admin, 'general');
  await admin.getByTestId('file-input').first().setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('plain words\n') });
  await expect(admin.getByTestId('upload')).toHaveAttribute('data-state', 'done', { timeout: 30_000 });
  await send(admin, 'my notes');
  const file = messages(admin, 'my notes').getByTestId('attachment-file');
  await expect(file).toContainText('Text file');
  await expect(file).not.toContainText('octet-stream');

  // An image, then a line from the same person that is deleted: the tombstone has its own header.
  await admin.getByTestId('file-input').first().setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: await pngBytes(admin) });
  await expect(admin.getByTestId('upload')).toHaveAttribute('data-state', 'done', { timeout: 30_000 });
  await send(admin, 'a picture');
  const ch = (await ok<{ id: string; name: string }[]>(admin, 'GET', '/api/channels')).find((c) => c.name === 'general')!;
  const doomed = await post(admin, ch.id, 'soon gone');
  await expect(messages(admin, 'soon gone')).toHaveCount(1);
  await ok(admin, 'DELETE', `/api/messages/${doomed.id}`);
  const tomb = admin.locator(`[data-mid="${doomed.id}"]`);
  await expect(tomb.getByTestId('tombstone')).toBeVisible();
  await expect(tomb).not.toHaveClass(/compact/);
  await expect(tomb.locator('header')).toContainText('admin');
  await screenshot(admin, 'file-kind-and-tombstone');
});
