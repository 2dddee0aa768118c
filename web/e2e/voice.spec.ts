import { chromiumArgs, chromiumPath } from './chromium';
import { test, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type Daemon } from './daemon';
import { acceptInvite, createInvite, login, screenshot } from './helpers';

// Three real Chromium users in one voice room through the daemon's SFU. Chromium's fake capture
// device plays a generated tone, so every microphone "speaks".

/**
 * A 48 kHz mono 16-bit WAV that Chromium loops as the microphone: a warbling, pulsing tone.
 * A steady sine would not do: the browser's noise suppression learns it as noise and fades it.
 */
function toneWav(file: string, seconds = 4): void {
  const rate = 48000;
  const n = rate * seconds;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVE', 8);
  buf.write('fmt ', 12);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const freq = 330 + 150 * Math.sin(2 * Math.PI * 1.3 * t); // vibrato, like a voice
    phase += (2 * Math.PI * freq) / rate;
    const envelope = 0.55 + 0.45 * Math.sin(2 * Math.PI * 3 * t); // syllables, never silent
    buf.writeInt16LE(Math.round(Math.sin(phase) * envelope * 14000), 44 + i * 2);
  }
  writeFileSync(file, buf);
}

const WAV = path.join(os.tmpdir(), `spot-e2e-tone-${process.pid}.wav`);
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
let daemon: Daemon;
const ctxs: BrowserContext[] = [];
const pages: Record<string, Page> = {};
const ids: Record<string, string> = {};
const pageErrors: string[] = [];

async function newPage(browser: Browser): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  ctxs.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return page;
}

interface Inbound {
  user: string;
  packets: number;
  bytes: number;
  level: number;
}

/** Inbound audio per remote user, from this page's RTCPeerConnection.getStats(). */
async function inbound(page: Page): Promise<Record<string, Inbound>> {
  return page.evaluate(async () => {
    const v = (window as unknown as { __spotVoice?: { pc: RTCPeerConnection; mids: Record<string, string> } }).__spotVoice;
    const out: Record<string, { user: string; packets: number; bytes: number; level: number }> = {};
    if (!v) return out;
    const stats = await v.pc.getStats();
    stats.forEach((s: Record<string, unknown>) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
      const user = v.mids[String(s.mid)] ?? `mid${String(s.mid)}`;
      out[user] = {
        user,
        packets: Number(s.packetsReceived ?? 0),
        bytes: Number(s.bytesReceived ?? 0),
        level: Number(s.audioLevel ?? 0),
      };
    });
    return out;
  });
}

function occupants(page: Page) {
  return page.getByTestId('voice-room').filter({ hasText: ROOM }).getByTestId('voice-occupant');
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

test('the admin makes a voice room; friends see it in the sidebar', async () => {
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
  for (const p of Object.values(pages)) {
    await expect(p.getByTestId('voice-room').filter({ hasText: ROOM })).toBeVisible();
  }
  for (const n of Object.keys(pages)) {
    ids[n] = await pages[n].evaluate(async () => {
      const r = await fetch('/api/me');
      const j = (await r.json()) as { user?: { id: string }; id?: string };
      return String(j.user?.id ?? j.id);
    });
  }
});

test('three people join through the UI and hear each other', async () => {
  for (const n of ['admin', 'bob', 'carol']) {
    await pages[n].getByTestId('voice-room').filter({ hasText: ROOM }).getByTestId('voice-join').click();
    await expect(pages[n].getByTestId('voice-panel')).toContainText('Voice connected', { timeout: 20_000 });
  }
  // Everyone, including someone looking from outside, sees three occupants.
  for (const p of Object.values(pages)) await expect(occupants(p)).toHaveCount(3);

  for (const [n, page] of Object.entries(pages)) {
    const others = Object.keys(pages).filter((o) => o !== n);
    await expect
      .poll(async () => {
        const s = await inbound(page);
        return others.every((o) => (s[ids[o]]?.packets ?? 0) > 20 && (s[ids[o]]?.level ?? 0) > 0);
      }, { timeout: 20_000, message: `${n} receives audio from ${others.join(', ')}` })
      .toBe(true);
    // Over one second: packets and bytes grow, and the level (a momentary value) is above
    // zero at some sample.
    const a = await inbound(page);
    const maxLevel: Record<string, number> = {};
    let b = a;
    for (let k = 0; k < 5; k++) {
      await page.waitForTimeout(200);
      b = await inbound(page);
      for (const o of others) maxLevel[o] = Math.max(maxLevel[o] ?? 0, b[ids[o]]?.level ?? 0);
    }
    for (const o of others) {
      expect(b[ids[o]].packets, `${n}: packets from ${o} keep coming`).toBeGreaterThan(a[ids[o]].packets + 20);
      expect(b[ids[o]].bytes).toBeGreaterThan(a[ids[o]].bytes);
      expect(maxLevel[o], `${n}: audio level from ${o}`).toBeGreaterThan(0);
    }
    expect(Object.keys(b)).not.toContain(ids[n]);
  }
  // The tone is loud: speaking rings light up for everyone, on every page.
  for (const p of Object.values(pages)) {
    await expect(occupants(p).and(p.locator('[data-speaking="true"]'))).toHaveCount(3, { timeout: 10_000 });
  }
  await expect(pages.admin.getByTestId('voice-quality')).toBeVisible({ timeout: 10_000 });
  await screenshot(pages.admin, 'voice-room');
});

test('mute stops the others receiving that person', async () => {
  await pages.bob.getByTestId('voice-mute').click();
  await expect(occupants(pages.admin).filter({ hasText: 'Bob' })).toHaveAttribute('data-speaking', 'false');
  await pages.admin.waitForTimeout(500);
  for (const n of ['admin', 'carol']) {
    const a = await inbound(pages[n]);
    await pages[n].waitForTimeout(1500);
    const b = await inbound(pages[n]);
    expect(b[ids.bob].packets - a[ids.bob].packets, `${n} gets nothing from muted bob`).toBeLessThanOrEqual(2);
    const other = n === 'admin' ? 'carol' : 'admin';
    expect(b[ids[other]].packets).toBeGreaterThan(a[ids[other]].packets + 20);
  }
  await pages.bob.getByTestId('voice-mute').click();
  await expect
    .poll(async () => (await inbound(pages.admin))[ids.bob].packets, { timeout: 10_000 })
    .toBeGreaterThan((await inbound(pages.admin))[ids.bob].packets + 20);
});

test('leaving removes the person everywhere', async () => {
  await pages.carol.getByTestId('voice-leave').click();
  for (const p of Object.values(pages)) {
    await expect(occupants(p)).toHaveCount(2);
    await expect(occupants(p).filter({ hasText: 'Carol' })).toHaveCount(0);
  }
  await expect(pages.carol.getByTestId('voice-panel')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});
