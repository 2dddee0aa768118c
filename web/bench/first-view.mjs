// `make bench`: what a phone pays to open the chat. Starts the real daemon (SPOT_BIN, a release
// build) on a fresh data dir, seeds a channel, then in Debian's Chromium prints
//  - the JS and CSS the first chat view loads: files, raw bytes, gzipped bytes (level 9, what the
//    box embeds) and the bytes that crossed the wire (the daemon serves the gzip copies);
//  - the time from navigation to the newest message drawn in the list, with the CPU throttled ×4
//    (Chromium's DevTools throttling, a stand-in for a phone), cold (empty HTTP cache) and warm
//    (cached assets): p50/p99 over RUNS runs (default 15).
// Goal from the issue: under 150 KB gzipped for the first chat view.

import { chromium } from '@playwright/test';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

const bin = process.env.SPOT_BIN;
if (!bin) throw new Error('set SPOT_BIN to the spot binary');
const runs = Number(process.env.RUNS || 15);
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const MESSAGES = 120;

function startDaemon() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spot-bench-web-'));
  const password = 'bench-' + Math.random().toString(36).slice(2) + '-Aa1';
  const init = spawnSync(bin, ['init', '--data-dir', dir, '--non-interactive', '--admin-user', 'admin', '--admin-password', password], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error('spot init failed: ' + init.stderr);
  appendFileSync(path.join(dir, 'spot.toml'), '\n[voice]\nport = 0\n');
  const child = spawn(bin, ['serve', '--data-dir', dir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SPOT_LOG: 'warn' } });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (c) => {
      buf += c;
      const m = /spot listening on (http:\/\/\S+)/.exec(buf);
      if (m) resolve({ url: m[1].replace(/\/$/, ''), password, child, dir });
    });
    child.on('exit', (code) => reject(new Error('spot exited ' + code)));
  });
}

async function api(url, method, p, body, cookie, csrf) {
  for (;;) {
    const r = await fetch(url + p, {
      method,
      headers: { 'content-type': 'application/json', origin: url, ...(cookie ? { cookie } : {}), ...(csrf ? { 'x-csrf-token': csrf } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (r.status === 429) {
      const e = await r.json();
      await new Promise((res) => setTimeout(res, (e.error?.retry_after_ms ?? 500) + 20));
      continue;
    }
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
    return r;
  }
}

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const kb = (n) => (n / 1024).toFixed(1) + ' KB';

const box = await startDaemon();
try {
  const login = await api(box.url, 'POST', '/api/login', { username: 'admin', password: box.password });
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const { csrf_token: csrf } = await login.json();
  const channels = await (await api(box.url, 'GET', '/api/channels', null, cookie)).json();
  const general = (channels.channels ?? channels).find((c) => c.kind === 'text');
  const words = ['lunch', 'tonight?', '**bold** plan', 'see `code`', 'https://example.invalid/x', 'ok', 'sounds good', ':)'];
  for (let i = 0; i < MESSAGES; i++) {
    const content = `message ${i}: ${words[i % words.length]} ${'and more words '.repeat(i % 5)}`;
    await api(box.url, 'POST', `/api/channels/${general.id}/messages`, { content }, cookie, csrf);
  }
  const last = `message ${MESSAGES - 1}:`;
  const target = `${box.url}/channels/${general.id}`;
  const [name, value] = cookie.split('; ')[0].split('=');
  const host = new URL(box.url).hostname;

  const browser = await chromium.launch({ executablePath: chromiumPath, args });
  async function open(ctx, measureBytes) {
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
    const wire = new Map();
    const types = new Map();
    cdp.on('Network.responseReceived', (e) => types.set(e.requestId, { type: e.type, url: e.response.url }));
    cdp.on('Network.loadingFinished', (e) => wire.set(e.requestId, e.encodedDataLength));
    const bodies = [];
    if (measureBytes) {
      page.on('response', async (r) => {
        const t = r.request().resourceType();
        if (t === 'script' || t === 'stylesheet') bodies.push({ url: r.url(), type: t, body: await r.body().catch(() => Buffer.alloc(0)) });
      });
    }
    await page.goto(target, { waitUntil: 'commit' });
    await page.waitForFunction(
      (text) => [...document.querySelectorAll('[data-testid="message-list"] [data-testid="message"]')].some((n) => n.textContent.includes(text)),
      last,
      { polling: 'raf', timeout: 60_000 },
    );
    const ms = await page.evaluate(() => performance.now());
    await page.waitForLoadState('networkidle').catch(() => {});
    let wireBytes = 0;
    for (const [id, n] of wire) {
      const t = types.get(id);
      if (t && (t.type === 'Script' || t.type === 'Stylesheet')) wireBytes += n;
    }
    await page.close();
    return { ms, bodies, wireBytes };
  }

  const ctxFor = async () => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    await ctx.addCookies([{ name, value, domain: host, path: '/', httpOnly: true }]);
    return ctx;
  };

  // Bytes: one cold load.
  const first = await ctxFor();
  const { bodies, wireBytes } = await open(first, true);
  await first.close();
  let raw = 0;
  let gz = 0;
  console.log('web first chat view: files loaded (JS and CSS)');
  for (const b of bodies.sort((a, b) => b.body.length - a.body.length)) {
    const g = zlib.gzipSync(b.body, { level: 9 }).length;
    raw += b.body.length;
    gz += g;
    console.log(`  ${new URL(b.url).pathname.padEnd(44)} ${kb(b.body.length).padStart(9)} raw ${kb(g).padStart(9)} gzipped`);
  }
  console.log(`web first chat view: ${bodies.length} files, ${kb(raw)} raw, ${kb(gz)} gzipped (goal < 150 KB), ${kb(wireBytes)} on the wire`);

  for (const warm of [false, true]) {
    const times = [];
    const ctx = warm ? await ctxFor() : null;
    if (ctx) await open(ctx, false);
    for (let i = 0; i < runs; i++) {
      const c = ctx ?? (await ctxFor());
      times.push((await open(c, false)).ms);
      if (!ctx) await c.close();
    }
    if (ctx) await ctx.close();
    console.log(
      `web time to first message list (CPU ×4, phone viewport, ${MESSAGES} messages, ${warm ? 'warm cache' : 'cold cache'}): ` +
        `p50 ${quantile(times, 0.5).toFixed(0)} ms, p99 ${quantile(times, 0.99).toFixed(0)} ms over ${runs} runs`,
    );
  }
  await browser.close();
} finally {
  box.child.kill('SIGTERM');
  rmSync(box.dir, { recursive: true, force: true });
}
