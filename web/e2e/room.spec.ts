import { chromiumArgs, chromiumPath } from './chromium';
import { test, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type Daemon } from './daemon';
import { axe } from './axe';
import { acceptInvite, createInvite, login, messages, screenshot, send } from './helpers';

// The voice room page with three real Chromium users whose fake microphones play a tone: open
// it without joining, join, tiles with speaking rings, mute/deafen seen by the others, quality
// bars, the room's own chat, leave; desktop and phone.

/** A loud, warbling tone Chromium loops as the microphone (noise suppression keeps it). */
function toneWav(file: string, seconds = 4): void {
  const rate = 48000;
  const n = rate * seconds;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVE', 8);
  buf.write('fmt ', 12);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    phase += (2 * Math.PI * (330 + 150 * Math.sin(2 * Math.PI * 1.3 * t))) / rate;
    const envelope = 0.55 + 0.45 * Math.sin(2 * Math.PI * 3 * t);
    buf.writeInt16LE(Math.round(Math.sin(phase) * envelope * 14000), 44 + i * 2);
  }
  writeFileSync(file, buf);
}

const WAV = path.join(os.tmpdir(), `spot-e2e-room-tone-${process.pid}.wav`);
toneWav(WAV);

test.use({
  launchOptions: {
    executablePath: chromiumPath,
    args: [
      ...chromiumArgs,
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${WAV}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  },
});
test.describe.configure({ mode: 'serial' });

const ROOM = 'lounge';
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
let daemon: Daemon;
let roomId = '';
const ctxs: BrowserContext[] = [];
const pages: Record<string, Page> = {};
const ids: Record<string, string> = {};
const pageErrors: string[] = [];

async function newPage(browser: Browser): Promise<Page> {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  ctxs.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return page;
}

function tiles(page: Page) {
  return page.getByTestId('room-stage').getByTestId('room-tile');
}

function tileOf(page: Page, who: string) {
  return tiles(page).and(page.locator(`[data-user="${ids[who]}"]`));
}

async function openRoom(page: Page): Promise<void> {
  await page.getByTestId('voice-room').filter({ hasText: ROOM }).getByTestId('voice-link').click();
  await expect(page.getByRole('heading', { level: 1, name: ROOM })).toBeVisible();
}

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  for (const n of ['admin', 'bob', 'carol']) pages[n] = await newPage(browser);
});

test.afterAll(async () => {
  for (const c of ctxs) await c.close();
  await daemon?.dispose();
});

test.afterEach(async ({}, info) => {
  if (info.status !== info.expectedStatus && daemon) {
    await info.attach('daemon-log', { body: daemon.log.join('').slice(-20_000), contentType: 'text/plain' });
  }
});

test('friends and a voice room', async () => {
  const admin = pages.admin;
  await login(admin, daemon.url, daemon.adminUser, daemon.adminPassword);
  for (const n of ['bob', 'carol']) {
    const link = await createInvite(admin, daemon.url);
    await acceptInvite(pages[n], link.replace(/^https?:\/\/[^/]+/, daemon.url), n, n[0].toUpperCase() + n.slice(1), `${n}-password-123`);
  }
  await admin.goto(daemon.url + '/admin/channels');
  await admin.getByLabel('Name', { exact: true }).first().fill(ROOM);
  await admin.getByLabel('Kind').selectOption('voice');
  await admin.getByRole('button', { name: 'Create channel' }).click();
  for (const [n, p] of Object.entries(pages)) {
    await expect(p.getByTestId('voice-room').filter({ hasText: ROOM })).toBeVisible();
    ids[n] = await p.evaluate(async () => {
      const j = (await (await fetch('/api/me')).json()) as { user?: { id: string }; id?: string };
      return String(j.user?.id ?? j.id);
    });
  }
});

test('clicking a voice room opens its page without joining', async () => {
  const admin = pages.admin;
  await openRoom(admin);
  roomId = new URL(admin.url()).pathname.split('/').pop() ?? '';
  expect(admin.url()).toContain(`/channels/${roomId}`);
  await expect(admin.getByTestId('room-status')).toHaveText('Nobody is here yet');
  await expect(admin.getByTestId('room-join')).toHaveText(`Join ${ROOM}`);
  await expect(tiles(admin)).toHaveCount(0);
  await expect(admin.getByTestId('voice-panel')).toHaveCount(0);
  // No microphone was asked for and no connection made.
  expect(await admin.evaluate(() => 'spotVoice' in window || '__spotVoice' in window)).toBe(false);
  // The chat is there beside it, and the page loads by its address too.
  await expect(admin.getByTestId('room-chat')).toBeVisible();
  await admin.reload();
  await expect(admin.getByRole('heading', { level: 1, name: ROOM })).toBeVisible();
  await expect(admin.getByTestId('room-join')).toBeVisible();
  await axe(admin, 'the voice room page (not joined)');
  await screenshot(admin, 'room-empty-desktop');
});

test('three people join from the room page and see three tiles', async () => {
  for (const n of ['admin', 'bob', 'carol']) {
    const p = pages[n];
    if (n !== 'admin') await openRoom(p);
    await p.getByTestId('room-join').click();
    await expect(p.getByTestId('room-status')).toHaveText('You are in this room', { timeout: 20_000 });
    await expect(p.getByTestId('room-join')).toHaveCount(0);
  }
  for (const p of Object.values(pages)) {
    await expect(tiles(p)).toHaveCount(3);
    for (const n of Object.keys(pages)) await expect(tileOf(p, n)).toContainText(n === 'admin' ? /.+/ : n[0].toUpperCase() + n.slice(1));
  }
  // A join is said to screen readers on the pages of those already in.
  await expect(pages.admin.getByTestId('room-announce')).toContainText('Carol joined lounge.');
});

