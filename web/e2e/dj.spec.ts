import { chromiumArgs, chromiumPath } from './chromium';
import { test, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type Daemon } from './daemon';
import { axe } from './axe';
import { ok } from './admin-helpers';
import { wav } from './wav';
import { login, messages, screenshot, send } from './helpers';

// The voice room's shared DJ through the real daemon: two people in a room (the admin on a
// desktop, Bob on a phone), music uploaded through the library (WAVs of a tone made here), `!play`
// typed in the room's chat, the DJ's audio arriving in the other browser (getStats), pause,
// volume and skip from one page seen on both, a private answer only its sender sees, the DJ
// muted for one listener and for the room, axe and screenshots.

// The microphones are quiet (and muted): the only music in the room is the DJ's.
const MIC = path.join(os.tmpdir(), `spot-e2e-dj-mic-${process.pid}.wav`);
writeFileSync(MIC, wav(0, 2));

test.use({
  launchOptions: {
    executablePath: chromiumPath,
    args: [
      ...chromiumArgs,
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${MIC}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  },
});
test.describe.configure({ mode: 'serial' });

const ROOM = 'lounge';
// No tags in a WAV: the box names a track after its file.
const FIRST = 'Sine Four Forty';
const SECOND = 'Sine Six Sixty';
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
const BOB_PW = 'bob-dj-password-1';
let daemon: Daemon;
let roomId = '';
const ctxs: BrowserContext[] = [];
let admin: Page;
let bob: Page;
const pageErrors: string[] = [];

async function newPage(browser: Browser, phone: boolean): Promise<Page> {
  const ctx = await browser.newContext(phone ? { viewport: PHONE, hasTouch: true, isMobile: true } : { viewport: DESKTOP });
  ctxs.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return page;
}

const panel = (p: Page) => p.getByTestId('dj-panel');
const library = (p: Page) => p.getByTestId('music-library');

/** Inbound audio of the DJ's stream on this page: packets, level, energy (getStats). */
async function djInbound(page: Page): Promise<{ packets: number; level: number; energy: number } | null> {
  const participant = await page.getByTestId('room-tile-dj').getAttribute('data-participant');
  const key = participant?.replace(/^p/, '') ?? '';
  return page.evaluate(async (key) => {
    const v = (window as unknown as { __spotVoice?: { pc: RTCPeerConnection; mids: Record<string, string> } }).__spotVoice;
    if (!v) return null;
    let out: { packets: number; level: number; energy: number } | null = null;
    (await v.pc.getStats()).forEach((s: Record<string, unknown>) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio' || v.mids[String(s.mid)] !== key) return;
      out = { packets: Number(s.packetsReceived ?? 0), level: Number(s.audioLevel ?? 0), energy: Number(s.totalAudioEnergy ?? 0) };
    });
    return out;
  }, key);
}

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  admin = await newPage(browser, false);
  bob = await newPage(browser, true);
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

test('two people in a voice room see the DJ panel, empty, with how to start', async () => {
  await login(admin, daemon.url, daemon.adminUser, daemon.adminPassword);
  roomId = (await ok<{ id: string }>(admin, 'POST', '/api/channels', { name: ROOM, kind: 'voice' })).id;
  await ok(admin, 'POST', '/api/admin/users', { username: 'bob', password: BOB_PW, role: 'member' });
  await login(bob, daemon.url, 'bob', BOB_PW);
  for (const p of [admin, bob]) {
    await p.goto(`${daemon.url}/channels/${roomId}`);
    await expect(p.getByRole('heading', { level: 1, name: ROOM })).toBeVisible();
    await p.getByTestId('room-join').click();
    await expect(p.getByTestId('room-status')).toHaveText('You are in this room', { timeout: 20_000 });
    await p.getByTestId('room-mute').click();
    await expect(panel(p).getByTestId('dj-empty')).toContainText('Type !play and a song name in the chat, or pick from the library.');
  }
  await axe(admin, 'the DJ panel, nothing playing (desktop)');
  await axe(bob, 'the DJ panel, nothing playing (phone)');
});

