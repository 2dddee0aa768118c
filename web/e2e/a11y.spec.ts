// Accessibility of the whole app in real Chromium against the real daemon: axe-core (WCAG 2.1
// A/AA) on every page and major state at desktop and phone sizes, the landmarks and skip link, the
// live region that reads new messages out, 200 % zoom without sideways scrolling, and the keyboard
// (tab order, visible focus, dialogs that trap focus and give it back).
import { test, expect, type BrowserContext, type Page } from '@playwright/test';
import { startDaemon, type Daemon } from './daemon';
import { axe } from './axe';
import { ok } from './admin-helpers';
import { login, messages, screenshot, send } from './helpers';
import { anonTour, BOB_PW, makeWorld, newPage, oneH1, openAt, tour, type World } from './a11y-helpers';

test.describe.configure({ mode: 'serial' });
// A missing control fails in seconds, not at the test's timeout.
test.use({ actionTimeout: 15_000 });

let daemon: Daemon;
let ctxA: BrowserContext;
let ctxB: BrowserContext;
let admin: Page;
let bob: Page;
let w: World;

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  ({ ctx: ctxA, page: admin } = await newPage(browser));
  ({ ctx: ctxB, page: bob } = await newPage(browser));
});

test.afterAll(async () => {
  await ctxA?.close().catch(() => {});
  await ctxB?.close().catch(() => {});
  await new Promise((r) => (w?.site ? w.site.close(r) : r(null)));
  await daemon?.dispose();
});

test.afterEach(async ({}, info) => {
  if (info.status !== info.expectedStatus && daemon) {
    await info.attach('daemon-log', { body: daemon.log.join('').slice(-20_000), contentType: 'text/plain' });
  }
});

test('setup: a box with messages, an image, an embed, a thread, pins and a DM', async () => {
  await login(admin, daemon.url, daemon.adminUser, daemon.adminPassword);
  w = await makeWorld(admin, bob, () => login(bob, daemon.url, 'bob', BOB_PW));
});

test('desktop: axe finds nothing on any page or state', async () => {
  test.setTimeout(600_000);
  await tour(admin, daemon.url, w, 'desktop');
});

test('phone: axe finds nothing on any page or state', async ({ browser }) => {
  test.setTimeout(600_000);
  const { ctx, page } = await newPage(browser, true);
  await login(page, daemon.url, daemon.adminUser, daemon.adminPassword);
  await tour(page, daemon.url, w, 'phone');
  await ctx.close();
});

test('login and invite pages, desktop and phone', async ({ browser }) => {
  await anonTour(browser, admin, daemon.url, 'desktop');
  await anonTour(browser, admin, daemon.url, 'phone');
});

test('offline: the banner and queued messages pass axe', async ({ browser }) => {
  for (const phone of [false, true]) {
    const { ctx, page } = await newPage(browser, phone);
    await login(page, daemon.url, 'bob', BOB_PW);
    await openAt(page, daemon.url, w.general, 'north dock');
    await ctx.setOffline(true);
    await expect(page.getByTestId('reconnect-banner')).toContainText('You are offline');
    const text = `queued while offline (${phone ? 'phone' : 'desktop'})`;
    await send(page, text);
    await expect(page.getByTestId('pending-message')).toHaveCount(1);
    await axe(page, `offline ${phone ? 'phone' : 'desktop'}`);
    await screenshot(page, `a11y-offline-${phone ? 'phone' : 'desktop'}`);
    await ctx.setOffline(false);
    await expect(messages(page, text)).toHaveCount(1);
    await ctx.close();
  }
});

