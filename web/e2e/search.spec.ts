import { test, expect, type Page } from '@playwright/test';
import { startDaemon, type Daemon } from './daemon';
import { login, screenshot } from './helpers';
import { createTextChannel, createUser, ok, post } from './admin-helpers';

// Search: filters, highlighted snippets, jumping to a message far back in history, and
// a channel the user cannot see never leaking into results.
test.describe.configure({ mode: 'serial' });

let daemon: Daemon;
let admin: Page;
let fruit: { id: string };
let vault: { id: string };
let target: { id: string };

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  admin = await (await browser.newContext()).newPage();
  await login(admin, daemon.url, daemon.adminUser, daemon.adminPassword);
  await createUser(admin, 'bob', 'bob-password-1');
  fruit = await createTextChannel(admin, 'fruit');
  vault = await createTextChannel(admin, 'vault');

  // The match is older than the newest page of history, so opening it needs `around`.
  target = await post(admin, fruit.id, 'the quick brown kiwi <b>jumps</b> over the lazy dog');
  for (let i = 0; i < 64; i++) await post(admin, fruit.id, `filler message number ${i}`);
  await post(admin, fruit.id, 'a later message with a link https://example.com/kiwi');

  // @everyone may not view #vault; the admin still can.
  await ok(admin, 'PUT', `/api/channels/${vault.id}/overrides/1`, { allow: [], deny: ['view'] });
  await post(admin, vault.id, 'the secret kiwi plan');
});

test.afterAll(async () => {
  await admin?.context().close();
  await daemon?.dispose();
});

async function searchFor(page: Page, q: string) {
  const box = page.getByTestId('search-input');
  await expect(box).toBeVisible();
  // (retried: right after a page load the composer may still take the focus once)
  await expect(async () => {
    await page.keyboard.press('Control+k');
    await expect(box).toBeFocused({ timeout: 500 });
  }).toPass();
  await box.fill(q);
  await box.press('Enter');
  await expect(page.getByTestId('search-results')).toBeVisible();
}

test('search finds, highlights and jumps to the message in context; hidden channels never leak', async ({ browser }) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const bob = await ctx.newPage();
  await login(bob, daemon.url, 'bob', 'bob-password-1');
  await expect(bob.getByTestId('channel-list').getByRole('link', { name: 'fruit' })).toBeVisible();
  await expect(bob.getByTestId('channel-list').getByRole('link', { name: 'vault' })).toHaveCount(0);

  // "/" focuses the search box from outside text fields; filter hints show under it.
  await bob.getByRole('heading', { level: 1 }).first().click();
  await bob.keyboard.press('/');
  const box = bob.getByTestId('search-input');
  await expect(box).toBeFocused();
  await expect(bob.getByTestId('search-hints')).toContainText('from:');
  await expect(bob.getByTestId('search-hints')).toContainText('has:link');
  await box.fill('from:');
  await expect(bob.getByTestId('search-hints').getByRole('option', { name: /from:admin/ })).toBeVisible();
  await box.press('Escape');

  await searchFor(bob, 'kiwi');
  const results = bob.getByTestId('search-result');
  await expect(results.first()).toBeVisible();
  // Only #fruit matches: the message in #vault is never returned to bob.
  await expect(bob.getByTestId('search-results')).not.toContainText('secret kiwi plan');
  await expect(results.filter({ hasText: 'vault' })).toHaveCount(0);
  const hit = results.filter({ hasText: 'quick brown' });
  await expect(hit).toHaveCount(1);
  // The match is a <mark>; the message's markup stays text.
  await expect(hit.locator('mark').first()).toHaveText(/kiwi/i);
  await expect(hit).toContainText('<b>jumps</b>');
  expect(await hit.locator('b').count()).toBe(0);
  await screenshot(bob, 'search-results-desktop');

  // Filters narrow the results.
  await searchFor(bob, 'kiwi has:link');
  await expect(results).toHaveCount(1);
  await expect(results.first()).toContainText('example.com');
  await searchFor(bob, 'kiwi before:2000-01-01');
  await expect(bob.getByTestId('search-results')).toContainText('No messages found');
  await searchFor(bob, 'kiwi before:yesterday');
  await expect(bob.getByTestId('search-results')).toContainText('takes a date like');

  // Jump to the old message: the channel opens around it and flashes it.
  // (by keyboard: ArrowDown from the box into the results, Enter opens one)
  await searchFor(bob, 'quick brown kiwi');
  await expect(results.filter({ hasText: 'quick brown' })).toHaveCount(1);
  await bob.getByTestId('search-input').press('ArrowDown');
  await expect(results.first()).toBeFocused();
  await bob.keyboard.press('Enter');
  await expect(bob).toHaveURL(new RegExp(`/channels/${fruit.id}$`));
  const msg = bob.locator(`[data-mid="${target.id}"]`).filter({ has: bob.getByTestId('message-content') });
  await expect(msg).toBeVisible();
  await expect(msg).toHaveClass(/flash/);
  await expect(msg).toBeInViewport();
  await screenshot(bob, 'search-jump-desktop');

  // The admin can see #vault, so the same search finds it there.
  await admin.goto(daemon.url + '/');
  await searchFor(admin, 'kiwi');
  await expect(admin.getByTestId('search-result').filter({ hasText: 'secret kiwi plan' })).toHaveCount(1);

  // Escape closes the panel.
  await bob.getByTestId('search-results').press('Escape');
  await expect(bob.getByTestId('search-results')).toHaveCount(0);
  await ctx.close();
});

test('phone: search opens full screen and a result opens the channel', async ({ browser }) => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const bob = await ctx.newPage();
  await login(bob, daemon.url, 'bob', 'bob-password-1');
  const box = bob.getByTestId('search-input');
  await box.fill('lazy dog');
  await box.press('Enter');
  const panel = bob.getByTestId('search-results');
  await expect(panel).toBeVisible();
  const r = await panel.boundingBox();
  expect(r && r.x <= 1 && r.width >= 385).toBeTruthy();
  await expect(bob.getByTestId('search-result').first()).toBeVisible();
  await screenshot(bob, 'search-results-phone');
  await bob.getByTestId('search-result').first().click();
  await expect(panel).toHaveCount(0);
  await expect(bob.locator(`[data-mid="${target.id}"]`).first()).toBeInViewport();
  await screenshot(bob, 'search-jump-phone');
  await ctx.close();
});
