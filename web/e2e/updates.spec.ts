import { test, expect, type Page } from '@playwright/test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spotBin, startDaemon, type Daemon } from './daemon';
import { login, screenshot } from './helpers';

// Admin → Updates in Chromium against the real daemon and the real spot-helper, its slots
// image files and its boot partition a directory (RAUC-style faked hardware). Bundles and keys
// come from the real release tool (spot-ota). Upload with a progress bar, a refused bundle in
// words, the restart, and after it (the helper started again on the new slot) the commit.
test.describe.configure({ mode: 'serial' });

const bin = (name: string) => process.env[`SPOT_${name.replace('-', '_').toUpperCase()}_BIN`] || path.join(path.dirname(spotBin()), name);
let root: string;
let daemon: Daemon;
let helper: ChildProcess | null = null;
let admin: Page;
let feedServer: http.Server | null = null;
let feedPort = 0;
const sock = () => path.join(root, 'helper.sock');

function run(name: string, args: string[]): string {
  const r = spawnSync(bin(name), args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

function randomFile(p: string, bytes: number) {
  const b = Buffer.alloc(bytes);
  randomFillSync(b);
  writeFileSync(p, b);
}

async function startHelper(slot: 'A' | 'B', version: string) {
  writeFileSync(path.join(root, 'cmdline'), `root=PARTUUID=beef-02 ro spot.slot=${slot}`);
  rmSync(sock(), { force: true });
  helper = spawn(bin('spot-helper'), ['serve', '--simulate', path.join(root, 'sim.json')], {
    stdio: 'ignore',
    env: {
      ...process.env,
      SPOT_HELPER_SOCKET: sock(),
      SPOT_HELPER_STATE: path.join(root, 'system'),
      SPOT_HELPER_ZONEINFO: '/usr/share/zoneinfo',
      SPOT_HELPER_BOOT: path.join(root, 'boot'),
      SPOT_HELPER_OTA_SLOTS: `${path.join(root, 'slot-a.img')},${path.join(root, 'slot-b.img')}`,
      SPOT_HELPER_OTA_CMDLINE: path.join(root, 'cmdline'),
      SPOT_HELPER_OTA_INCOMING: path.join(daemon.dataDir, 'ota', 'incoming'),
      SPOT_HELPER_OTA_ROOT: path.join(root, 'feed', 'root.json'),
      SPOT_HELPER_OTA_BOARD: 'qemu-arm64',
      SPOT_HELPER_OTA_VERSION: version,
      SPOT_HELPER_OTA_TIMING: '{"ready_within":60,"healthy_for":6,"beat_gap":12}',
    },
  });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const c = net.connect(sock(), () => (c.end(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('spot-helper did not start');
}

async function stopHelper() {
  const h = helper;
  helper = null;
  if (!h || h.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    h.once('exit', () => resolve());
    h.kill('SIGKILL');
  });
}

test.beforeAll(async ({ browser }) => {
  for (const b of ['spot-helper', 'spot-ota']) {
    if (!existsSync(bin(b))) throw new Error(`${bin(b)} not found: build it with \`cargo build --workspace\``);
  }
  root = mkdtempSync(path.join(os.tmpdir(), 'spot-updates-e2e-'));
  for (const d of ['boot', 'system']) mkdirSync(path.join(root, d));
  randomFile(path.join(root, 'slot-a.img'), 24 << 20);
  writeFileSync(path.join(root, 'slot-b.img'), Buffer.alloc(24 << 20));
  writeFileSync(path.join(root, 'sim.json'), JSON.stringify({ networks: [], ethernet: true }));
  // The release manager's side: keys, the feed's root (what the box trusts), bundles.
  for (const k of ['root', 'targets', 'stranger']) run('spot-ota', ['keygen', k]);
  run('spot-ota', [
    'repo', 'init', 'feed', '--root-key', 'root.key', '--root-pub', 'root.pub', '--targets-pub', 'targets.pub',
    '--snapshot-pub', 'root.pub', '--timestamp-pub', 'root.pub',
  ]);
  randomFile(path.join(root, 'rootfs-v2.img'), 20 << 20);
  run('spot-ota', ['sign', '--key', 'targets.key', '--version', '0.2.0', '--board', 'qemu-arm64', '--notes', 'Faster voice',
    '--image', 'rootfs=rootfs-v2.img', '-o', 'spot-0.2.0.spotota']);
  run('spot-ota', ['sign', '--key', 'stranger.key', '--version', '0.2.0', '--board', 'qemu-arm64',
    '--image', 'rootfs=rootfs-v2.img', '-o', 'stranger.spotota']);
  writeFileSync(path.join(root, 'notes.spotota'), 'these are my notes, not an update\n');
  // A feed with 0.3.0, served over HTTP from this test (a NAS on the LAN, in real life).
  randomFile(path.join(root, 'rootfs-v3.img'), 4 << 20);
  run('spot-ota', ['sign', '--key', 'targets.key', '--version', '0.3.0', '--board', 'qemu-arm64', '--notes', 'Screen sharing fixes',
    '--image', 'rootfs=rootfs-v3.img', '-o', 'spot-0.3.0.spotota']);
  run('spot-ota', ['repo', 'add', 'feed', 'spot-0.3.0.spotota', '--targets-key', 'targets.key', '--snapshot-key', 'root.key',
    '--timestamp-key', 'root.key']);
  feedServer = http.createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, '');
    const file = path.join(root, rel);
    if (rel.includes('..') || !existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => feedServer!.listen(0, '127.0.0.1', () => r()));
  feedPort = (feedServer.address() as net.AddressInfo).port;

  process.env.SPOT_HELPER_SOCKET = sock();
  process.env.SPOT_OTA_ROOT = path.join(root, 'feed', 'root.json');
  try {
    daemon = await startDaemon();
  } finally {
    delete process.env.SPOT_HELPER_SOCKET;
    delete process.env.SPOT_OTA_ROOT;
  }
  await startHelper('A', '0.1.0');
  admin = await (await browser.newContext()).newPage();
  await login(admin, daemon.url, daemon.adminUser, daemon.adminPassword);
});

test.afterAll(async () => {
  await admin?.context().close();
  await stopHelper();
  await daemon?.dispose();
  await new Promise<void>((r) => (feedServer ? feedServer.close(() => r()) : r()));
  if (root && !process.env.SPOT_E2E_KEEP) rmSync(root, { recursive: true, force: true });
});

test('updates: refused files in words, upload with progress, restart, the new version commits', async () => {
  await admin.getByRole('link', { name: 'Admin', exact: true }).click();
  await admin.getByRole('navigation', { name: 'Admin pages' }).getByRole('link', { name: 'Updates' }).click();
  await expect(admin.getByRole('heading', { name: 'Updates' })).toBeVisible();
  await expect(admin.getByTestId('updates-slot-A')).toHaveText('Version 0.1.0 (running now, the box’s system)');
  await expect(admin.getByTestId('updates-slot-B')).toHaveText('Empty');
  await expect(admin.getByTestId('updates-phase')).toContainText('No update in progress');
  await screenshot(admin, 'updates-idle');

  // Not a bundle: refused by the box before anything is stored.
  await admin.getByTestId('updates-file').setInputFiles(path.join(root, 'notes.spotota'));
  await admin.getByTestId('updates-install').click();
  await expect(admin.getByTestId('updates-upload-error')).toHaveText(
    'The update was not uploaded: This file is not a Spot box update bundle (.spotota).',
  );
  // Signed by someone else: the helper refuses it; the history says why.
  await admin.getByTestId('updates-file').setInputFiles(path.join(root, 'stranger.spotota'));
  await admin.getByTestId('updates-install').click();
  const history = admin.getByTestId('updates-history');
  await expect(history.locator('li').first()).toHaveText(/An update was refused: it was not signed by the key this box trusts\./);
  await expect(history.locator('li').first()).toHaveAttribute('data-outcome', 'install_failed');

  // The real one, over a slowed link so the progress bar shows.
  const cdp = await admin.context().newCDPSession(admin);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 4 << 20 });
  await admin.getByTestId('updates-file').setInputFiles(path.join(root, 'spot-0.2.0.spotota'));
  await admin.getByTestId('updates-install').click();
  const bar = admin.getByTestId('updates-upload-progress');
  await expect(bar).toBeVisible();
  await expect.poll(async () => Number(await bar.getAttribute('value')), { timeout: 10_000 }).toBeGreaterThan(0);
  await expect(admin.getByText(/Uploading: .* of 20(\.\d)? MB/)).toBeVisible();
  await screenshot(admin, 'updates-uploading');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

  await expect(admin.getByTestId('updates-phase')).toHaveText('Version 0.2.0 is installed. Restart the box to start it.', { timeout: 30_000 });
  await expect(admin.getByTestId('updates-slot-B')).toHaveText('Version 0.2.0 (on trial)');
  await expect(history.locator('li').first()).toHaveText(/Version 0.2.0 was installed and starts at the next restart\./);
  expect(readdirSync(path.join(daemon.dataDir, 'ota', 'incoming'))).toEqual([]);
  await screenshot(admin, 'updates-staged');
  // Or tonight: scheduled, shown, and called off again.
  await admin.getByTestId('updates-schedule').click();
  await expect(admin.getByTestId('updates-scheduled')).toContainText('restarts by itself at');
  await screenshot(admin, 'updates-scheduled');
  await admin.getByRole('button', { name: "Don't restart then" }).click();
  await expect(admin.getByTestId('updates-schedule')).toBeVisible();

  await admin.getByTestId('updates-restart').click();
  await admin.getByRole('dialog').getByRole('button', { name: 'Restart' }).click();
  await expect(admin.getByTestId('updates-restarting')).toBeVisible();
  await expect.poll(() => existsSync(path.join(root, 'system', 'sim-run', 'rebooted'))).toBe(true);

  // The box comes back on slot B (the helper starts again there); the daemon's heartbeat
  // keeps the new system healthy and it commits.
  await stopHelper();
  await startHelper('B', '0.2.0');
  await expect(admin.getByTestId('updates-phase')).toContainText('Trying version 0.2.0', { timeout: 20_000 });
  await screenshot(admin, 'updates-trial');
  await expect(history.locator('li').first()).toHaveText(/Version 0.2.0 started, checked itself healthy and is now the box's system\./, {
    timeout: 40_000,
  });
  await expect(admin.getByTestId('updates-slot-B')).toHaveText('Version 0.2.0 (running now, the box’s system)');
  await expect(admin.getByTestId('updates-rollback')).toBeVisible();
  await screenshot(admin, 'updates-committed', { fullPage: true });

  await admin.setViewportSize({ width: 390, height: 844 });
  await admin.goto(daemon.url + '/admin/updates');
  await expect(history.locator('li')).toHaveCount(3);
  await screenshot(admin, 'updates-phone', { fullPage: true });
});

