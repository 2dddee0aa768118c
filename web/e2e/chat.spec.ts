import { test, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './daemon';
import {
  acceptInvite,
  createChannel,
  createInvite,
  expectMarker,
  login,
  markPage,
  messages,
  openChannel,
  pending,
  screenshot,
  send,
} from './helpers';

// One daemon and two users (two browser contexts) for the whole file; the
// tests build on each other, so they run in order.
test.describe.configure({ mode: 'serial' });

const CHANNEL = 'hangout';
const TOPIC = 'Plans for Friday night';
const BOB_PW = 'bob-secret-password-1';

let daemon: Daemon;
let ctxA: BrowserContext;
let ctxB: BrowserContext;
let alice: Page; // the admin
let bob: Page; // joins by invite
const pageErrors: string[] = [];
/** `typing.start` frames each page received over the gateway, by page. */
const typingFrames = new Map<Page, { user_id: string }[]>();

async function newPage(browser: Browser): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  typingFrames.set(page, []);
  page.on('websocket', (ws) =>
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload !== 'string' || !payload.includes('typing.start')) return;
      const f = JSON.parse(payload) as { op?: string; t?: string; d?: { user_id: string } };
      if (f.op === 'ephemeral' && f.t === 'typing.start' && f.d) typingFrames.get(page)!.push(f.d);
    }),
  );
  page.on('dialog', (d) => {
    pageErrors.push(`unexpected dialog: ${d.message()}`);
    void d.dismiss();
  });
  return { ctx, page };
}

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  ({ ctx: ctxA, page: alice } = await newPage(browser));
  ({ ctx: ctxB, page: bob } = await newPage(browser));
});

test.afterAll(async () => {
  await ctxA?.close();
  await ctxB?.close();
  await daemon?.dispose();
});

test.afterEach(async ({}, info) => {
  if (info.status !== info.expectedStatus && daemon) {
    await info.attach('daemon-log', { body: daemon.log.join('').slice(-20_000), contentType: 'text/plain' });
  }
});

test('admin logs in, creates an invite; a friend joins through the link', async () => {
  await login(alice, daemon.url, daemon.adminUser, daemon.adminPassword);
  await createChannel(alice, daemon.url, CHANNEL, TOPIC);

  const link = await createInvite(alice, daemon.url);
  expect(link).toContain('/invite/');
  // The new invite is listed as active.
  await expect(alice.getByTestId('invite-row').filter({ hasText: 'active' })).toHaveCount(1);

  await acceptInvite(bob, link.replace(/^https?:\/\/[^/]+/, daemon.url), 'bob', 'Bob', BOB_PW);
  await expect(bob.getByTestId('channel-list').getByRole('link', { name: CHANNEL })).toBeVisible();

  // The invite is now shown as used, and the link no longer works.
  await alice.reload();
  await expect(alice.getByTestId('invite-row').filter({ hasText: 'used by' })).toHaveCount(1);
});

