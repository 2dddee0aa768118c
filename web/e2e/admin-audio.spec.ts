import { chromiumArgs, chromiumPath } from './chromium';
import { test, expect, type Browser, type BrowserContext, type Locator, type Page } from '@playwright/test';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type Daemon } from './daemon';
import { axe } from './axe';
import { ok } from './admin-helpers';
import { wav } from './wav';
import { login, screenshot, send } from './helpers';

// Admin → Audio (the box's own speaker) and Admin → Music (every room's DJ) against the real
// daemon, on a desktop and a phone. This machine has no sound hardware: the audio page's empty
// state speaks the box's report, an output typed by hand is waited for, and its test tone fails
// in words. The DJ settings survive a reload, a bad value is refused next to its field, and a
// text channel chosen for commands gets the DJ's answers (not in a room: "join a room first").

const MIC = path.join(os.tmpdir(), `spot-e2e-admin-audio-mic-${process.pid}.wav`);
writeFileSync(MIC, wav(0, 2));

test.use({
  launchOptions: {
    executablePath: chromiumPath,
    args: [...chromiumArgs, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${MIC}`],
  },
});
test.describe.configure({ mode: 'serial' });

const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
const BOB_PW = 'bob-audio-password-1';
const DAC = 'hw:CARD=Dac,DEV=0';
let daemon: Daemon;
const ctxs: BrowserContext[] = [];
let admin: Page;
let phone: Page;
let bob: Page;
let requests = '';
let lounge = '';
const pageErrors: string[] = [];

async function newPage(browser: Browser, isPhone: boolean): Promise<Page> {
  const ctx = await browser.newContext(isPhone ? { viewport: PHONE, hasTouch: true, isMobile: true } : { viewport: DESKTOP });
  ctxs.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return page;
}

/** A screenshot of the admin page from its top (the page scrolls inside its own box), or with `at` in view. */
async function shot(p: Page, name: string, at?: Locator): Promise<void> {
  if (at) await at.scrollIntoViewIfNeeded();
  else await p.locator('main .page').evaluate((e) => e.scrollTo(0, 0));
  await screenshot(p, name);
}

const adminNav = (p: Page) => p.getByRole('navigation', { name: 'Admin pages' });

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  admin = await newPage(browser, false);
  phone = await newPage(browser, true);
  bob = await newPage(browser, true);
  await login(admin, daemon.url, daemon.adminUser, daemon.adminPassword);
  await login(phone, daemon.url, daemon.adminUser, daemon.adminPassword);
  requests = (await ok<{ id: string }>(admin, 'POST', '/api/channels', { name: 'requests', topic: 'Ask the DJ' })).id;
  lounge = (await ok<{ id: string }>(admin, 'POST', '/api/channels', { name: 'lounge', kind: 'voice' })).id;
  await ok(admin, 'POST', '/api/admin/users', { username: 'bob', password: BOB_PW, role: 'member' });
  await login(bob, daemon.url, 'bob', BOB_PW);
});

test.afterAll(async () => {
  for (const c of ctxs) await c.close();
  await daemon?.dispose();
});

test.afterEach(async ({}, info) => {
  if (info.status !== info.expectedStatus && daemon) {
    await info.attach('daemon-log', { body: daemon.log.join('').slice(-20_000), contentType: 'text/plain' });
  }
  expect(pageErrors, 'no page errors').toEqual([]);
});

test('Admin → Audio on a box without sound hardware: the empty state in the report\'s words, in two taps on a phone', async () => {
  // Desktop: the sidebar's Admin, then Audio.
  await admin.goto(daemon.url + '/admin');
  await adminNav(admin).getByRole('link', { name: 'Audio', exact: true }).click();
  await expect(admin).toHaveURL(/\/admin\/audio$/);
  await expect(adminNav(admin).getByRole('link', { name: 'Audio', exact: true })).toHaveAttribute('aria-current', 'page');

  // Phone: from the channel list, two taps.
  await phone.goto(daemon.url + '/');
  await phone.getByRole('navigation', { name: 'Channels and pages' }).getByRole('link', { name: 'Admin', exact: true }).tap();
  await adminNav(phone).getByRole('link', { name: 'Audio', exact: true }).tap();
  await expect(phone).toHaveURL(/\/admin\/audio$/);

  for (const [p, tag] of [
    [admin, 'desktop'],
    [phone, 'phone'],
  ] as const) {
    const empty = p.getByTestId('audio-empty');
    await expect(empty).toContainText('No sound card found: ALSA lists no cards');
    await expect(empty).toContainText('dtparam=audio=on');
    await expect(empty).toContainText('Plug a USB DAC');
    await expect(empty.locator('code').first()).toBeVisible();
    await expect(p.getByTestId('speaker-state')).toHaveText('Off: the box does not play out loud.');
    // The typed output (advanced) is there without any card.
    await expect(p.getByLabel('Output (advanced: its ALSA name)')).toBeVisible();
    // The report for support, folded, with a copy button.
    const report = p.getByTestId('audio-report');
    await expect(report.locator('pre')).toBeHidden();
    await report.getByText('Details for support').click();
    await expect(report.locator('pre')).toContainText('no sound card found');
    await expect(report.getByRole('button', { name: 'Copy' })).toBeVisible();
    await axe(p, `Admin → Audio, no sound card (${tag})`);
    await shot(p, `admin-audio-${tag}-empty`);
    await shot(p, `admin-audio-${tag}-empty-form`, p.getByTestId('audio-form'));
  }
});

test('switching the speaker on without an output is refused in words next to the output', async () => {
  await admin.getByText("Play the DJ out of the box's own speaker").click();
  await expect(admin.getByRole('switch', { name: "Play the DJ out of the box's own speaker" })).toBeChecked();
  await admin.getByTestId('audio-save').click();
  const err = admin.getByTestId('audio-error-output');
  await expect(err).toHaveText('Choose the output to play on before switching it on.');
  await expect(admin.getByLabel('Output (advanced: its ALSA name)')).toHaveAttribute('aria-describedby', /audio-err-output/);
  await axe(admin, 'Admin → Audio, refused (desktop)');
  await screenshot(admin, 'admin-audio-desktop-no-device');
});

test('an output typed by hand is saved and waited for; its test tone fails in words', async () => {
  await admin.getByLabel('Output (advanced: its ALSA name)').fill(DAC);
  await admin.getByLabel('Volume control').selectOption({ label: "Software (never touch the card's mixer)" });
  await admin.getByLabel('Voice room that plays out of the box').selectOption({ label: 'lounge' });
  await admin.getByTestId('audio-save').click();
  await expect(admin.getByTestId('audio-error-output')).toHaveCount(0);
  await expect(admin.getByTestId('audio-save')).toBeDisabled();
  // The poll brings the speaker's state: the device is not there, so the box waits for it.
  const state = admin.getByTestId('speaker-state');
  await expect(state).toContainText('Waiting for the device:', { timeout: 15_000 });
  await expect(state).toContainText('The box keeps trying');
  await expect(admin.getByTestId('speaker-status')).toContainText(DAC);
  await expect(admin.getByTestId('speaker-status')).toContainText('lounge');
  await expect(admin.getByTestId('speaker-reopens')).toHaveText(/^\d+/);

  // The test tone on the chosen (missing) output.
  await admin.getByTestId('speaker-tone').click();
  const result = admin.getByTestId('speaker-tone-result');
  await expect(result).toContainText(`The output ${DAC} cannot play`, { timeout: 15_000 });
  await expect(result).toHaveAttribute('role', 'alert');
  await axe(admin, 'Admin → Audio, waiting for the device (desktop)');
  await shot(admin, 'admin-audio-desktop-waiting');

  // On the phone, after a reload: the same settings, and trying another output before choosing it.
  await phone.reload();
  await expect(phone.getByLabel('Output (advanced: its ALSA name)')).toHaveValue(DAC);
  await expect(phone.getByLabel('Voice room that plays out of the box')).toHaveValue(lounge);
  await expect(phone.getByTestId('speaker-state')).toContainText('Waiting for the device:', { timeout: 15_000 });
  await phone.getByLabel('Output (advanced: its ALSA name)').fill('hw:CARD=Nope,DEV=0');
  await phone.getByTestId('audio-test-typed').tap();
  await expect(phone.getByTestId('audio-typed-result')).toContainText('The output hw:CARD=Nope,DEV=0 cannot play', { timeout: 15_000 });
  await expect(phone.getByText('Unsaved changes')).toBeVisible();
  await axe(phone, 'Admin → Audio, waiting for the device (phone)');
  await shot(phone, 'admin-audio-phone-waiting', phone.getByTestId('audio-typed-result'));
});

test('a member cannot reach either page: the box says only an admin can', async () => {
  await bob.goto(daemon.url + '/');
  await expect(bob.getByRole('navigation', { name: 'Channels and pages' }).getByRole('link', { name: 'Admin', exact: true })).toHaveCount(0);
  await bob.goto(daemon.url + '/admin/audio');
  await expect(bob.getByTestId('audio-load-error')).toHaveText("Could not read the box's audio: Only an admin can do this.");
  await expect(adminNav(bob)).toHaveCount(0);
  await expect(bob.getByTestId('audio-form')).toHaveCount(0);
  await axe(bob, 'Admin → Audio as a member (phone)');
  await screenshot(bob, 'admin-audio-phone-member');
  await bob.goto(daemon.url + '/admin/music');
  await expect(bob.getByTestId('music-load-error')).toHaveText('Could not read the DJ settings: Only an admin can do this.');
  await expect(bob.getByTestId('dj-settings')).toHaveCount(0);
});

test('Admin → Music: votes and the per-person limit are saved and still there after a reload', async () => {
  await adminNav(admin).getByRole('link', { name: 'Music', exact: true }).click();
  await expect(admin.getByRole('heading', { level: 1, name: 'Music' })).toBeVisible();
  const vote = admin.getByLabel('Votes needed to skip a track');
  await expect(vote).toHaveValue('50');
  await expect(admin.getByLabel('Longest track')).toHaveValue('180');
  await axe(admin, 'Admin → Music (desktop)');
  await shot(admin, 'admin-music-desktop');

  await vote.fill('75');
  await expect(admin.getByText('In a room of 4, 3 votes skip; in a room of 10, 8.')).toBeVisible();
  await admin.getByLabel('Tracks one person may have in the queue').fill('3');
  await admin.getByLabel('No limit').check();
  await expect(admin.getByText('Unsaved changes')).toBeVisible();
  await admin.getByTestId('dj-save').click();
  await expect(admin.getByTestId('dj-save')).toBeDisabled();
  await admin.reload();
  await expect(admin.getByLabel('Votes needed to skip a track')).toHaveValue('75');
  await expect(admin.getByLabel('Tracks one person may have in the queue')).toHaveValue('3');
  await expect(admin.getByLabel('No limit')).toBeChecked();
  const saved = await ok<{ settings: { config: { vote_ratio: number; per_user_limit: number; max_track_ms: number | null } } }>(admin, 'GET', '/api/admin/dj');
  expect(saved.settings.config).toMatchObject({ vote_ratio: 0.75, per_user_limit: 3, max_track_ms: null });
});

test('Admin → Music: a bad value is refused in words next to its field; reset to defaults', async () => {
  const results = admin.getByLabel('Search results shown');
  await results.fill('40');
  await admin.getByTestId('dj-save').click();
  const err = admin.getByTestId('dj-error-searchResults');
  await expect(err).toHaveText('Must be from 1 to 25.');
  await expect(results).toHaveAttribute('aria-invalid', 'true');
  await expect(results).toHaveAttribute('aria-describedby', /dj-err-searchResults/);
  // The box's unit (0–1) said in the page's (percent).
  await results.fill('5');
  await admin.getByLabel('Votes needed to skip a track').fill('0');
  await admin.getByTestId('dj-save').click();
  await expect(admin.getByTestId('dj-error-votePercent')).toHaveText('Must be more than 0 % and at most 100 %.');
  await expect(admin.getByTestId('dj-error-searchResults')).toHaveCount(0);
  // Not a number: refused before it leaves the page.
  await admin.getByLabel('Longest queue').fill('lots');
  await admin.getByTestId('dj-save').click();
  await expect(admin.getByTestId('dj-error-maxQueue')).toHaveText('Enter a whole number, 0 or more.');
  await axe(admin, 'Admin → Music, refused (desktop)');
  await shot(admin, 'admin-music-desktop-refused', admin.getByTestId('dj-error-maxQueue'));

  await admin.getByTestId('dj-reset').click();
  await expect(admin.getByLabel('Votes needed to skip a track')).toHaveValue('50');
  await expect(admin.getByLabel('Tracks one person may have in the queue')).toHaveValue('25');
  await expect(admin.getByLabel('Longest queue')).toHaveValue('500');
  await expect(admin.getByTestId('dj-error-maxQueue')).toHaveCount(0);
  // Back to what was saved.
  await admin.reload();
  await expect(admin.getByLabel('Votes needed to skip a track')).toHaveValue('75');
});

test('a text channel chosen for DJ commands: its answers show there, and "join a voice room first" when not in one', async () => {
  // The phone admin chooses #requests.
  await phone.goto(daemon.url + '/admin');
  await adminNav(phone).getByRole('link', { name: 'Music', exact: true }).tap();
  const channels = phone.getByTestId('dj-channels');
  await expect(channels.getByLabel('#general')).not.toBeChecked();
  await channels.getByLabel('#requests').check();
  await phone.getByTestId('dj-save').tap();
  await expect(phone.getByTestId('dj-save')).toBeDisabled();
  await axe(phone, 'Admin → Music (phone)');
  await shot(phone, 'admin-music-phone');
  await shot(phone, 'admin-music-phone-channels', channels);
  await phone.reload();
  await expect(phone.getByTestId('dj-channels').getByLabel('#requests')).toBeChecked();

  // Bob, in no voice room, types a command in #requests: only he hears the DJ's answer.
  await bob.goto(`${daemon.url}/channels/${requests}`);
  await expect(bob.getByRole('heading', { level: 1, name: 'requests' })).toBeVisible();
  await admin.goto(`${daemon.url}/channels/${requests}`);
  await expect(admin.getByRole('heading', { level: 1, name: 'requests' })).toBeVisible();
  await send(bob, '!np');
  const mine = bob.getByTestId('dj-reply').and(bob.locator('[data-private="true"]'));
  await expect(mine.getByTestId('dj-reply-text')).toHaveText('Join a voice room first: the DJ plays in the room you are in.');
  await expect(mine).toContainText('Only you can see this');
  await expect(admin.getByTestId('dj-reply')).toHaveCount(0);
  await axe(bob, 'a DJ answer in a text channel (phone)');
  await screenshot(bob, 'admin-music-phone-reply-not-in-room');
  // A line that is no command gets no answer.
  await send(bob, 'does the DJ take requests?');
  await expect(bob.getByTestId('dj-reply')).toHaveCount(1);
  await mine.getByTestId('dj-reply-dismiss').tap();
  await expect(bob.getByTestId('dj-reply')).toHaveCount(0);

  // In the voice room, the same command reaches the room's DJ, who answers in #requests.
  await bob.goto(`${daemon.url}/channels/${lounge}`);
  await bob.getByTestId('room-join').tap();
  await expect(bob.getByTestId('room-status')).toHaveText('You are in this room', { timeout: 20_000 });
  await bob.getByRole('button', { name: 'Back to channels' }).first().tap();
  await bob.getByTestId('channel-list').getByRole('link', { name: 'requests' }).tap();
  await expect(bob.getByRole('heading', { level: 1, name: 'requests' })).toBeVisible();
  await send(bob, '!np');
  await expect(bob.getByTestId('dj-reply-text')).toHaveText(/Nothing is playing/, { timeout: 15_000 });
  await expect(admin.getByTestId('dj-reply')).toHaveCount(0);
  await screenshot(bob, 'admin-music-phone-reply-in-room');
});

test('the music library opens from Admin → Music: no play buttons, and the admin deletes a member\'s track', async () => {
  // Bob uploads a track (the library's own route, from his page).
  const bytes = [...wav(440, 3)];
  const up = await bob.evaluate(async (b) => {
    const me = await (await fetch('/api/me')).json();
    const r = await fetch('/api/music/tracks', {
      method: 'POST',
      headers: { 'Content-Type': 'audio/wav', 'X-Filename': encodeURIComponent('Bob Tune.wav'), 'X-CSRF-Token': me.csrf_token },
      body: new Uint8Array(b),
    });
    return { status: r.status, body: await r.text() };
  }, bytes);
  expect(up.status, up.body).toBeLessThan(300);

  await admin.goto(daemon.url + '/admin/music');
  await admin.getByTestId('music-library-open').click();
  const lib = admin.getByTestId('music-library');
  await expect(lib).toBeVisible();
  const track = lib.getByTestId('library-track').filter({ hasText: 'Bob Tune' });
  await expect(track).toHaveCount(1);
  await expect(lib.getByTestId('library-play')).toHaveCount(0);
  await axe(admin, 'Admin → Music, the library (desktop)');
  await screenshot(admin, 'admin-music-desktop-library');
  await track.getByTestId('library-delete').click();
  const confirm = admin.getByRole('dialog', { name: 'Delete this track?' });
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await expect(lib.getByTestId('library-count')).toHaveText('The library is empty. Upload music to start.');
  await lib.getByRole('button', { name: 'Close the library' }).click();
  await expect(lib).toBeHidden();
});