test('landmarks: channel list, messages, thread and members can be jumped to; a skip link', async () => {
  await openAt(admin, daemon.url, w.general, 'north dock');
  await expect(admin.getByRole('banner')).toHaveCount(1);
  await expect(admin.getByRole('navigation', { name: 'Channels and pages' })).toBeVisible();
  await expect(admin.getByRole('main')).toBeVisible();
  await expect(admin.getByRole('main').getByRole('region', { name: 'Channel trips' })).toBeVisible();
  await expect(admin.getByRole('log', { name: 'Messages' })).toBeVisible();
  await expect(admin.getByRole('complementary', { name: 'Members' })).toBeVisible();
  await messages(admin, 'lake trip').first().getByTestId('thread-summary').click();
  await expect(admin.getByRole('complementary', { name: 'Thread' })).toBeVisible();
  await admin.getByTestId('thread-panel').getByRole('button', { name: 'Close thread' }).last().click();
  await oneH1(admin, 'channel');

  // The first Tab lands on "Skip to messages"; it moves focus into the message list.
  await admin.reload();
  await expect(messages(admin, 'north dock')).toBeVisible();
  await fromTop(admin);
  await admin.keyboard.press('Tab');
  const skip = admin.getByRole('link', { name: 'Skip to messages' });
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  await screenshot(admin, 'a11y-skip-link');
  await admin.keyboard.press('Enter');
  await expect(admin.getByTestId('message-list')).toBeFocused();
  // The next Tab goes on into the list.
  await admin.keyboard.press('Tab');
  await expect(admin.locator(':focus')).toHaveAttribute('data-testid', /message|reply-quote|thread-summary|reaction/);
});