test('updates: the feed offers a newer version with its notes; download and install', async () => {
  await admin.setViewportSize({ width: 1280, height: 900 });
  await admin.goto(daemon.url + '/admin/updates');
  await admin.getByTestId('updates-feed-url').fill('gopher://nas.lan/');
  await admin.getByRole('button', { name: 'Save' }).click();
  await expect(admin.getByRole('alert').filter({ hasText: 'http://' })).toBeVisible();
  await admin.getByTestId('updates-feed-url').fill(`http://127.0.0.1:${feedPort}/feed`);
  await admin.getByRole('button', { name: 'Save' }).click();
  await expect(admin.getByTestId('updates-check')).toBeEnabled();
  await admin.getByTestId('updates-check').click();
  const offers = admin.getByTestId('updates-offers');
  await expect(offers).toContainText('Version 0.3.0');
  await expect(offers).toContainText('Screen sharing fixes');
  await screenshot(admin, 'updates-feed-offer');
  await offers.getByRole('button', { name: 'Download and install' }).click();
  await expect(admin.getByTestId('updates-history').locator('li').first()).toHaveText(
    /Version 0.3.0 was installed and starts at the next restart\./,
    { timeout: 30_000 },
  );
  await expect(admin.getByTestId('updates-slot-A')).toHaveText('Version 0.3.0 (on trial)');
  await screenshot(admin, 'updates-feed-staged', { fullPage: true });
});
