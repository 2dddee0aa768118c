import { test, expect, type Page } from '@playwright/test';
import { startDaemon, type Daemon } from './daemon';
import { createChannel, createInvite, expectMarker, login, markPage } from './helpers';

// Admin pages and settings, against the real daemon.
test.describe.configure({ mode: 'serial' });

let daemon: Daemon;
let admin: Page;

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  const ctx = await browser.newContext();
  admin = await ctx.newPage();
  await login(admin, daemon.url, daemon.adminUser, daemon.adminPassword);
});

test.afterAll(async () => {
  await admin?.context().close();
  await daemon?.dispose();
});

test('users: create, change role, disable and enable, reset password', async ({ browser }) => {
  await admin.goto(daemon.url + '/admin/users');
  await admin.getByLabel('Username').fill('carol');
  await admin.getByLabel('Password', { exact: true }).fill('carol-password-1');
  await admin.getByRole('button', { name: 'Add user' }).click();
  const row = admin.getByTestId('user-row').filter({ hasText: 'carol' });
  await expect(row).toHaveCount(1);
  await expect(row.getByLabel('Role of carol')).toHaveValue('member');

  await row.getByLabel('Role of carol').selectOption('admin');
  await admin.reload();
  await expect(row.getByLabel('Role of carol')).toHaveValue('admin');

  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row).toContainText('disabled');
  // A disabled user cannot log in; the error is shown in words.
  const ctx = await browser.newContext();
  const carol = await ctx.newPage();
  await carol.goto(daemon.url + '/login');
  await carol.getByLabel('Username').fill('carol');
  await carol.getByLabel('Password').fill('carol-password-1');
  await carol.getByRole('button', { name: 'Log in' }).click();
  await expect(carol.getByRole('alert')).toHaveText(/\w+/);
  await expect(carol.getByRole('navigation', { name: 'Channels and pages' })).toHaveCount(0);

  await row.getByRole('button', { name: 'Enable' }).click();
  await expect(row).toContainText('active');

  await row.getByRole('button', { name: 'Reset password' }).click();
  await admin.getByLabel('New password').fill('carol-new-password-2');
  await admin.getByRole('button', { name: 'Set password', exact: true }).click();
  await expect(admin.getByRole('dialog')).toBeHidden();
  await login(carol, daemon.url, 'carol', 'carol-new-password-2');
  // carol is an admin now
  await expect(carol.getByRole('link', { name: 'Admin', exact: true })).toBeVisible();
  await ctx.close();
});

test('invites: list states and revoke', async ({ browser }) => {
  const link = await createInvite(admin, daemon.url);
  const active = admin.getByTestId('invite-row').filter({ hasText: 'active' });
  await expect(active).toHaveCount(1);
  await active.getByRole('button', { name: 'Revoke' }).click();
  await expect(admin.getByTestId('invite-row').filter({ hasText: 'active' })).toHaveCount(0);

  // The revoked link is refused with an explanation.
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(link.replace(/^https?:\/\/[^/]+/, daemon.url));
  await expect(page.getByRole('alert')).toContainText('not valid');
  await ctx.close();
});

test('channels: create, rename, topic, reorder, archive and unarchive', async () => {
  await createChannel(admin, daemon.url, 'alpha', 'first topic');
  await createChannel(admin, daemon.url, 'beta', '');
  await markPage(admin, 'admin-channels');
  const sidebar = admin.getByTestId('channel-list');
  const order = async () => (await sidebar.getByRole('link').allInnerTexts()).map((t) => t.replace('#', '').trim());

  // rename + topic
  const alpha = admin.getByTestId('admin-channel').filter({ has: admin.getByRole('button', { name: 'Move #alpha up' }) });
  await alpha.getByLabel('Topic').fill('a better topic');
  await alpha.getByLabel('Name').fill('alpha-renamed');
  await alpha.getByRole('button', { name: 'Save' }).click();
  await expect(sidebar.getByRole('link', { name: 'alpha-renamed' })).toBeVisible();

  // reorder: move beta up above alpha-renamed
  const before = await order();
  expect(before.indexOf('beta')).toBe(before.indexOf('alpha-renamed') + 1);
  await admin.getByRole('button', { name: 'Move #beta up' }).click();
  await expect.poll(order).toEqual(
    (() => {
      const o = [...before];
      const i = o.indexOf('beta');
      [o[i - 1], o[i]] = [o[i], o[i - 1]];
      return o;
    })(),
  );

  // archive hides it from the sidebar, unarchive brings it back
  const beta = admin.getByTestId('admin-channel').filter({ has: admin.getByRole('button', { name: 'Move #beta up' }) });
  await beta.getByRole('button', { name: 'Archive' }).click();
  await expect(sidebar.getByRole('link', { name: 'beta' })).toHaveCount(0);
  await beta.getByRole('button', { name: 'Unarchive' }).click();
  await expect(sidebar.getByRole('link', { name: 'beta' })).toBeVisible();

  // The topic shows in the channel header.
  await sidebar.getByRole('link', { name: 'alpha-renamed' }).click();
  await expect(admin.getByTestId('channel-topic')).toHaveText('a better topic');
  await expectMarker(admin, 'admin-channels');
});

test('settings: display name, password, logout everywhere ends other sessions', async ({ browser }) => {
  await admin.goto(daemon.url + '/settings');
  await admin.getByLabel('Display name').fill('The Admin');
  await admin.getByRole('button', { name: 'Save display name' }).click();
  await expect(admin.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  await expect(admin.getByRole('navigation', { name: 'Channels and pages' })).toContainText('The Admin');

  // Wrong current password: error in words.
  await admin.getByLabel('Current password').fill('not-the-password');
  await admin.getByLabel('New password', { exact: true }).fill('admin-new-password-9');
  await admin.getByLabel('Repeat new password').fill('admin-new-password-9');
  await admin.getByRole('button', { name: 'Change password' }).click();
  await expect(admin.getByRole('alert')).toHaveText(/\w+/);

  await admin.getByLabel('Current password').fill(daemon.adminPassword);
  await admin.getByRole('button', { name: 'Change password' }).click();
  await expect(admin.getByRole('status').filter({ hasText: 'Password changed' })).toBeVisible();

  // A second session of the same user is sent to the login page when we log out everywhere.
  const ctx = await browser.newContext();
  const other = await ctx.newPage();
  await login(other, daemon.url, daemon.adminUser, 'admin-new-password-9');
  await markPage(other, 'other');
  await admin.getByRole('button', { name: 'Log out everywhere' }).click();
  await expect(admin.getByRole('heading', { name: 'Log in to Spot' })).toBeVisible();
  await expect(other.getByRole('heading', { name: 'Log in to Spot' })).toBeVisible();
  await expect(other).toHaveURL(/\/login$/);
  await expectMarker(other, 'other');
  await ctx.close();
});