test('music uploaded through the library shows in every open library at once', async () => {
  // Bob has the library open while the admin uploads: track.create brings the tracks.
  await bob.getByTestId('dj-library-open').click();
  await expect(library(bob)).toBeVisible();
  await expect(library(bob).getByTestId('library-count')).toHaveText('The library is empty. Upload music to start.');

  await admin.getByTestId('dj-library-open').click();
  await expect(library(admin)).toBeVisible();
  await admin.getByTestId('library-file').setInputFiles([
    { name: `${FIRST}.wav`, mimeType: 'audio/wav', buffer: wav(440, 40) },
    { name: `${SECOND}.wav`, mimeType: 'audio/wav', buffer: wav(660, 40) },
  ]);
  const uploads = library(admin).getByTestId('library-upload');
  await expect(uploads).toHaveCount(2);
  for (const name of [FIRST, SECOND]) {
    await expect(uploads.and(admin.locator(`[data-name="${name}.wav"]`))).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  }
  for (const p of [admin, bob]) {
    for (const title of [FIRST, SECOND]) await expect(library(p).getByTestId('library-track').filter({ hasText: title })).toBeVisible();
  }

  // The same file again is refused in words, next to that file.
  await admin.getByTestId('library-file').setInputFiles([{ name: 'again.wav', mimeType: 'audio/wav', buffer: wav(440, 40) }]);
  const again = uploads.and(admin.locator('[data-name="again.wav"]'));
  await expect(again).toHaveAttribute('data-state', 'failed', { timeout: 60_000 });
  await expect(again.getByTestId('library-upload-error')).toContainText('“again.wav”');

  // Search as you type.
  await admin.getByTestId('library-search').fill('six');
  await expect(library(admin).getByTestId('library-track')).toHaveCount(1);
  await expect(library(admin).getByTestId('library-track')).toContainText(SECOND);
  await admin.getByTestId('library-search').fill('');
  await expect(library(admin).getByTestId('library-track')).toHaveCount(2);

  await axe(admin, 'the music library (desktop)');
  await screenshot(admin, 'dj-library-desktop');
  await axe(bob, 'the music library (phone)');
  await screenshot(bob, 'dj-library-phone');
  for (const p of [admin, bob]) {
    await p.keyboard.press('Escape');
    await expect(library(p)).toBeHidden();
  }
});

test('!play in the room chat plays into the room: the other browser receives the music', async () => {
  await send(admin, `!play ${FIRST}`);
  for (const p of [admin, bob]) {
    await expect(panel(p).getByTestId('dj-title')).toHaveText(FIRST, { timeout: 30_000 });
    await expect(panel(p)).toHaveAttribute('data-state', 'playing', { timeout: 30_000 });
    await expect(p.getByTestId('room-tile-dj')).toBeVisible();
  }
  // The DJ's answer is a DJ line in the chat, for everyone.
  await expect(admin.getByTestId('room-chat').getByTestId('dj-reply').first()).toBeVisible();
  // The next message after a DJ line starts its own group (it is not the DJ's).
  await send(admin, 'nice');
  await expect(messages(admin, 'nice').locator('header')).toBeVisible();
  await expect(bob.getByTestId('dj-reply').first()).toBeAttached();
  await expect(admin.getByTestId('voice-occupant-dj')).toBeVisible();

  // Bob's browser gets the DJ's stream, loud and growing.
  await expect
    .poll(async () => {
      const s = await djInbound(bob);
      return !!s && s.level > 0 && s.energy > 0;
    }, { timeout: 30_000, message: 'inbound audio from the DJ on the phone' })
    .toBe(true);
  const before = (await djInbound(bob))?.energy ?? 0;
  await expect
    .poll(async () => (await djInbound(bob))?.energy ?? 0, { timeout: 10_000, message: 'the DJ keeps playing' })
    .toBeGreaterThan(before);
  await expect(admin.getByTestId('room-tile-dj')).toHaveAttribute('data-speaking', 'true', { timeout: 15_000 });

  // The second track waits in the queue (Bob unfolds the panel on his phone to see it).
  await send(admin, `!play ${SECOND}`);
  await bob.getByTestId('dj-expand').click();
  await expect(bob.getByTestId('dj-expand')).toHaveAttribute('aria-expanded', 'true');
  for (const p of [admin, bob]) {
    await expect(panel(p).getByTestId('dj-queue-entry')).toHaveCount(1);
    await expect(panel(p).getByTestId('dj-queue-entry')).toContainText(SECOND);
    await expect(panel(p).getByTestId('dj-queue-summary')).toContainText('1 track · 0:40');
  }
  await axe(admin, 'the DJ panel, playing (desktop)');
  await screenshot(admin, 'dj-playing-desktop');
  await axe(bob, 'the DJ panel, playing (phone)');
  await screenshot(bob, 'dj-playing-phone');
  await bob.getByTestId('dj-expand').click();
  await screenshot(bob, 'dj-playing-phone-folded');
  await bob.getByTestId('dj-expand').click();
});

