// Rich messages in real Chromium against the real daemon (README "Rich chat API"): a thread
// conversation between two users, reactions, pins, mentions (badge, highlight, notification),
// an image upload with progress, thumbnail and viewer, a too-large upload, a link embed from a
// local test page, and the same flows on a phone-sized viewport.
import { test, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { startDaemon, type Daemon } from './daemon';
import { acceptInvite, createChannel, createInvite, login, messages, openChannel, screenshot, send } from './helpers';

test.describe.configure({ mode: 'serial' });

const CHANNEL = 'rich';
const OTHER = 'lobby';
const BOB_PW = 'bob-secret-password-1';

let daemon: Daemon;
let ctxA: BrowserContext;
let ctxB: BrowserContext;
let alice: Page; // the admin
let bob: Page;
let site: Server;
let sitePort = 0;
const pageErrors: string[] = [];

// ---------------------------------------------------------------- helpers

/** A real PNG (RGB, no compression tricks) so the box can make a thumbnail of it. */
function png(w: number, h: number, noise = false): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  let seed = 12345;
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    for (let x = 0; x < w; x++) {
      const i = row + 1 + x * 3;
      if (noise) {
        // a sunset-ish picture with a little grain
        seed = (seed * 1103515245 + 12345) >>> 0;
        const g = (seed >>> 28) - 8;
        raw[i] = Math.min(255, Math.max(0, 255 - (y * 120) / h + g));
        raw[i + 1] = Math.min(255, Math.max(0, 120 + (x * 80) / w - (y * 60) / h + g));
        raw[i + 2] = Math.min(255, Math.max(0, 60 + (y * 150) / h + g));
      } else {
        raw[i] = (x * 255) / w;
        raw[i + 1] = (y * 255) / h;
        raw[i + 2] = 160;
      }
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: noise ? 0 : 6 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A fake Notification that records what the app shows (permission granted). */
function fakeNotifications() {
  const w = window as unknown as { __notes: { title: string; body: string }[]; Notification: unknown };
  w.__notes = [];
  class FakeNotification {
    static permission = 'granted';
    static requestPermission() {
      return Promise.resolve('granted');
    }
    onclick: (() => void) | null = null;
    constructor(title: string, opts?: { body?: string }) {
      w.__notes.push({ title, body: opts?.body ?? '' });
    }
    close() {}
  }
  w.Notification = FakeNotification;
  localStorage.setItem('spot.notifications', 'on');
}

async function newPage(browser: Browser, opts: { phone?: boolean; notes?: boolean } = {}): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext(
    opts.phone ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true } : { viewport: { width: 1280, height: 800 } },
  );
  if (opts.notes) await ctx.addInitScript(fakeNotifications);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return { ctx, page };
}

