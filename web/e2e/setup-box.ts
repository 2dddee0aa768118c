// A box as it leaves the factory, for the setup wizard e2e: `spot init --setup` on an empty
// data dir, `spot serve --setup`, optionally an Imager preset in the data dir, and optionally
// the network engineer's `spot-helper serve --simulate FILE.json` on a socket in a temp dir
// (both processes get the same SPOT_HELPER_SOCKET). Without a helper the network is
// "managed by the operating system" (SPOT_HELPER_SOCKET empty).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIST, fetchText, scriptSrcs, spotBin, waitForListening } from './daemon';

const here = path.dirname(fileURLToPath(import.meta.url));

export function helperBin(): string {
  return process.env.SPOT_HELPER_BIN || path.join(path.dirname(spotBin()), 'spot-helper');
}

/** What `spot-helper --simulate` reads (firmware/helper/src/sim.rs). */
export interface SimFile {
  networks: { ssid: string; signal_dbm?: number; security?: string; frequency?: number; password?: string; hidden?: boolean }[];
  ethernet?: boolean;
  wifi?: boolean;
  join_ms?: number;
  address?: string;
  timing?: Record<string, number>;
}

export interface SetupBox {
  url: string;
  port: number;
  dataDir: string;
  log: string[];
  /** Resolves with the URL of the next "spot listening on" line after `since` lines. */
  nextListening(since: number): Promise<string>;
  lines(): number;
  dispose(): Promise<void>;
}

async function waitForSocket(sock: string, child: ChildProcess, log: string[]): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`spot-helper exited (${child.exitCode}):\n${log.join('')}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(sock, () => {
        c.end();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`spot-helper did not open ${sock}:\n${log.join('')}`);
}

function kill(c: ChildProcess | null): Promise<void> {
  if (!c || c.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

export async function startSetupBox(opts: { sim?: SimFile; preset?: object } = {}): Promise<SetupBox> {
  const bin = spotBin();
  if (!existsSync(bin)) throw new Error(`spot binary not found at ${bin}. Build it with \`make spot\` or set SPOT_BIN.`);
  const root = mkdtempSync(path.join(os.tmpdir(), 'spot-setup-e2e-'));
  const dataDir = path.join(root, 'data');
  const log: string[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env, SPOT_LOG: process.env.SPOT_LOG ?? 'info', SPOT_SETUP: '1', SPOT_HELPER_SOCKET: '' };
  delete env.SPOT_LISTEN;

  let helper: ChildProcess | null = null;
  if (opts.sim) {
    const hbin = helperBin();
    if (!existsSync(hbin)) throw new Error(`spot-helper not found at ${hbin}: build it with \`cargo build -p helper\` or set SPOT_HELPER_BIN.`);
    const simFile = path.join(root, 'sim.json');
    writeFileSync(simFile, JSON.stringify(opts.sim));
    const sock = path.join(root, 'run/helper.sock');
    mkdirSync(path.dirname(sock), { recursive: true });
    helper = spawn(hbin, ['serve', '--simulate', simFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        SPOT_HELPER_SOCKET: sock,
        SPOT_HELPER_STATE: path.join(root, 'system'),
        SPOT_HELPER_DATA: path.join(root, 'helper-data'),
        SPOT_HELPER_ZONEINFO: '/usr/share/zoneinfo',
      },
    });
    helper.stdout?.on('data', (c: Buffer) => log.push('[helper] ' + c.toString()));
    helper.stderr?.on('data', (c: Buffer) => log.push('[helper] ' + c.toString()));
    await waitForSocket(sock, helper, log);
    env.SPOT_HELPER_SOCKET = sock;
  }

  const init = spawnSync(bin, ['--data-dir', dataDir, 'init', '--setup'], { encoding: 'utf8', timeout: 60_000, env });
  log.push(init.stdout ?? '', init.stderr ?? '');
  if (init.status !== 0) throw new Error(`spot init --setup failed (${init.status}):\n${init.stdout}\n${init.stderr}`);
  appendFileSync(path.join(dataDir, 'spot.toml'), '\n[voice]\nport = 0\n');
  if (opts.preset) writeFileSync(path.join(dataDir, 'preset.json'), JSON.stringify(opts.preset));

  const child = spawn(bin, ['--data-dir', dataDir, 'serve', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  let waiters: (() => void)[] = [];
  // Keep reading stdout for good: the daemon re-executes itself (HTTPS) and says so again.
  let partial = '';
  child.stdout?.on('data', (c: Buffer) => {
    const parts = (partial + c.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) if (l) lines.push(l);
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  });
  let url: string;
  try {
    url = await waitForListening(child, log);
  } catch (e) {
    await kill(helper);
    throw e;
  }
  const embedded = await fetchText(url + '/');
  const dist = existsSync(path.join(DIST, 'index.html')) ? readFileSync(path.join(DIST, 'index.html'), 'utf8') : '';
  if (dist && scriptSrcs(embedded) !== scriptSrcs(dist)) {
    await kill(child);
    await kill(helper);
    throw new Error('The spot binary embeds a different web app than web/dist (stale build). Rebuild it with `make spot`.');
  }

  return {
    url,
    port: Number(new URL(url).port),
    dataDir,
    log,
    lines: () => lines.length,
    nextListening(since: number) {
      return new Promise((resolve, reject) => {
        const t0 = Date.now();
        const look = () => {
          const hit = lines.slice(since).find((l) => l.startsWith('spot listening on '));
          if (hit) return resolve(hit.slice('spot listening on '.length).trim().replace(/\/$/, ''));
          if (Date.now() - t0 > 30_000) return reject(new Error(`no new "spot listening on" line:\n${log.join('')}`));
          waiters.push(look);
          setTimeout(look, 500);
        };
        look();
      });
    },
    async dispose() {
      await kill(child);
      await kill(helper);
      const logDir = path.resolve(here, '../test-results/daemon-logs');
      mkdirSync(logDir, { recursive: true });
      writeFileSync(path.join(logDir, `${path.basename(root)}.log`), log.join('') + '\n' + lines.join('\n'));
      if (!process.env.SPOT_E2E_KEEP) rmSync(root, { recursive: true, force: true });
    },
  };
}