test('pause, volume and skip from one page show on both', async () => {
  await bob.getByTestId('dj-toggle').click();
  for (const p of [admin, bob]) {
    await expect(panel(p)).toHaveAttribute('data-state', 'paused');
    await expect(panel(p).getByTestId('dj-state')).toHaveText('Paused');
    await expect(panel(p).getByTestId('dj-toggle')).toHaveAttribute('data-action', 'resume');
  }
  await admin.getByTestId('dj-toggle').click();
  for (const p of [admin, bob]) await expect(panel(p)).toHaveAttribute('data-state', 'playing');

  await admin.getByTestId('dj-volume').fill('80');
  await expect(bob.getByTestId('dj-volume-value')).toHaveText('80%');
  await expect(bob.getByTestId('dj-volume')).toHaveValue('80');

  await admin.getByTestId('dj-skip').click();
  for (const p of [admin, bob]) {
    await expect(panel(p).getByTestId('dj-title')).toHaveText(SECOND, { timeout: 20_000 });
    await expect(panel(p).getByTestId('dj-queue-entry')).toHaveCount(0);
  }
});

test('a private answer shows only for its sender, and can be dismissed', async () => {
  await bob.getByTestId('show-chat').click();
  await send(bob, '!volume 999');
  const mine = bob.getByTestId('dj-reply').and(bob.locator('[data-private="true"]'));
  await expect(mine).toBeVisible();
  await expect(mine).toContainText('Only you can see this');
  // The list follows it to the bottom, as it does a message.
  await expect(mine).toBeInViewport();
  // The command itself is a chat message everyone sees; the answer is not.
  await expect(messages(admin, '!volume 999')).toBeVisible();
  await admin.waitForTimeout(1500);
  await expect(admin.locator('[data-testid="dj-reply"][data-private="true"]')).toHaveCount(0);
  // 999 was refused: the volume stays.
  await expect(bob.getByTestId('dj-volume')).toHaveValue('80');
  await axe(bob, 'the room chat with a private DJ answer (phone)');
  await screenshot(bob, 'dj-private-reply-phone');
  await mine.getByTestId('dj-reply-dismiss').click();
  await expect(mine).toHaveCount(0);
  await bob.getByTestId('show-room').click();
});

test('the DJ muted for one listener, and for the room by a moderator', async () => {
  await bob.getByTestId('dj-mute-mine').click();
  await expect(bob.getByTestId('dj-mute-mine')).toHaveAttribute('aria-pressed', 'true');
  expect(await bob.evaluate(() => (document.querySelector('audio[data-dj="true"]') as HTMLAudioElement | null)?.muted)).toBe(true);
  // Remembered on this device.
  expect(await bob.evaluate(() => JSON.parse(localStorage.getItem('spot.voice') ?? '{}').djMuted)).toEqual({ [roomId]: true });
  // The admin still hears it.
  expect(await admin.evaluate(() => (document.querySelector('audio[data-dj="true"]') as HTMLAudioElement | null)?.muted)).toBe(false);
  await bob.getByTestId('dj-mute-mine').click();
  await expect(bob.getByTestId('dj-mute-mine')).toHaveAttribute('aria-pressed', 'false');

  // Bob is no moderator: no room-wide mute for him.
  await expect(bob.getByTestId('dj-mute-room')).toHaveCount(0);
  await admin.getByTestId('dj-mute-room').click();
  for (const p of [admin, bob]) await expect(p.getByTestId('room-tile-dj')).toHaveAttribute('data-muted', 'true');
  await expect(admin.getByTestId('voice-occupant-dj')).toContainText('muted');
  await admin.getByTestId('dj-mute-room').click();
  for (const p of [admin, bob]) await expect(p.getByTestId('room-tile-dj')).toHaveAttribute('data-muted', 'false');

  await admin.getByTestId('dj-stop').click();
  for (const p of [admin, bob]) await expect(panel(p)).not.toHaveAttribute('data-state', 'playing');
  expect(pageErrors).toEqual([]);
});

test('deleting a track asks first, and it leaves every open library', async () => {
  for (const p of [admin, bob]) {
    await p.getByTestId('dj-library-open').click();
    await expect(library(p).getByTestId('library-track')).toHaveCount(2);
  }
  // Bob neither uploaded them nor moderates: no delete for him.
  await expect(library(bob).getByTestId('library-delete')).toHaveCount(0);
  await library(admin).getByTestId('library-track').filter({ hasText: FIRST }).getByTestId('library-delete').click();
  const confirm = admin.getByRole('dialog', { name: 'Delete this track?' });
  await expect(confirm).toBeVisible();
  await confirm.getByRole('button', { name: 'Delete' }).click();
  for (const p of [admin, bob]) {
    await expect(library(p).getByTestId('library-track')).toHaveCount(1);
    await expect(library(p).getByTestId('library-track')).toContainText(SECOND);
    await expect(library(p).getByTestId('library-count')).toHaveText('1 track');
  }
  expect(pageErrors).toEqual([]);
});