test('the speaking ring follows the tone, and a muted person has none', async () => {
  const { admin, bob, carol } = pages;
  await carol.getByTestId('room-mute').click();
  await expect(carol.getByTestId('room-mute')).toHaveAttribute('aria-pressed', 'true');
  for (const p of [admin, bob]) {
    await expect(tileOf(p, 'admin')).toHaveAttribute('data-speaking', 'true', { timeout: 15_000 });
    await expect(tileOf(p, 'bob')).toHaveAttribute('data-speaking', 'true', { timeout: 15_000 });
    await expect(tileOf(p, 'carol')).toHaveAttribute('data-muted', 'true');
    await expect(tileOf(p, 'carol').getByTestId('tile-muted')).toBeVisible();
    await expect(tileOf(p, 'carol')).toContainText('muted');
  }
  // Her ring stays off while muted (the box never forwards or rings a muted person).
  for (let i = 0; i < 5; i++) {
    await expect(tileOf(admin, 'carol')).toHaveAttribute('data-speaking', 'false');
    await admin.waitForTimeout(300);
  }
  // Deafen shows too.
  await bob.getByTestId('room-deafen').click();
  await expect(tileOf(admin, 'bob')).toHaveAttribute('data-deafened', 'true');
  await expect(tileOf(carol, 'bob').getByTestId('tile-deafened')).toBeVisible();
  await bob.getByTestId('room-deafen').click();
  await expect(tileOf(admin, 'bob')).toHaveAttribute('data-deafened', 'false');
});

test('every tile shows connection quality: mine from my stats, the others from the box', async () => {
  const admin = pages.admin;
  for (const n of ['admin', 'bob', 'carol']) {
    // On one machine every path is good.
    await expect(tileOf(admin, n).getByTestId('tile-quality')).toHaveAttribute('data-grade', 'good', { timeout: 20_000 });
    await expect(tileOf(admin, n).getByTestId('tile-quality')).toContainText(/Connection good: .*% loss/);
  }
  await expect(admin.getByTestId('room-own-quality').getByTestId('tile-quality')).toHaveAttribute('data-grade', 'good');
  // Bob's and Carol's bars on the admin's page can only come from the box: her browser has no
  // figures of their paths. Carol's own page grades her from her own getStats.
  await expect(pages.carol.getByTestId('room-own-quality').getByTestId('tile-quality')).toHaveAttribute('data-grade', 'good');
});

test('the room chat reaches the others in the room', async () => {
  const { admin, bob, carol } = pages;
  await send(admin, 'can everyone hear me?');
  for (const p of [bob, carol]) {
    await expect(messages(p, 'can everyone hear me?')).toBeVisible();
    await expect(p.getByTestId('room-chat').getByText('can everyone hear me?')).toBeVisible();
  }
  await send(bob, 'loud and clear');
  await expect(messages(admin, 'loud and clear')).toBeVisible();
  await axe(admin, 'the voice room page (joined, with chat)');
  await screenshot(admin, 'room-desktop');
});

test('on a phone: one hand, controls at the bottom, a Room/Chat switch', async () => {
  const bob = pages.bob;
  await bob.setViewportSize(PHONE);
  await expect(bob.getByTestId('show-room')).toBeVisible();
  await expect(tiles(bob)).toHaveCount(3);
  const bar = await bob.getByTestId('room-controls').boundingBox();
  expect(bar, 'control bar').not.toBeNull();
  expect(bar!.y + bar!.height, 'the controls sit at the bottom').toBeGreaterThan(PHONE.height - 8);
  expect(bar!.y, 'within thumb reach').toBeGreaterThan(PHONE.height * 0.75);
  for (const b of ['room-mute', 'room-deafen', 'room-leave']) {
    const box = await bob.getByTestId(b).boundingBox();
    expect(box!.height, `${b} is big enough to hit`).toBeGreaterThanOrEqual(44);
  }
  await expect(bob.getByTestId('room-chat')).toBeHidden();
  await axe(bob, 'the voice room on a phone');
  await screenshot(bob, 'room-phone');
  // A message while the room shows: the Chat switch says so.
  await send(pages.carol, 'see you on the phone');
  await expect(bob.getByTestId('show-chat').getByLabel(', new messages')).toBeAttached();
  await bob.getByTestId('show-chat').click();
  await expect(bob.getByTestId('room-stage')).toBeHidden();
  await expect(messages(bob, 'see you on the phone')).toBeVisible();
  await expect(bob.getByTestId('room-mute')).toBeVisible();
  await axe(bob, 'the voice room chat on a phone');
  await screenshot(bob, 'room-phone-chat');
  await bob.getByTestId('show-room').click();
  await bob.setViewportSize(DESKTOP);
});

test('leaving removes the tile everywhere and brings Join back', async () => {
  const { admin, bob, carol } = pages;
  await carol.getByTestId('room-leave').click();
  await expect(carol.getByTestId('room-join')).toBeVisible();
  for (const p of [admin, bob, carol]) {
    await expect(tiles(p)).toHaveCount(2);
    await expect(tileOf(p, 'carol')).toHaveCount(0);
  }
  await expect(admin.getByTestId('room-announce')).toContainText('Carol left lounge.');
  // Keyboard: Leave is reachable and works with Enter.
  await bob.getByTestId('room-leave').focus();
  await bob.keyboard.press('Enter');
  await expect(bob.getByTestId('room-join')).toBeVisible();
  await expect(tiles(admin)).toHaveCount(1);
  await admin.getByTestId('room-leave').click();
  await expect(tiles(admin)).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});