async function adminApi(page: Page, method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return page.evaluate(
    async ({ method, url, body }) => {
      const me = (await (await fetch('/api/me')).json()) as { csrf_token: string };
      const r = await fetch(url, {
        method,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const t = await r.text();
      return { status: r.status, json: t ? JSON.parse(t) : null };
    },
    { method, url, body },
  );
}

/** The message toolbar is shown on hover (desktop) or always (touch). */
async function action(page: Page, text: string, name: string): Promise<void> {
  const m = messages(page, text).first();
  await m.hover();
  await m.getByRole('toolbar', { name: 'Message actions' }).getByRole('button', { name }).click();
}

const threadPanel = (p: Page) => p.getByTestId('thread-panel');
const inThreadPage = (p: Page, text: string) =>
  p.getByTestId('thread-message-list').getByTestId('message-content').filter({ hasText: text });
const inThread = (p: Page, text: string) =>
  threadPanel(p).getByTestId('message').filter({ has: p.getByTestId('message-content').filter({ hasText: text }) });

// ---------------------------------------------------------------- setup

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  ({ ctx: ctxA, page: alice } = await newPage(browser));
  ({ ctx: ctxB, page: bob } = await newPage(browser, { notes: true }));

  // A local "web site" for link embeds: an HTML page with Open Graph tags and its image.
  const ogImage = png(120, 63);
  site = createServer((req, res) => {
    if (req.url === '/og.png') {
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': ogImage.length });
      res.end(ogImage);
    } else if (req.url === '/trip.html') {
      const base = `http://127.0.0.1:${sitePort}`;
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>Fallback title</title>
<meta property="og:title" content="Lake Trip Planner">
<meta property="og:description" content="Cabins, canoes and a campfire &amp; stars: everything for the weekend.">
<meta property="og:site_name" content="Trip Site">
<meta property="og:image" content="${base}/og.png">
</head><body>hello</body></html>`);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  sitePort = (site.address() as AddressInfo).port;
});

test.afterAll(async () => {
  // Always stop the daemon, even if closing a context fails.
  await ctxA?.close().catch(() => {});
  await ctxB?.close().catch(() => {});
  await new Promise((r) => site?.close(r));
  await daemon?.dispose();
});

test.afterEach(async ({}, info) => {
  if (info.status !== info.expectedStatus && daemon) {
    await info.attach('daemon-log', { body: daemon.log.join('').slice(-20_000), contentType: 'text/plain' });
  }
});

// ---------------------------------------------------------------- tests

test('setup: admin and a friend in two channels', async () => {
  // A small upload limit so the "too large" error can be shown with a small file.
  appendFileSync(path.join(daemon.dataDir, 'spot.toml'), '\n[uploads]\nmax_file_mb = 2\n');
  await daemon.restart();
  await login(alice, daemon.url, daemon.adminUser, daemon.adminPassword);
  await createChannel(alice, daemon.url, CHANNEL, 'Rich messages');
  await createChannel(alice, daemon.url, OTHER, 'Somewhere else');
  const link = await createInvite(alice, daemon.url);
  await acceptInvite(bob, link.replace(/^https?:\/\/[^/]+/, daemon.url), 'bob', 'Bob', BOB_PW);
  await openChannel(alice, CHANNEL);
  await openChannel(bob, CHANNEL);
});

test('a thread conversation between two users', async () => {
  await send(alice, 'Who is up for the lake trip?');
  await expect(messages(bob, 'lake trip?')).toHaveCount(1);

  // Keyboard: focus the message and press T to start a thread.
  const parent = messages(alice, 'lake trip?');
  await parent.focus();
  await parent.press('t');
  await expect(threadPanel(alice)).toBeVisible();
  await expect(threadPanel(alice).getByTestId('thread-intro')).toContainText('Who is up for the lake trip?');
  const threadBox = threadPanel(alice).getByTestId('composer');
  await threadBox.fill('Day one: canoes');
  await threadBox.press('Enter');
  await expect(inThread(alice, 'Day one: canoes')).toHaveCount(1);

  // Bob sees the reply count on the parent and opens the thread from it.
  const summary = messages(bob, 'lake trip?').getByTestId('thread-summary');
  await expect(summary.getByTestId('thread-reply-count')).toHaveText('1 reply');
  await summary.click();
  await expect(inThread(bob, 'Day one: canoes')).toHaveCount(1);
  const bobBox = threadPanel(bob).getByTestId('composer');
  await bobBox.fill('Count me in, I bring the tent');
  await bobBox.press('Enter');

  await expect(inThread(alice, 'I bring the tent')).toHaveCount(1);
  await expect(messages(alice, 'lake trip?').getByTestId('thread-reply-count')).toHaveText('2 replies');
  await expect(summary.getByTestId('thread-reply-count')).toHaveText('2 replies');
  await expect(summary).toContainText('Last reply');
  // Thread messages stay out of the channel itself.
  await expect(alice.getByTestId('message-list').getByText('I bring the tent')).toHaveCount(0);
  await screenshot(alice, 'rich-thread-desktop');

  // The channel's thread list shows it; follow/unfollow toggles.
  await bob.getByTestId('open-threads').click();
  const row = bob.getByTestId('threads-panel').getByTestId('thread-row');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('2 replies');
  const follow = row.getByRole('button', { name: /Follow|Unfollow/ });
  if ((await follow.getAttribute('aria-pressed')) === 'true') {
    // Replying followed the thread; unfollow, then follow again.
    await follow.click();
    await expect(follow).toHaveAttribute('aria-pressed', 'false');
  }
  await follow.click();
  await expect(follow).toHaveAttribute('aria-pressed', 'true');
  await screenshot(bob, 'rich-thread-list');
  // Following: a new reply from Alice makes the thread unread for Bob (he is not looking at it).
  await bob.getByTestId('threads-panel').getByRole('button', { name: 'Close threads' }).last().click();
  await threadBox.fill('Day two: campfire');
  await threadBox.press('Enter');
  await expect(messages(bob, 'lake trip?').getByTestId('thread-summary')).toHaveClass(/unread/);
  await screenshot(bob, 'rich-thread-unread');
  await messages(bob, 'lake trip?').getByTestId('thread-summary').click();
  await expect(inThread(bob, 'Day two: campfire')).toHaveCount(1);
  await expect(messages(bob, 'lake trip?').getByTestId('thread-summary')).not.toHaveClass(/unread/);
  await threadPanel(bob).getByRole('button', { name: 'Close thread' }).last().click();
  // Escape in the (empty) thread composer closes the panel and goes back to the channel's.
  await threadBox.press('Escape');
  await expect(threadPanel(alice)).toHaveCount(0);
  await expect(alice.getByTestId('composer')).toBeFocused();

  // A followed thread is also in the sidebar; it opens as a page with its parent on top.
  await bob.getByTestId('thread-link').first().click();
  await expect(bob.getByTestId('thread-intro')).toContainText('Who is up for the lake trip?');
  await expect(inThreadPage(bob, 'Day two: campfire')).toHaveCount(1);
  await bob.getByRole('link', { name: '#' + CHANNEL }).click();
  await expect(bob.getByRole('heading', { level: 1, name: CHANNEL, exact: true })).toBeVisible();
});

test('a reaction with the emoji picker is seen by the other user', async () => {
  await send(alice, 'Bring snacks please');
  await expect(messages(bob, 'Bring snacks')).toHaveCount(1);
  await action(bob, 'Bring snacks', 'Add reaction');
  const picker = bob.getByTestId('emoji-picker');
  await expect(picker).toBeVisible();
  await picker.getByTestId('emoji-search').fill('thumbs up');
  await expect(picker.getByRole('button', { name: 'thumbs up', exact: true })).toBeVisible();
  await screenshot(bob, 'rich-emoji-picker');
  await picker.getByTestId('emoji-search').press('Enter');
  await expect(picker).toHaveCount(0);

  const chipA = messages(alice, 'Bring snacks').getByTestId('reaction');
  await expect(chipA).toHaveCount(1);
  await expect(chipA).toHaveAttribute('data-emoji', '👍');
  await expect(chipA.getByTestId('reaction-count')).toHaveText('1');
  await expect(chipA).toHaveAttribute('title', 'Bob reacted with 👍');
  await expect(chipA).toHaveAttribute('aria-pressed', 'false');

  // Alice adds hers by clicking the chip; Bob sees 2 and both names.
  await chipA.click();
  await expect(chipA).toHaveAttribute('aria-pressed', 'true');
  const chipB = messages(bob, 'Bring snacks').getByTestId('reaction');
  await expect(chipB.getByTestId('reaction-count')).toHaveText('2');
  await expect(chipB).toHaveAttribute('title', /You and admin reacted with 👍|admin and You reacted with 👍/i);
  await screenshot(alice, 'rich-reactions');

  // Bob removes his: back to one.
  await chipB.click();
  await expect(chipA.getByTestId('reaction-count')).toHaveText('1');
});

test('a pin shows in the pins panel of both users', async () => {
  await send(alice, 'Meet at the north dock at 9');
  await expect(messages(bob, 'north dock')).toHaveCount(1);
  await action(alice, 'north dock', 'Pin message');
  await expect(messages(alice, 'north dock').getByTestId('pinned-mark')).toBeVisible();
  await expect(messages(bob, 'north dock').getByTestId('pinned-mark')).toBeVisible();

  await alice.getByTestId('open-pins').click();
  await expect(alice.getByTestId('pins-panel').getByTestId('pinned-message')).toContainText('north dock');
  await bob.getByTestId('open-pins').click();
  await expect(bob.getByTestId('pins-panel').getByTestId('pinned-message')).toContainText('north dock');
  await screenshot(bob, 'rich-pins');
  // Members cannot pin by default: Bob's toolbar has no pin button.
  await messages(bob, 'north dock').hover();
  await expect(messages(bob, 'north dock').getByRole('button', { name: /Pin message|Unpin message/ })).toHaveCount(0);
  await alice.getByTestId('pins-panel').getByRole('button', { name: 'Close pinned messages' }).click();
  await bob.getByTestId('pins-panel').getByRole('button', { name: 'Close pinned messages' }).click();
});

test('a mention with autocomplete raises the badge, highlights and notifies', async () => {
  await openChannel(bob, OTHER);
  const box = alice.getByTestId('composer').first();
  await box.click();
  await box.pressSequentially('@bo');
  const list = alice.getByTestId('mention-list');
  await expect(list).toBeVisible();
  await expect(list.getByTestId('mention-option').first()).toContainText('Bob');
  await screenshot(alice, 'rich-mention-autocomplete');
  await box.press('Enter');
  await expect(box).toHaveValue('@bob ');
  await box.pressSequentially('are you driving?');
  await box.press('Enter');
  await expect(box).toHaveValue('');
  await expect(messages(alice, 'are you driving?').locator('.mention')).toHaveText('@Bob');

  // Bob is elsewhere: the channel gets a mention badge and he gets a notification.
  const link = bob.getByTestId('channel-list').getByRole('link', { name: new RegExp(CHANNEL) });
  await expect(link.getByTestId('mention-badge')).toBeVisible();
  await expect
    .poll(() => bob.evaluate(() => (window as unknown as { __notes: { title: string }[] }).__notes.map((n) => n.title)))
    .toContainEqual(expect.stringContaining('mentioned you'));
  await screenshot(bob, 'rich-mention-badge');
  await link.click();
  const mine = messages(bob, 'are you driving?');
  await expect(mine).toHaveAttribute('data-mentioned', 'true');
  await expect(mine.locator('.mention-me')).toHaveText('@Bob');
  await expect(link.getByTestId('mention-badge')).toHaveCount(0);
  await screenshot(bob, 'rich-mention-highlight');

  // A direct message also notifies (Bob is looking at another channel).
  const bobId = await bob.evaluate(async () => ((await (await fetch('/api/me')).json()) as { user: { id: string } }).user.id);
  const dm = await adminApi(alice, 'POST', '/api/dms', { user_ids: [bobId] });
  expect(dm.status, JSON.stringify(dm.json)).toBeLessThan(300);
  const dmId = (dm.json as { id: string }).id;
  await expect(bob.getByTestId('dm-list')).toBeVisible();
  const sent = await adminApi(alice, 'POST', `/api/channels/${dmId}/messages`, { content: 'psst, secret snacks' });
  expect(sent.status).toBeLessThan(300);
  await expect
    .poll(() => bob.evaluate(() => (window as unknown as { __notes: { title: string; body: string }[] }).__notes))
    .toContainEqual({ title: 'admin (direct message)', body: 'psst, secret snacks' });
});

test('image upload with progress, thumbnail and a keyboard-accessible viewer', async () => {
  // Slow the upload down so the progress bar is seen moving.
  const cdp = await ctxA.newCDPSession(alice);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 400 * 1024,
  });
  const big = png(700, 500, true); // ~1 MB, stored without compression
  await alice.getByTestId('file-input').first().setInputFiles({ name: 'lake photo.png', mimeType: 'image/png', buffer: big });
  const up = alice.getByTestId('upload');
  await expect(up).toHaveCount(1);
  const bar = up.getByTestId('upload-progress');
  // Seen part-way (the throttled upload takes a few seconds).
  await expect
    .poll(
      async () => {
        const v = Number(await bar.getAttribute('value', { timeout: 1000 }).catch(() => 'NaN'));
        return v > 0 && v < 1;
      },
      { timeout: 15_000, intervals: [50] },
    )
    .toBe(true);
  await screenshot(alice, 'rich-upload-progress');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await expect(up).toHaveAttribute('data-state', 'done', { timeout: 30_000 });

  const box = alice.getByTestId('composer').first();
  await box.fill('The view from the cabin');
  await box.press('Enter');
  await expect(alice.getByTestId('upload')).toHaveCount(0);

  for (const p of [alice, bob]) {
    const img = messages(p, 'view from the cabin').getByTestId('attachment-image');
    await expect(img).toHaveCount(1);
    await expect(img.locator('img')).toHaveAttribute('src', /\/api\/attachments\/.+\/thumb/);
    await expect.poll(() => img.locator('img').evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  }
  await screenshot(bob, 'rich-image-thumb');

  // Open with the keyboard, close with Escape; focus goes back to the thumbnail.
  const thumb = messages(bob, 'view from the cabin').getByTestId('attachment-image');
  await thumb.focus();
  await thumb.press('Enter');
  const viewer = bob.getByTestId('image-viewer');
  await expect(viewer).toBeVisible();
  await expect(viewer.getByTestId('viewer-image')).toHaveAttribute('src', /\/api\/attachments\//);
  await expect.poll(() => viewer.getByTestId('viewer-image').evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBe(700);
  await screenshot(bob, 'rich-image-viewer');
  await bob.keyboard.press('Escape');
  await expect(viewer).toHaveCount(0);
  await expect(thumb).toBeFocused();
});

test('a file over the limit is refused in words; other files get a download card', async () => {
  const tooBig = Buffer.alloc(3 * 1024 * 1024, 7);
  await alice.getByTestId('file-input').first().setInputFiles({ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: tooBig });
  const err = alice.getByTestId('upload-error');
  await expect(err).toBeVisible({ timeout: 30_000 });
  await expect(err).toContainText('huge.bin');
  await expect(err).toContainText(/too large/i);
  await expect(err).toContainText(/at most 2 MB/);
  await screenshot(alice, 'rich-upload-too-large');
  await alice.getByRole('button', { name: 'Remove huge.bin' }).click();

  await alice.getByTestId('file-input').first().setInputFiles({ name: 'packing list.txt', mimeType: 'text/plain', buffer: Buffer.from('tent\ncanoe\n') });
  await expect(alice.getByTestId('upload')).toHaveAttribute('data-state', 'done');
  await alice.getByRole('button', { name: 'Send message' }).first().click();
  const card = bob.getByTestId('attachment-file').filter({ hasText: 'packing list.txt' });
  await expect(card).toBeVisible();
  await expect(card.getByRole('link', { name: 'Download packing list.txt' })).toHaveAttribute('href', /\/api\/attachments\//);
});

test('a link embed rendered from a local test page', async () => {
  const r = await adminApi(alice, 'PATCH', '/api/admin/settings', {
    embeds_enabled: true,
    embed_allowlist: [`127.0.0.1:${sitePort}`],
  });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  await send(alice, `Plans: http://127.0.0.1:${sitePort}/trip.html`);
  for (const p of [alice, bob]) {
    const embed = messages(p, 'Plans:').getByTestId('embed');
    await expect(embed).toBeVisible({ timeout: 20_000 });
    await expect(embed.getByTestId('embed-title')).toHaveText('Lake Trip Planner');
    await expect(embed).toContainText('Cabins, canoes and a campfire & stars');
    await expect(embed).toContainText('Trip Site');
    const img = embed.getByTestId('embed-image');
    await expect(img).toHaveAttribute('src', /^\/api\/embeds\/.+\/image$/);
    await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  }
  await screenshot(bob, 'rich-embed');
});

test('custom emoji: shown as images in messages and usable as reactions', async () => {
  // The admin uploads an emoji (raw bytes, X-Emoji-Name).
  const bytes = [...png(32, 32)];
  const up = await alice.evaluate(async (b) => {
    const me = (await (await fetch('/api/me')).json()) as { csrf_token: string };
    const r = await fetch('/api/admin/emoji', {
      method: 'POST',
      headers: { 'Content-Type': 'image/png', 'X-Emoji-Name': 'lakeface', 'X-CSRF-Token': me.csrf_token },
      body: new Uint8Array(b),
    });
    return { status: r.status, text: await r.text() };
  }, bytes);
  expect(up.status, up.text).toBeLessThan(300);

  await send(alice, 'See you there :lakeface: <b>not html</b>');
  for (const p of [alice, bob]) {
    const img = messages(p, 'See you there').locator('img.emoji');
    await expect(img).toHaveAttribute('alt', ':lakeface:');
    await expect(img).toHaveAttribute('src', /^\/api\/emoji\//);
    await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    await expect(messages(p, 'See you there').locator('b')).toHaveCount(0);
  }
  // Bob reacts with it from the picker's search.
  await action(bob, 'See you there', 'Add reaction');
  const picker = bob.getByTestId('emoji-picker');
  await picker.getByTestId('emoji-search').fill('lakeface');
  await picker.getByRole('button', { name: ':lakeface:' }).click();
  const chip = messages(alice, 'See you there').getByTestId('reaction');
  await expect(chip).toHaveAttribute('data-emoji', ':lakeface:');
  await expect(chip.locator('img')).toHaveAttribute('src', /^\/api\/emoji\//);
  await screenshot(alice, 'rich-custom-emoji');
});

test('phone viewport: thread, reaction, pins and image viewer', async ({ browser }) => {
  const { ctx, page } = await newPage(browser, { phone: true });
  await login(page, daemon.url, 'bob', BOB_PW);
  await page.getByRole('navigation', { name: 'Channels and pages' }).getByRole('link', { name: new RegExp(CHANNEL) }).click();
  await expect(page.getByRole('heading', { level: 1, name: CHANNEL, exact: true })).toBeVisible();

  // Thread: the panel takes the whole screen; Back returns to the channel.
  await messages(page, 'lake trip?').getByTestId('thread-summary').click();
  const panel = threadPanel(page);
  await expect(panel).toBeVisible();
  const pb = await panel.boundingBox();
  expect(pb && pb.x === 0 && Math.round(pb.width) === 390).toBeTruthy();
  const box = panel.getByTestId('composer');
  await box.fill('From my phone: bringing marshmallows');
  await box.press('Enter');
  await expect(inThread(page, 'bringing marshmallows')).toHaveCount(1);
  await screenshot(page, 'rich-thread-phone');
  await panel.getByRole('button', { name: 'Close thread' }).first().click();
  await expect(panel).toHaveCount(0);

  // Reaction: the toolbar is always shown on touch screens; the picker is a bottom sheet.
  const msg = messages(page, 'north dock');
  await msg.scrollIntoViewIfNeeded();
  // Touch: a tap on the message shows its actions.
  await msg.getByTestId('message-content').tap();
  await msg.getByRole('button', { name: 'Add reaction' }).click();
  const picker = page.getByTestId('emoji-picker');
  await expect(picker).toBeVisible();
  await picker.getByTestId('emoji-search').fill('party popper');
  await screenshot(page, 'rich-emoji-picker-phone');
  await picker.getByRole('button', { name: 'party popper', exact: true }).click();
  await expect(messages(alice, 'north dock').getByTestId('reaction').filter({ hasText: '🎉' })).toHaveCount(1);

  // Pins panel, full screen.
  await page.getByTestId('open-pins').click();
  await expect(page.getByTestId('pins-panel').getByTestId('pinned-message')).toContainText('north dock');
  await screenshot(page, 'rich-pins-phone');
  await page.getByTestId('pins-panel').getByRole('button', { name: 'Close pinned messages' }).first().click();

  // Image viewer fits the phone.
  const thumb = messages(page, 'view from the cabin').getByTestId('attachment-image');
  await thumb.scrollIntoViewIfNeeded();
  await thumb.click();
  const viewer = page.getByTestId('image-viewer');
  await expect(viewer).toBeVisible();
  const vb = await viewer.boundingBox();
  expect(vb && vb.width <= 390).toBeTruthy();
  await screenshot(page, 'rich-image-viewer-phone');
  await viewer.getByRole('button', { name: 'Close image viewer' }).click();
  await expect(viewer).toHaveCount(0);

  // The composer fits, with its attach and emoji buttons.
  const cb = await page.getByTestId('composer').boundingBox();
  expect(cb && cb.x >= 0 && cb.x + cb.width <= 390).toBeTruthy();
  await expect(page.getByRole('button', { name: 'Attach files' })).toBeVisible();
  await screenshot(page, 'rich-channel-phone');
  await ctx.close();
});

test('no page errors', async () => {
  expect(pageErrors).toEqual([]);
});