test('two users chat in real time: send, typing, reply, edit, delete', async () => {
  await openChannel(alice, CHANNEL);
  await openChannel(bob, CHANNEL);
  await expect(alice.getByTestId('channel-topic')).toHaveText(TOPIC);
  await markPage(alice, 'alice-1');
  await markPage(bob, 'bob-1');

  // Presence: each sees the other online in the member list.
  await expect(alice.getByTestId('member-list').locator('li', { hasText: 'Bob' })).toHaveAttribute('data-presence', 'online');
  await expect(bob.getByTestId('member-list').locator('li', { hasText: 'admin' }).first()).toHaveAttribute(
    'data-presence',
    'online',
  );

  await send(alice, 'Hello **Bob**, pizza at 8?');
  await expect(messages(bob, 'pizza at 8')).toHaveCount(1);
  await expect(messages(bob, 'pizza at 8').locator('strong', { hasText: 'Bob' })).toBeVisible();

  // Typing indicator.
  await bob.getByTestId('composer').pressSequentially('Sounds', { delay: 30 });
  await expect(alice.getByTestId('typing')).toHaveText('Bob is typing…');
  // The box sends Bob's own typing.start back to him; his page must not say he is typing.
  const bobId = await bob.evaluate(async () => ((await (await fetch('/api/me')).json()) as { user: { id: string } }).user.id);
  await expect
    .poll(() => typingFrames.get(bob)!.filter((d) => String(d.user_id) === bobId).length, {
      message: "Bob's page receives his own typing.start back",
    })
    .toBeGreaterThan(0);
  await expect(bob.getByTestId('typing')).toHaveText('');
  await bob.getByTestId('composer').fill('');

  // Reply: the quote of the parent shows above the reply on both sides.
  const parent = messages(bob, 'pizza at 8');
  await parent.hover();
  await parent.getByRole('button', { name: 'Reply' }).click();
  await expect(bob.getByTestId('replying')).toContainText('pizza at 8');
  await send(bob, 'Yes! I bring drinks');
  const reply = messages(alice, 'I bring drinks');
  await expect(reply).toHaveCount(1);
  await expect(reply.getByTestId('reply-quote')).toContainText('pizza at 8');
  await expect(messages(bob, 'I bring drinks').getByTestId('reply-quote')).toContainText('pizza at 8');

  // Edit own message: Bob sees the new text and "(edited)".
  const mine = messages(alice, 'pizza at 8');
  await mine.hover();
  await mine.getByRole('button', { name: 'Edit message' }).click();
  const editor = alice.getByRole('textbox', { name: 'Edit message' });
  await editor.fill('Hello **Bob**, pizza at 9 instead?');
  await editor.press('Enter');
  await expect(messages(bob, 'pizza at 9 instead')).toHaveCount(1);
  await expect(messages(bob, 'pizza at 9 instead')).toContainText('(edited)');
  await expect(messages(bob, 'pizza at 8')).toHaveCount(0);
  // The reply's quote follows the edit too.
  await expect(messages(bob, 'I bring drinks').getByTestId('reply-quote')).toContainText('pizza at 9');

  // Up arrow in the empty composer edits the last own message; Escape cancels.
  await alice.getByTestId('composer').click();
  await alice.getByTestId('composer').press('ArrowUp');
  await expect(alice.getByRole('textbox', { name: 'Edit message' })).toBeVisible();
  await alice.getByRole('textbox', { name: 'Edit message' }).press('Escape');
  await expect(alice.getByRole('textbox', { name: 'Edit message' })).toHaveCount(0);

  // Delete: both see a tombstone instead of the message.
  await send(alice, 'oops wrong channel');
  const oops = messages(alice, 'oops wrong channel');
  await expect(messages(bob, 'oops wrong channel')).toHaveCount(1);
  const oopsId = await oops.getAttribute('data-mid');
  await oops.hover();
  await oops.getByRole('button', { name: 'Delete message' }).click();
  await alice.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(bob.locator(`[data-mid="${oopsId}"]`).getByTestId('tombstone')).toHaveText('message deleted');
  await expect(messages(bob, 'oops wrong channel')).toHaveCount(0);
  await expect(alice.locator(`[data-mid="${oopsId}"]`).getByTestId('tombstone')).toBeVisible();

  // Clicking a reply quote jumps to (and highlights) the parent.
  await messages(alice, 'I bring drinks').getByTestId('reply-quote').click();
  await expect(messages(alice, 'pizza at 9')).toHaveClass(/flash/);

  // Nothing above needed a reload.
  await expectMarker(alice, 'alice-1');
  await expectMarker(bob, 'bob-1');
  await screenshot(alice, 'chat-desktop');
});

test('daemon restart: both pages reconnect and resume without reload, loss or duplicates', async () => {
  await markPage(alice, 'alice-2');
  await markPage(bob, 'bob-2');
  await send(bob, 'before the restart');
  await expect(messages(alice, 'before the restart')).toHaveCount(1);

  await daemon.stop();
  await expect(alice.getByTestId('reconnect-banner')).toHaveText(/Reconnecting…/);
  await expect(bob.getByTestId('reconnect-banner')).toHaveText(/Reconnecting…/);

  // Sent while the box is down: queued and shown greyed as pending.
  await send(alice, 'outage message one');
  await send(alice, 'outage message two');
  await expect(pending(alice, 'outage message one')).toBeVisible();
  await expect(pending(alice, 'outage message two')).toBeVisible();
  await expect(pending(alice)).toHaveCount(2);
  await expect(messages(alice, 'outage message')).toHaveCount(0);

  await daemon.start();

  await expect(alice.getByTestId('reconnect-banner')).toHaveCount(0, { timeout: 30_000 });
  await expect(bob.getByTestId('reconnect-banner')).toHaveCount(0, { timeout: 30_000 });

  for (const page of [alice, bob]) {
    await expect(messages(page, 'outage message one')).toHaveCount(1);
    await expect(messages(page, 'outage message two')).toHaveCount(1);
    await expect(messages(page, 'before the restart')).toHaveCount(1);
    await expect(messages(page, 'I bring drinks')).toHaveCount(1);
  }
  await expect(pending(alice)).toHaveCount(0);

  // Realtime still works both ways after the resume.
  await send(bob, 'after the restart');
  await expect(messages(alice, 'after the restart')).toHaveCount(1);
  await send(alice, 'welcome back');
  await expect(messages(bob, 'welcome back')).toHaveCount(1);

  // Order is kept: one before two, both after the message sent before the outage.
  const texts = await bob.getByTestId('message-content').allInnerTexts();
  const i0 = texts.findIndex((t) => t.includes('before the restart'));
  const i1 = texts.findIndex((t) => t.includes('outage message one'));
  const i2 = texts.findIndex((t) => t.includes('outage message two'));
  expect(i0).toBeGreaterThanOrEqual(0);
  expect(i1).toBeGreaterThan(i0);
  expect(i2).toBeGreaterThan(i1);

  // Still the same documents: no reload happened.
  await expectMarker(alice, 'alice-2');
  await expectMarker(bob, 'bob-2');

  // A fresh load of the channel from the server shows each message exactly once too.
  await bob.reload();
  await expect(messages(bob, 'outage message one')).toHaveCount(1);
  await expect(messages(bob, 'outage message two')).toHaveCount(1);
});

