// Minimal History API router. The daemon serves index.html for unknown
// non-/api paths, so every route below can be loaded directly.

export type Route =
  | { name: 'home' }
  | { name: 'channel'; id: string }
  | { name: 'invite'; token: string }
  | { name: 'login' }
  | { name: 'admin-users' }
  | { name: 'admin-invites' }
  | { name: 'admin-channels' }
  | { name: 'admin-channel-perms'; id: string }
  | { name: 'admin-roles' }
  | { name: 'admin-audit' }
  | { name: 'admin-emoji' }
  | { name: 'admin-settings' }
  | { name: 'admin-network' }
  | { name: 'admin-updates' }
  | { name: 'admin-audio' }
  | { name: 'admin-music' }
  | { name: 'admin-box' }
  | { name: 'setup' }
  | { name: 'settings' }
  | { name: 'not-found' };

export function parseRoute(path: string): Route {
  const p = path.replace(/\/+$/, '') || '/';
  let m: RegExpExecArray | null;
  if (p === '/') return { name: 'home' };
  if ((m = /^\/channels\/([^/]+)$/.exec(p))) return { name: 'channel', id: decodeURIComponent(m[1]) };
  if ((m = /^\/invite\/([^/]+)$/.exec(p))) return { name: 'invite', token: decodeURIComponent(m[1]) };
  if (p === '/login') return { name: 'login' };
  if (p === '/admin' || p === '/admin/users') return { name: 'admin-users' };
  if (p === '/admin/invites') return { name: 'admin-invites' };
  if (p === '/admin/channels') return { name: 'admin-channels' };
  if ((m = /^\/admin\/channels\/([^/]+)\/permissions$/.exec(p)))
    return { name: 'admin-channel-perms', id: decodeURIComponent(m[1]) };
  if (p === '/admin/roles') return { name: 'admin-roles' };
  if (p === '/admin/audit') return { name: 'admin-audit' };
  if (p === '/admin/emoji') return { name: 'admin-emoji' };
  if (p === '/admin/settings') return { name: 'admin-settings' };
  if (p === '/admin/network') return { name: 'admin-network' };
  if (p === '/admin/updates') return { name: 'admin-updates' };
  if (p === '/admin/audio') return { name: 'admin-audio' };
  if (p === '/admin/music') return { name: 'admin-music' };
  if (p === '/admin/box') return { name: 'admin-box' };
  if (p === '/setup') return { name: 'setup' };
  if (p === '/settings') return { name: 'settings' };
  return { name: 'not-found' };
}

class Router {
  path = $state(typeof location === 'undefined' ? '/' : location.pathname);
  route: Route = $derived(parseRoute(this.path));

  constructor() {
    if (typeof window !== 'undefined') {
      window.addEventListener('popstate', () => {
        this.path = location.pathname;
      });
    }
  }

  navigate(to: string, opts: { replace?: boolean } = {}): void {
    if (to === location.pathname + location.search) return;
    if (opts.replace) history.replaceState(null, '', to);
    else history.pushState(null, '', to);
    this.path = location.pathname;
  }
}

export const router = new Router();

/** Click handler for in-app links: `<a href="/x" onclick={link}>`. */
export function link(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.currentTarget as HTMLAnchorElement;
  if (a.target && a.target !== '_self') return;
  const url = new URL(a.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  router.navigate(url.pathname + url.search);
}
