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

async function newPage(browser: Browser, init?: () => void): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  ctxs.push(ctx);
  if (init) await ctx.addInitScript(init);
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

/**
 * Runs in a page before the app does: that browser is on a network that blocks UDP. No UDP
 * candidate crosses the signalling either way (the SDP both ways and trickled candidates), so
 * neither side can ever send the other a UDP packet and no UDP candidate pair can form: ICE has
 * to use the box's passive TCP candidates (ICE-TCP) or fail.
 */
function udpBlocked(): void {
  const isUdp = (line: string) => /^(a=)?candidate:\S+ \d+ udp /i.test(line.trim());
  const strip = (sdp: string) =>
    sdp
      .split('\r\n')
      .filter((l) => !isUdp(l))
      .join('\r\n');
  type SetRemote = (this: RTCPeerConnection, d?: RTCSessionDescriptionInit) => Promise<void>;
  const setRemote = RTCPeerConnection.prototype.setRemoteDescription as SetRemote;
  RTCPeerConnection.prototype.setRemoteDescription = function (this: RTCPeerConnection, d?: RTCSessionDescriptionInit) {
    return setRemote.call(this, d?.sdp ? { type: d.type, sdp: strip(d.sdp) } : d);
  } as SetRemote as typeof RTCPeerConnection.prototype.setRemoteDescription;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (this: WebSocket, data: string | ArrayBufferLike | Blob | ArrayBufferView) {
    if (typeof data === 'string' && data.includes('"voice.')) {
      const f = JSON.parse(data) as { op?: string; d?: { sdp?: unknown; candidate?: unknown } };
      if (f.op === 'request' && f.d) {
        if (typeof f.d.sdp === 'string') f.d.sdp = strip(f.d.sdp);
        if (typeof f.d.candidate === 'string' && isUdp(f.d.candidate)) f.d.candidate = '';
        data = JSON.stringify(f);
      }
    }
    return send.call(this, data);
  };
}

interface Path {
  /** 'succeeded', or 'in-progress' while a consent check is out. */
  state: string;
  /** STUN checks the box answered on this pair. */
  responses: number;
  rttMs: number;
  local: string;
  remote: string;
  remotePort: number;
  udpPairs: number;
}