test('markdown cannot inject HTML or script links', async () => {
  await markPage(bob, 'bob-3');
  await send(alice, 'img test <img src=x onerror="window.__xss=1"> end');
  await send(alice, 'link test [click me](javascript:window.__xss=2) and [ok](https://example.com/ok)');
  await send(alice, 'data test [d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) <script>window.__xss=3</script>');

  const img = messages(bob, 'img test');
  await expect(img).toHaveCount(1);
  await expect(img.locator('img')).toHaveCount(0);
  await expect(img.getByTestId('message-content')).toContainText('<img src=x onerror="window.__xss=1">');

  const lnk = messages(bob, 'link test');
  await expect(lnk).toHaveCount(1);
  await expect(lnk.locator('a[href^="javascript:" i]')).toHaveCount(0);
  await expect(lnk.getByTestId('message-content')).toContainText('[click me](javascript:window.__xss=2)');
  const ok = lnk.getByRole('link', { name: 'ok' });
  await expect(ok).toHaveAttribute('href', 'https://example.com/ok');
  await expect(ok).toHaveAttribute('rel', 'noopener noreferrer nofollow');
  await expect(ok).toHaveAttribute('target', '_blank');

  const data = messages(bob, 'data test');
  await expect(data).toHaveCount(1);
  await expect(data.locator('a')).toHaveCount(0);
  await expect(data.locator('script')).toHaveCount(0);
  await expect(data.getByTestId('message-content')).toContainText('<script>window.__xss=3</script>');

  // Hovering and clicking the inert text does nothing either.
  await lnk.getByText('[click me]', { exact: false }).click();
  expect(await bob.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  expect(await alice.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  await expectMarker(bob, 'bob-3');
  expect(pageErrors).toEqual([]);
});

test('unread count in the sidebar and a "New messages" divider', async () => {
  // Bob looks at another page (client-side navigation, no reload) while Alice writes.
  await bob.getByRole('link', { name: 'Settings' }).click();
  await expect(bob.getByRole('heading', { name: 'Settings' })).toBeVisible();
  await send(alice, 'unread one');
  await send(alice, 'unread two');
  const link = bob.getByTestId('channel-list').getByRole('link', { name: CHANNEL });
  await expect(link).toHaveClass(/unread/);
  await expect(link.getByLabel('2 unread')).toHaveText('2');

  await link.click();
  const divider = bob.getByTestId('unread-divider');
  await expect(divider).toHaveText('New messages');
  // The divider sits right before the first unread message.
  await expect(bob.locator('[data-testid="unread-divider"] + [data-testid="message"]')).toContainText('unread one');
  // Opening the channel marks it read, locally and on the server (read.ack).
  await expect(link).not.toHaveClass(/unread/);
  await expect(link.getByLabel(/unread/)).toHaveCount(0);
  await expect
    .poll(() =>
      bob.evaluate(async (name) => {
        const list = (await (await fetch('/api/channels')).json()) as { name: string; unread_count: number }[];
        return list.find((c) => c.name === name)?.unread_count;
      }, CHANNEL),
    )
    .toBe(0);
});

test('keyboard: Alt+Up/Down switch channels, Escape closes dialogs, focus is visible', async () => {
  await createChannel(alice, daemon.url, 'second', 'Another room');
  await openChannel(alice, CHANNEL);
  const names = await alice.getByTestId('channel-list').getByRole('link').allInnerTexts();
  const i = names.findIndex((n) => n.includes(CHANNEL));
  const next = names[(i + 1) % names.length].replace('#', '').trim().split(/\s/)[0];
  const composer = alice.getByTestId('composer');
  await composer.focus();
  await composer.press('Alt+ArrowDown');
  await expect(alice.getByRole('heading', { level: 1, name: next, exact: true })).toBeVisible();
  await alice.getByTestId('composer').press('Alt+ArrowUp');
  await expect(alice.getByRole('heading', { level: 1, name: CHANNEL, exact: true })).toBeVisible();

  // Delete dialog: Escape closes it and nothing is deleted.
  const m = messages(alice, 'welcome back');
  await m.hover();
  await m.getByRole('button', { name: 'Delete message' }).click();
  await expect(alice.getByRole('dialog')).toBeVisible();
  await alice.keyboard.press('Escape');
  await expect(alice.getByRole('dialog')).toBeHidden();
  await expect(messages(alice, 'welcome back')).toHaveCount(1);

  // Tab reaches the message actions, and the focused control has a visible outline.
  await alice.getByTestId('composer').focus();
  await alice.keyboard.press('Shift+Tab');
  const focused = alice.locator(':focus');
  const outline = await focused.evaluate((el) => {
    const s = getComputedStyle(el);
    return `${s.outlineStyle} ${s.outlineWidth}`;
  });
  expect(outline).toBe('solid 2px');
});

test('dark theme from settings', async () => {
  await bob.goto(daemon.url + '/settings');
  await bob.getByRole('radio', { name: 'Dark' }).check();
  await expect(bob.locator('html')).toHaveAttribute('data-theme', 'dark');
  const bg = await bob.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(bg).toBe('rgb(23, 25, 30)');
  await openChannel(bob, CHANNEL);
  // The choice is remembered across loads.
  await bob.reload();
  await expect(bob.locator('html')).toHaveAttribute('data-theme', 'dark');
  await expect(messages(bob, 'welcome back')).toHaveCount(1);
  await screenshot(bob, 'chat-dark');
});

test("message length: counter near the box's limit, over-long sends refused in words", async () => {
  await alice.goto(daemon.url);
  await openChannel(alice, CHANNEL);
  const box = alice.getByTestId('composer');
  const count = alice.getByTestId('composer-count');
  const tooLong = alice.getByTestId('composer-too-long');

  // Default limit (4000): no counter far from it, a counter in the last 500 characters.
  await box.fill('a'.repeat(3400));
  await expect(count).toHaveCount(0);
  await box.fill('a'.repeat(3990));
  await expect(count).toHaveText('10 characters left');

  // Over the limit: Enter does not send; the reason is said, and the text stays for editing.
  const over = 'x'.repeat(4005);
  await box.fill(over);
  await expect(count).toHaveText('5 characters over the limit of 4000');
  await box.press('Enter');
  await expect(tooLong).toHaveText(
    'Not sent: this message is 4005 characters long and the limit is 4000. Shorten it by 5 characters.',
  );
  await expect(box).toHaveValue(over);
  await expect(pending(alice)).toHaveCount(0);
  await alice.getByRole('button', { name: 'Send message' }).click();
  await expect(tooLong).toBeVisible();
  await expect(box).toHaveValue(over);
  // Back under the limit, the refusal goes away.
  await box.press('Backspace');
  await box.press('Backspace');
  await box.press('Backspace');
  await box.press('Backspace');
  await box.press('Backspace');
  await expect(tooLong).toHaveCount(0);
  await expect(count).toHaveText('0 characters left');

  // Characters are counted like the server does: an emoji is one character, so exactly
  // 4000 of them (4001 UTF-16 units) is allowed and the box accepts it.
  const edge = 'emoji-edge ' + 'e'.repeat(3988) + '😀';
  await box.fill(edge);
  await expect(count).toHaveText('0 characters left');
  await box.press('Enter');
  await expect(box).toHaveValue('');
  await expect(messages(bob, 'emoji-edge')).toHaveCount(1);
  await expect(messages(alice, 'emoji-edge')).toHaveCount(1);

  // A box configured with a smaller limit: the app takes it from the box, not a built-in value.
  appendFileSync(path.join(daemon.dataDir, 'spot.toml'), '\n[limits]\nmessage_max_chars = 120\n');
  await daemon.restart();
  const me = await alice.evaluate(async () => (await (await fetch('/api/me')).json()) as { limits?: unknown });
  expect(me.limits).toMatchObject({ message_max_chars: 120 });
  await alice.reload();
  await expect(alice.getByRole('heading', { level: 1, name: CHANNEL, exact: true })).toBeVisible();
  await box.fill('b'.repeat(90));
  await expect(count).toHaveCount(0);
  await box.fill('b'.repeat(100));
  await expect(count).toHaveText('20 characters left');
  await box.fill('short enough, then too long ' + 'b'.repeat(100));
  await expect(count).toHaveText('8 characters over the limit of 120');
  await box.press('Enter');
  await expect(tooLong).toContainText('the limit is 120');
  await box.fill('fits under the configured limit');
  await box.press('Enter');
  await expect(box).toHaveValue('');
  await expect(messages(bob, 'fits under the configured limit')).toHaveCount(1, { timeout: 30_000 });
  expect(pageErrors).toEqual([]);
});
