// The box's setup state as the whole app needs it: read at boot (GET /api/setup), so that
// an unclaimed box leads every route to the wizard (lib/setup/gate.ts decides).

import { api, ApiError } from './api';
import type { SetupInfo } from './setup/types';

class SetupGate {
  /** null: no setup API on this box (older daemon), or not read yet. */
  info = $state<SetupInfo | null>(null);
  loaded = $state(false);
  /** A factory reset was accepted: the whole app shows that, whatever the session does next. */
  resetting = $state(false);

  async load(attempt = 0): Promise<void> {
    try {
      this.info = await api<SetupInfo>('GET', '/api/setup');
      this.loaded = true;
    } catch (e) {
      if (e instanceof ApiError && (e.code === 'network' || e.status >= 500) && attempt < 30) {
        // Restarting (e.g. switching to HTTPS): the rest of the boot retries too.
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** attempt)));
        return this.load(attempt + 1);
      }
      this.loaded = true;
    }
  }

  /** Take a fresh copy from an answer that carries it (step, finish). */
  set(info: SetupInfo | null | undefined): boolean {
    if (!info || typeof info !== 'object' || !('claimed' in info)) return false;
    this.info = info;
    return true;
  }
}

export const gate = new SetupGate();
