import { test, expect } from '@playwright/test';
import { startDaemon, type Daemon } from './daemon';
import { login, messages, screenshot, send } from './helpers';

let daemon: Daemon;

test.beforeAll(async () => {
  daemon = await startDaemon();
});

test.afterAll(async () => {
  await daemon?.dispose();
});

test('phone viewport: channel list → channel → send, one pane at a time', async ({ browser }) => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await ctx.newPage();
  await login(page, daemon.url, daemon.adminUser, daemon.adminPassword);

  const sidebar = page.getByRole('navigation', { name: 'Channels and pages' });
  // Create a channel through the admin page on the phone, then go back to the list.
  await sidebar.getByRole('link', { name: 'Admin', exact: true }).click();
  await expect(sidebar).toBeHidden();
  await page.getByRole('navigation', { name: 'Admin pages' }).getByRole('link', { name: 'Channels' }).click();
  await page.getByLabel('Name', { exact: true }).first().fill('phone-chat');
  await page.getByRole('button', { name: 'Create channel' }).click();
  await expect(page.getByTestId('toast').filter({ hasText: 'Channel #phone-chat created.' })).toBeVisible();
  await page.getByRole('button', { name: 'Back to channels' }).click();

  // The list is the only pane shown.
  await expect(sidebar).toBeVisible();
  await expect(page.getByRole('main')).toBeHidden();
  await sidebar.getByRole('link', { name: 'phone-chat' }).click();

  // The chat replaces the list.
  await expect(page.getByRole('heading', { level: 1, name: 'phone-chat', exact: true })).toBeVisible();
  await expect(sidebar).toBeHidden();
  await send(page, 'sent from a phone');
  await expect(messages(page, 'sent from a phone')).toHaveCount(1);
  const box = await page.getByTestId('composer').boundingBox();
  expect(box && box.x >= 0 && box.x + box.width <= 390).toBeTruthy();
  await screenshot(page, 'chat-phone');

  // Members pane, then back to the chat, then back to the list.
  await page.getByRole('button', { name: 'Show members' }).click();
  await expect(page.getByTestId('member-list')).toBeVisible();
  await expect(page.getByTestId('composer')).toBeHidden();
  await page.getByRole('button', { name: 'Back to the conversation' }).click();
  await expect(page.getByTestId('composer')).toBeVisible();
  await page.getByRole('button', { name: 'Back to channels' }).click();
  await expect(sidebar).toBeVisible();
  await expect(page.getByTestId('composer')).toBeHidden();
  await ctx.close();
});