test('live region: a message from someone else in the open channel is read out, mine is not', async () => {
  await openAt(admin, daemon.url, w.general, 'north dock');
  const live = admin.getByTestId('live-messages');
  await expect(live).toHaveAttribute('aria-live', 'polite');
  await expect(live).toHaveText('');
  await ok(bob, 'POST', `/api/channels/${w.general}/messages`, { content: 'the canoe is **booked**' });
  // The display name is the username here.
  await expect(live).toHaveText(/^bob: the canoe is booked$/i);
  // My own message is not announced.
  await send(admin, 'great, thanks');
  await admin.waitForTimeout(1500);
  await expect(live).not.toContainText('great, thanks');
  // Another channel's message is not announced here.
  await ok(bob, 'POST', `/api/channels/${w.lobby}/messages`, { content: 'over in the lobby' });
  await admin.waitForTimeout(1500);
  await expect(live).not.toContainText('lobby');
  // A burst is batched into one announcement.
  await bob.evaluate(async (ch) => {
    const me = await (await fetch('/api/me')).json();
    for (const t of ['one', 'two', 'three', 'four', 'five'])
      await fetch(`/api/channels/${ch}/messages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
        body: JSON.stringify({ content: `burst ${t}` }),
      });
  }, w.general);
  await expect(live).toHaveText(/^\d new messages from bob\. Latest, bob: burst five$/, { timeout: 8000 });
  // Not while the tab is hidden.
  await admin.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await ok(bob, 'POST', `/api/channels/${w.general}/messages`, { content: 'nobody is looking' });
  await expect(messages(admin, 'nobody is looking')).toHaveCount(1);
  await admin.waitForTimeout(1500);
  await expect(live).not.toContainText('nobody is looking');
  await admin.reload();
});

test('icon-only buttons have names, and their tooltips say the same', async () => {
  await openAt(admin, daemon.url, w.general, 'north dock');
  await messages(admin, 'north dock').hover();
  const bad = await admin.evaluate(() => {
    const out: string[] = [];
    for (const b of Array.from(document.querySelectorAll<HTMLElement>('button, a[href], [role="button"]'))) {
      if (!b.offsetParent && b.getClientRects().length === 0) continue;
      // Hidden from screen readers and out of the Tab order on purpose (a duplicate link).
      if (b.closest('[aria-hidden="true"]') && b.tabIndex < 0) continue;
      const text = (b.textContent ?? '').trim();
      const name = (b.getAttribute('aria-label') ?? '').trim();
      const title = (b.getAttribute('title') ?? '').trim();
      if (!text && !name && !b.getAttribute('aria-labelledby')) out.push(`no name: ${b.outerHTML.slice(0, 120)}`);
      // A tooltip on an icon-only button must not contradict its name (it may add a shortcut).
      const tip = title.replace(/ \(.*\)$/, '').toLowerCase();
      if (!text && name && title && !name.toLowerCase().includes(tip) && !tip.includes(name.toLowerCase()))
        out.push(`tooltip "${title}" vs name "${name}"`);
    }
    return out;
  });
  expect(bad).toEqual([]);
});

/** Focus back at the start of the document, as on arriving at the page from the address bar. */
async function fromTop(page: Page): Promise<void> {
  await page.evaluate(() => {
    document.body.tabIndex = -1;
    document.body.focus();
    document.body.removeAttribute('tabindex');
  });
}

/** The page does not scroll sideways, and every visible control lies inside the window. */
async function fits(page: Page, what: string): Promise<void> {
  const r = await page.evaluate(() => {
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll<HTMLElement>('button, a[href], input, select, textarea, [tabindex="0"]'))) {
      const b = el.getBoundingClientRect();
      if (!b.width || !b.height || getComputedStyle(el).visibility === 'hidden') continue;
      // Inside a container that scrolls sideways on purpose (none expected) it would still be reachable.
      if (b.left < -1 || b.right > innerWidth + 1) out.push(`${el.tagName} ${el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 30)} at ${Math.round(b.left)}–${Math.round(b.right)}`);
    }
    return { sw: document.documentElement.scrollWidth, iw: innerWidth, out };
  });
  expect(r.sw, `${what}: page wider than the window`).toBeLessThanOrEqual(r.iw);
  expect(r.out, `${what}: controls outside the window`).toEqual([]);
}

test('200 % zoom: channel, thread, settings and an admin page fit without sideways scrolling', async ({ browser }) => {
  // 200 % browser zoom on a 1280×860 screen: a 640×430 CSS-pixel window at device scale 2.
  const ctx = await browser.newContext({ viewport: { width: 640, height: 430 }, deviceScaleFactor: 2 });
  const page = await ctx.newPage();
  await login(page, daemon.url, daemon.adminUser, daemon.adminPassword);
  await openAt(page, daemon.url, w.general, 'north dock');
  await fits(page, 'channel');
  await expect(page.getByTestId('composer')).toBeInViewport();
  await expect(page.getByRole('button', { name: 'Send message' })).toBeInViewport();
  await screenshot(page, 'a11y-zoom-channel');

  await messages(page, 'lake trip').first().getByTestId('thread-summary').click();
  const panel = page.getByTestId('thread-panel');
  await expect(panel.getByText('Day two: campfire')).toBeVisible();
  await fits(page, 'thread');
  await expect(panel.getByTestId('composer')).toBeInViewport();
  await expect(panel.getByRole('button', { name: 'Send message' })).toBeInViewport();
  await screenshot(page, 'a11y-zoom-thread');

  await page.goto(daemon.url + '/settings');
  await expect(page.getByRole('heading', { level: 1, name: 'Settings' })).toBeVisible();
  await fits(page, 'settings');
  await screenshot(page, 'a11y-zoom-settings');
  for (const path of ['/admin/users', '/admin/roles', '/admin/audit']) {
    await page.goto(daemon.url + path);
    await expect(page.locator('main h1')).toBeVisible();
    await page.waitForLoadState('networkidle');
    await fits(page, path);
  }
  await page.goto(daemon.url + '/admin/users');
  await expect(page.locator('main h1')).toBeVisible();
  await screenshot(page, 'a11y-zoom-admin-users');
  await ctx.close();
});

/** What has focus, in words, and whether its focus ring is visible against what is behind it. */
async function focused(page: Page): Promise<{ id: string; ring: number; inDialog: boolean }> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return { id: 'body', ring: 0, inDialog: false };
    const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]: number[]) => {
      const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    // The ring may be drawn by a wrapper (:focus-within), as around the composer.
    let ringEl: HTMLElement = el;
    for (let i = 0, e: HTMLElement | null = el; i < 4 && e; i++, e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) {
        ringEl = e;
        break;
      }
    }
    const cs = getComputedStyle(ringEl);
    let bg = [255, 255, 255];
    for (let p: HTMLElement | null = cs.outlineOffset.startsWith('-') ? ringEl : ringEl.parentElement; p; p = p.parentElement) {
      const c = rgb(getComputedStyle(p).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) {
        bg = c.slice(0, 3);
        break;
      }
    }
    let ring = 0;
    if (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2) {
      const a = lum(rgb(cs.outlineColor));
      const b = lum(bg);
      ring = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }
    const id =
      el.getAttribute('data-testid') === 'message'
        ? 'message'
        : el.getAttribute('aria-label') || el.getAttribute('data-testid') || el.textContent?.trim().slice(0, 40) || el.tagName;
    return { id, ring, inDialog: !!el.closest('dialog[open], [role="dialog"]') };
  });
}

test('keyboard: Tab reaches every control of the channel view, focus is visible', async () => {
  await openAt(admin, daemon.url, w.general, 'north dock');
  // A draft, so that Send is enabled (a disabled button is rightly skipped).
  await admin.getByTestId('composer').fill('a draft');
  await fromTop(admin);
  const seen: string[] = [];
  const weak: string[] = [];
  for (let i = 0; i < 200; i++) {
    await admin.keyboard.press('Tab');
    const f = await focused(admin);
    if (i > 0 && f.id === 'Skip to messages') break;
    seen.push(f.id);
    // Past the last control the page itself has focus for one step (headless: no browser UI).
    if (f.ring < 3 && f.id !== 'body') weak.push(`${f.id} (${f.ring.toFixed(2)})`);
  }
  for (const want of [
    'Skip to messages',
    'search-input',
    'channel-link',
    'Mute #trips',
    'New direct message',
    'Settings',
    'Admin',
    'Log out',
    'Threads',
    'Pinned messages',
    'message',
    'composer',
    'Attach files',
    'Send message',
    'Message bob',
    'Moderate bob',
  ])
    expect(seen, `Tab reaches ${want}`).toContain(want);
  expect(weak, 'focus rings with less than 3:1 contrast').toEqual([]);
});

test('keyboard: dialogs keep focus inside and give it back when closed', async () => {
  await openAt(admin, daemon.url, w.general, 'north dock');
  const trapped = async (what: string) => {
    for (let i = 0; i < 12; i++) {
      await admin.keyboard.press('Tab');
      expect((await focused(admin)).inDialog, `${what}: Tab ${i + 1} stays in the dialog`).toBe(true);
    }
    await admin.keyboard.press('Shift+Tab');
    expect((await focused(admin)).inDialog, `${what}: Shift+Tab stays in the dialog`).toBe(true);
  };

  const dmNew = admin.getByTestId('dm-new');
  await dmNew.focus();
  await admin.keyboard.press('Enter');
  await expect(admin.getByTestId('dm-picker')).toBeVisible();
  await trapped('DM picker');
  await admin.keyboard.press('Escape');
  await expect(dmNew).toBeFocused();

  const mod = admin.getByTestId('member-list').getByRole('button', { name: 'Moderate bob' });
  await mod.focus();
  await admin.keyboard.press('Enter');
  await expect(admin.getByTestId('moderation-dialog')).toBeVisible();
  await trapped('moderation');
  await admin.keyboard.press('Escape');
  await expect(mod).toBeFocused();

  const thumb = messages(admin, 'view from the cabin').getByTestId('attachment-image');
  await thumb.focus();
  await admin.keyboard.press('Enter');
  await expect(admin.getByTestId('image-viewer')).toBeVisible();
  await trapped('image viewer');
  await admin.keyboard.press('Escape');
  await expect(thumb).toBeFocused();

  // The delete confirmation, opened from the keyboard on a message (Delete key).
  const own = messages(admin, 'north dock');
  await own.focus();
  await admin.keyboard.press('Delete');
  await expect(admin.getByRole('dialog', { name: 'Delete message?' })).toBeVisible();
  await trapped('confirm');
  await admin.keyboard.press('Escape');
  await expect(own).toBeFocused();
});