/** The candidate pair this page's media uses (the transport's selected pair). */
async function mediaPath(page: Page): Promise<Path | null> {
  return page.evaluate(async () => {
    const v = (window as unknown as { __spotVoice?: { pc: RTCPeerConnection } }).__spotVoice;
    if (!v) return null;
    const byId = new Map<string, Record<string, unknown>>();
    (await v.pc.getStats()).forEach((s: Record<string, unknown>) => byId.set(String(s.id), s));
    let pairId = '';
    let udpPairs = 0;
    for (const s of byId.values()) {
      if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pairId = s.selectedCandidatePairId;
      if (s.type === 'candidate-pair' && byId.get(String(s.localCandidateId))?.protocol === 'udp') udpPairs++;
    }
    const pair = byId.get(pairId);
    if (!pair) return null;
    const l = byId.get(String(pair.localCandidateId));
    const r = byId.get(String(pair.remoteCandidateId));
    return {
      state: String(pair.state),
      responses: Number(pair.responsesReceived ?? 0),
      rttMs: Number(pair.currentRoundTripTime ?? NaN) * 1000,
      local: String(l?.protocol),
      remote: String(r?.protocol),
      remotePort: Number(r?.port),
      udpPairs,
    };
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

test('the admin edits a voice room\'s user limit; a full room refuses the next person', async () => {
  // A second tab, so the admin's own voice session (in the first) is not disturbed.
  const tab = await pages.admin.context().newPage();
  await tab.goto(daemon.url + '/admin/channels');
  const card = tab.getByTestId('admin-channel').filter({ has: tab.getByRole('button', { name: `Move #${ROOM} up` }) });
  await card.getByLabel('User limit').fill('2');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(tab.getByText(`Saved #${ROOM}.`)).toBeVisible();
  await tab.reload();
  await expect(card.getByLabel('User limit')).toHaveValue('2');
  // Admin and Bob are still in the room: Carol is the third, and the box says no.
  await pages.carol.getByTestId('voice-room').filter({ hasText: ROOM }).getByTestId('voice-join').click();
  await expect(pages.carol.getByTestId('voice-error')).toContainText('full');
  await expect(occupants(pages.admin)).toHaveCount(2);
  // Back to no limit: she gets in.
  await card.getByLabel('User limit').fill('0');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(tab.getByText(`Saved #${ROOM}.`)).toBeVisible();
  await pages.carol.getByTestId('voice-room').filter({ hasText: ROOM }).getByTestId('voice-join').click();
  await expect(pages.carol.getByTestId('voice-panel')).toContainText('Voice connected', { timeout: 20_000 });
  await expect(occupants(pages.admin)).toHaveCount(3);
  await pages.carol.getByTestId('voice-leave').click();
  await expect(occupants(pages.admin)).toHaveCount(2);
  await tab.close();
});

test('on a network that blocks UDP, voice falls back to TCP on the same port number', async ({ browser }) => {
  const ATTIC = 'attic';
  const tab = await pages.admin.context().newPage();
  await tab.goto(daemon.url + '/admin/channels');
  await tab.getByLabel('Name', { exact: true }).first().fill(ATTIC);
  await tab.getByLabel('Kind').selectOption('voice');
  await tab.getByRole('button', { name: 'Create channel' }).click();
  // The admin, still in the first room, reaches the box over UDP: that is the voice port.
  const udpPath = await mediaPath(pages.admin);
  expect(udpPath).toMatchObject({ local: 'udp', remote: 'udp' });
  const udpPort = udpPath!.remotePort;

  const tcp: Record<string, Page> = {};
  for (const n of ['dave', 'erin']) {
    tcp[n] = await newPage(browser, udpBlocked);
    const link = await createInvite(tab, daemon.url);
    await acceptInvite(tcp[n], link.replace(/^https?:\/\/[^/]+/, daemon.url), n, n[0].toUpperCase() + n.slice(1), `${n}-password-123`);
    ids[n] = await tcp[n].evaluate(async () => {
      const j = (await (await fetch('/api/me')).json()) as { user?: { id: string }; id?: string };
      return String(j.user?.id ?? j.id);
    });
  }
  await tab.close();
  for (const page of Object.values(tcp)) {
    await page.getByTestId('voice-room').filter({ hasText: ATTIC }).getByTestId('voice-join').click();
    await expect(page.getByTestId('voice-panel')).toContainText('Voice connected', { timeout: 30_000 });
  }
  for (const [n, page] of Object.entries(tcp)) {
    const other = n === 'dave' ? 'erin' : 'dave';
    await expect
      .poll(async () => ((await inbound(page))[ids[other]]?.packets ?? 0) > 20, {
        timeout: 30_000,
        message: `${n} receives ${other}'s audio`,
      })
      .toBe(true);
    const path = await mediaPath(page);
    expect(path, `${n}: media path`).not.toBeNull();
    // Both ends of the pair carrying the media are TCP; the box's end is the voice port number,
    // and it answers the browser's ICE checks there.
    expect(path).toMatchObject({ local: 'tcp', remote: 'tcp', remotePort: udpPort, udpPairs: 0 });
    expect(['succeeded', 'in-progress']).toContain(path!.state);
    expect(path!.responses, `${n}: ICE checks answered over TCP`).toBeGreaterThan(0);
    console.log(`${n}: over TCP, ${path!.responses} checks answered, RTT ${path!.rttMs.toFixed(1)} ms`);
    const a = await inbound(page);
    await page.waitForTimeout(1000);
    const b = await inbound(page);
    expect(b[ids[other]].packets, `${n}: packets from ${other} keep coming over TCP`).toBeGreaterThan(a[ids[other]].packets + 20);
    expect(b[ids[other]].bytes).toBeGreaterThan(a[ids[other]].bytes);
    // The panel says so.
    await expect(page.getByTestId('voice-quality')).toContainText('TCP', { timeout: 10_000 });
  }
  await screenshot(tcp.dave, 'voice-tcp');
  for (const page of Object.values(tcp)) await page.getByTestId('voice-leave').click();
  expect(pageErrors).toEqual([]);
});
