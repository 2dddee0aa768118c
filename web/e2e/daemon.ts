// Runs a real `spot` daemon for one test file: a fresh data dir, `spot init`,
// `spot serve --listen 127.0.0.1:0`, and restart on the same port.
//
// SPOT_BIN picks the binary (default: $HOME/.cache/spot/target/debug/spot).
// The daemon embeds web/dist at build time; if the embedded app differs from
// the current web/dist the run stops with a message (rebuild with `make spot`).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DIST = path.resolve(here, '../dist');

export function spotBin(): string {
  return process.env.SPOT_BIN || path.join(os.homedir(), '.cache/spot/target/debug/spot');
}

export interface Daemon {
  /** The daemon's base URL (http://127.0.0.1:PORT). */
  url: string;
  port: number;
  dataDir: string;
  adminUser: string;
  adminPassword: string;
  /** Everything the daemon printed (for failure reports). */
  log: string[];
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

export function waitForListening(child: ChildProcess, log: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`spot serve did not print "spot listening on" within ${timeoutMs} ms.\n${log.join('')}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      const s = chunk.toString();
      log.push(s);
      buf += s;
      const m = /spot listening on (https?:\/\/[^\s]+)/.exec(buf);
      if (m) {
        cleanup();
        resolve(m[1].replace(/\/$/, ''));
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`spot serve exited (code ${code}) before listening.\n${log.join('')}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => log.push(c.toString()));
    child.on('exit', onExit);
  });
}

export async function startDaemon(): Promise<Daemon> {
  const bin = spotBin();
  if (!existsSync(bin)) {
    throw new Error(`spot binary not found at ${bin}. Build it with \`make spot\` or set SPOT_BIN.`);
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'spot-e2e-'));
  const adminUser = 'admin';
  const adminPassword = 'pw-' + randomBytes(12).toString('hex');
  const log: string[] = [];
  const init = spawnSync(
    bin,
    ['init', '--data-dir', dataDir, '--non-interactive', '--admin-user', adminUser, '--admin-password', adminPassword],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SPOT_LOG: process.env.SPOT_LOG ?? 'warn' } },
  );
  log.push(init.stdout ?? '', init.stderr ?? '');
  if (init.status !== 0) {
    throw new Error(`spot init failed (status ${init.status}):\n${init.stdout}\n${init.stderr}`);
  }
  // Any free UDP port for voice media, so parallel runs never collide on the default.
  appendFileSync(path.join(dataDir, 'spot.toml'), '\n[voice]\nport = 0\n');

  let child: ChildProcess | null = null;
  let url = '';
  let port = 0;

  const start = async () => {
    const listen = `127.0.0.1:${port}`;
    for (let attempt = 0; ; attempt++) {
      const c = spawn(bin, ['serve', '--data-dir', dataDir, '--listen', listen], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SPOT_LOG: process.env.SPOT_LOG ?? 'info' },
      });
      try {
        url = await waitForListening(c, log);
        child = c;
        break;
      } catch (e) {
        c.kill('SIGKILL');
        // The old socket may linger briefly after a restart on a fixed port.
        if (port !== 0 && attempt < 10) {
          await new Promise((r) => setTimeout(r, 300));
          continue;
        }
        throw e;
      }
    }
    port = Number(new URL(url).port);
  };

  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        c.kill('SIGKILL');
      }, 10_000);
      c.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      c.kill('SIGTERM');
    });
  };

  await start();

  // The daemon serves the app it embedded at build time: make sure it is the current web/dist.
  const embedded = await fetchText(url + '/');
  const dist = existsSync(path.join(DIST, 'index.html')) ? readFileSync(path.join(DIST, 'index.html'), 'utf8') : '';
  if (dist && scriptSrcs(embedded) !== scriptSrcs(dist)) {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(
      'The spot binary embeds a different web app than web/dist (stale build). Rebuild it with `make spot` ' +
        '(from the repository root), or point SPOT_BIN at a binary built from the current web/dist.',
    );
  }

  return {
    get url() {
      return url;
    },
    get port() {
      return port;
    },
    dataDir,
    adminUser,
    adminPassword,
    log,
    start,
    stop,
    async restart() {
      await stop();
      await start();
    },
    async dispose() {
      await stop();
      // Keep the daemon's output next to the other test artefacts.
      const logDir = path.resolve(here, '../test-results/daemon-logs');
      mkdirSync(logDir, { recursive: true });
      writeFileSync(path.join(logDir, `${path.basename(dataDir)}.log`), log.join(''));
      if (!process.env.SPOT_E2E_KEEP) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function scriptSrcs(html: string): string {
  return [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]).sort().join(' ');
}

export async function fetchText(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}
