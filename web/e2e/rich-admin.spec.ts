import { test, expect, type Browser, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { startDaemon, type Daemon } from './daemon';
import { login, messages, screenshot, send } from './helpers';
import { call, createTextChannel, createUser, pngBytes } from './admin-helpers';

// DMs, mention/unread badges and mute, roles and channel overrides, moderation (timeout,
// ban), the audit log, custom emoji and exports, against the real daemon.
test.describe.configure({ mode: 'serial' });

let daemon: Daemon;
let admin: Page;
let bob: Page;
let hangout: { id: string };
let staff: { id: string };
let carolId: string;

async function userPage(browser: Browser, user: string, password: string, phone = false): Promise<Page> {
  const ctx = await browser.newContext(
    phone ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true } : { viewport: { width: 1280, height: 800 } },
  );
  const page = await ctx.newPage();
  await login(page, daemon.url, user, password);
  return page;
}

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  admin = await userPage(browser, daemon.adminUser, daemon.adminPassword);
  await createUser(admin, 'bob', 'bob-password-1');
  carolId = (await createUser(admin, 'carol', 'carol-password-1')).id;
  hangout = await createTextChannel(admin, 'hangout');
  bob = await userPage(browser, 'bob', 'bob-password-1');
});

test.afterAll(async () => {
  await bob?.context().close();
  await admin?.context().close();
  await daemon?.dispose();
});

const sidebar = (p: Page) => p.getByRole('navigation', { name: 'Channels and pages' });

test('DMs: start one from the picker; the other side gets it with an unread badge; mentions and mute', async () => {
  await admin.goto(`${daemon.url}/channels/${hangout.id}`);
  await bob.getByRole('button', { name: 'New direct message' }).click();
  const picker = bob.getByTestId('dm-picker');
  await expect(picker).toBeVisible();
  await picker.getByLabel('Find people').fill('adm');
  await picker.getByRole('checkbox', { name: /admin/ }).check();
  await picker.getByRole('button', { name: 'Start conversation' }).click();
  await expect(picker).toBeHidden();
  await expect(bob).toHaveURL(/\/channels\/\d+$/);
  const dmId = bob.url().split('/').pop()!;
  await send(bob, 'hello from bob in a DM');
  await expect(messages(bob, 'hello from bob in a DM')).toHaveCount(1);

  // The admin sees the conversation named after bob, with an unread badge.
  const dm = admin.getByTestId('dm-list').getByTestId('dm-link').filter({ hasText: 'bob' });
  await expect(dm).toHaveCount(1);
  await expect(dm.getByTestId('unread-badge')).toHaveText('1');
  await screenshot(admin, 'dm-badge-desktop');
  await dm.click();
  await expect(admin).toHaveURL(new RegExp(`/channels/${dmId}$`));
  await expect(messages(admin, 'hello from bob in a DM')).toHaveCount(1);
  await expect(dm.getByTestId('unread-badge')).toHaveCount(0);

  // A mention raises a distinct badge next to the unread count.
  await bob.goto(`${daemon.url}/channels/${hangout.id}`);
  await send(bob, '@admin please look at this');
  const gen = admin.getByTestId('channel-list').getByTestId('channel-link').filter({ hasText: 'hangout' });
  await expect(gen.getByTestId('mention-badge')).toHaveText('@1');
  await expect(gen.getByTestId('unread-badge')).toHaveText('1');
  await screenshot(admin, 'mention-badge-desktop');

  // A thread the admin follows is listed under its parent channel.
  const recent = await call<{ id: string; content: string }[]>(admin, 'GET', `/api/channels/${hangout.id}/messages?limit=5`);
  const mention = recent.body.find((m) => m.content.includes('please look'))!;
  const thread = await call<{ id: string }>(admin, 'POST', `/api/messages/${mention.id}/thread`, { name: 'side talk' });
  expect(thread.status).toBeLessThan(300);
  expect((await call(admin, 'PUT', `/api/channels/${thread.body.id}/follow`)).status).toBe(204);
  const threadLink = admin.getByTestId('channel-list').getByTestId('thread-link').filter({ hasText: 'side talk' });
  await expect(threadLink).toHaveCount(1);
  await expect(admin.getByRole('list', { name: 'Threads in #hangout' })).toBeVisible();

  // Muting dims the channel and hides its unread count; the mention badge stays.
  await admin.getByRole('button', { name: 'Mute #hangout', exact: true }).click();
  await expect(admin.getByRole('button', { name: 'Unmute #hangout' })).toBeVisible();
  await expect(admin.getByTestId('channel-list').locator('li[data-muted="true"]')).toHaveCount(1);
  await expect(gen.getByTestId('unread-badge')).toHaveCount(0);
  await expect(gen.getByTestId('mention-badge')).toHaveText('@1');
  await send(bob, 'more chatter while muted');
  await expect(gen.getByTestId('unread-badge')).toHaveCount(0);
  // It stays muted after a reload (stored on the box).
  await admin.reload();
  await expect(admin.getByRole('button', { name: 'Unmute #hangout' })).toBeVisible();
  await admin.getByRole('button', { name: 'Unmute #hangout' }).click();
  await expect(gen.getByTestId('unread-badge')).toHaveText('2');

  // A small group DM.
  await bob.getByRole('button', { name: 'New direct message' }).click();
  await picker.getByRole('checkbox', { name: /admin/ }).check();
  await picker.getByRole('checkbox', { name: /carol/ }).check();
  await picker.getByRole('button', { name: 'Start conversation' }).click();
  await expect(bob.getByTestId('dm-list').getByTestId('dm-link').filter({ hasText: 'admin, carol' })).toHaveCount(1);
});

test('roles and a channel override hide a channel from a member, live', async () => {
  staff = await createTextChannel(admin, 'staff');
  const bobStaff = bob.getByTestId('channel-list').getByRole('link', { name: 'staff' });
  await expect(bobStaff).toBeVisible();
  await bobStaff.click();
  await expect(bob).toHaveURL(new RegExp(`/channels/${staff.id}$`));

  // Create a role with permission checkboxes.
  await admin.goto(daemon.url + '/admin/roles');
  await admin.getByLabel('Name', { exact: true }).first().fill('trusted');
  await admin.getByRole('form', { name: 'Create a role' }).getByRole('checkbox', { name: /^Pin/ }).check();
  await admin.getByRole('button', { name: 'Create role' }).click();
  const trusted = admin.locator('[data-testid="role-row"][data-role="trusted"]');
  await expect(trusted).toBeVisible();
  await expect(trusted.getByRole('checkbox', { name: 'Pin' })).toBeChecked();

  // @everyone: deny View in #staff (tri-state per role and permission).
  await admin.goto(daemon.url + '/admin/channels');
  await admin.getByRole('link', { name: 'Permissions of #staff' }).click();
  await expect(admin.getByRole('heading', { name: 'Permissions in #staff' })).toBeVisible();
  const everyone = admin.locator('[data-testid="override-row"][data-role="@everyone"]');
  await everyone.getByRole('radiogroup', { name: 'View for @everyone' }).getByRole('radio', { name: 'Deny' }).check();
  await everyone.getByRole('button', { name: 'Save @everyone' }).click();
  await expect(everyone.getByRole('button', { name: 'Save @everyone' })).toBeDisabled();
  // bob's socket is closed with 4002; the fresh snapshot no longer has #staff, so he is moved out.
  await expect(bobStaff).toHaveCount(0);
  await expect(bob.getByTestId('toast').filter({ hasText: 'You can no longer see #staff.' })).toBeVisible();
  await expect(bob).not.toHaveURL(new RegExp(`/channels/${staff.id}$`));

  // trusted: allow View.
  const trow = admin.locator('[data-testid="override-row"][data-role="trusted"]');
  await trow.getByRole('radiogroup', { name: 'View for trusted' }).getByRole('radio', { name: 'Allow' }).check();
  await trow.getByRole('button', { name: 'Save trusted' }).click();
  await expect(trow.getByRole('button', { name: 'Save trusted' })).toBeDisabled();
  await screenshot(admin, 'channel-overrides-desktop');

  // Give bob the role on the users page: #staff comes back for him.
  await admin.goto(daemon.url + '/admin/users');
  const row = admin.getByTestId('user-row').filter({ hasText: 'bob' });
  await row.getByRole('button', { name: 'Edit roles of bob' }).click();
  await admin.getByRole('dialog').getByRole('checkbox', { name: 'trusted' }).check();
  await admin.getByRole('button', { name: 'Save roles' }).click();
  await expect(row.getByTestId('user-roles')).toHaveText('trusted');
  await expect(bobStaff).toBeVisible();

  // carol (no role) cannot read it.
  const r = await call(bob, 'GET', `/api/channels/${staff.id}/messages`);
  expect(r.status).toBe(200);
  const carol = await userPage(bob.context().browser()!, 'carol', 'carol-password-1');
  await expect(carol.getByTestId('channel-list').getByRole('link', { name: 'hangout' })).toBeVisible();
  await expect(carol.getByTestId('channel-list').getByRole('link', { name: 'staff' })).toHaveCount(0);
  expect((await call(carol, 'GET', `/api/channels/${staff.id}/messages`)).status).toBeGreaterThanOrEqual(400);
  await carol.context().close();
});

test('timeout from the member list: the composer is disabled and shows the end time', async () => {
  await admin.goto(`${daemon.url}/channels/${hangout.id}`);
  await bob.goto(`${daemon.url}/channels/${hangout.id}`);
  await expect(bob.getByTestId('composer')).toBeEnabled();
  await admin.getByTestId('member-list').getByRole('button', { name: 'Moderate bob' }).click();
  const dlg = admin.getByTestId('moderation-dialog');
  await expect(dlg).toBeVisible();
  await dlg.getByLabel('Duration').selectOption({ label: '10 minutes' });
  await dlg.getByLabel(/Reason/).fill('cool down');
  await dlg.getByRole('button', { name: 'Time out' }).click();
  await expect(dlg).toBeHidden();

  await expect(bob.getByTestId('composer')).toBeDisabled();
  await expect(bob.getByTestId('composer-timed-out')).toHaveText(/^You are timed out until \d\d:\d\d\.$/);
  await screenshot(bob, 'timed-out-composer-desktop');
  // The box refuses sends too (not just the UI).
  const r = await call(bob, 'POST', `/api/channels/${hangout.id}/messages`, { content: 'sneaky' });
  expect(r.status).toBeGreaterThanOrEqual(400);

  // End it early.
  await admin.getByTestId('member-list').getByRole('button', { name: 'Moderate bob' }).click();
  await dlg.getByRole('button', { name: 'End timeout' }).click();
  await expect(bob.getByTestId('composer')).toBeEnabled();
  await expect(bob.getByTestId('composer-timed-out')).toHaveCount(0);
});

test('kick, then ban from the users page: logged out, login refused; unban', async () => {
  await admin.goto(daemon.url + '/admin/users');
  const row = admin.getByTestId('user-row').filter({ hasText: 'bob' });
  const dlg = admin.getByTestId('moderation-dialog');
  // A kick ends bob's sessions; he can log in again.
  await row.getByRole('button', { name: 'Moderate' }).click();
  await dlg.getByRole('button', { name: 'Kick' }).click();
  await expect(dlg).toBeHidden();
  await expect(bob.getByRole('heading', { name: 'Log in to Spot' })).toBeVisible();
  await login(bob, daemon.url, 'bob', 'bob-password-1');

  await row.getByRole('button', { name: 'Moderate' }).click();
  await dlg.getByLabel(/Reason/).fill('spam links');
  await dlg.getByRole('button', { name: 'Ban' }).click();
  await expect(row).toContainText('banned');

  await expect(bob.getByRole('heading', { name: 'Log in to Spot' })).toBeVisible();
  await bob.getByLabel('Username').fill('bob');
  await bob.getByLabel('Password').fill('bob-password-1');
  await bob.getByRole('button', { name: 'Log in' }).click();
  await expect(bob.getByRole('alert')).toHaveText(/\w+/);
  await expect(sidebar(bob)).toHaveCount(0);
  await screenshot(bob, 'banned-login');

  await row.getByRole('button', { name: 'Moderate' }).click();
  await dlg.getByRole('button', { name: 'Unban' }).click();
  await expect(row).not.toContainText('banned');
  await login(bob, daemon.url, 'bob', 'bob-password-1');
});

test('a member with a role that has `moderate` gets the moderation menu; others do not', async ({ browser }) => {
  const role = await call<{ id: string }>(admin, 'POST', '/api/admin/roles', { name: 'mods', permissions: ['view', 'send', 'moderate'] });
  expect(role.status).toBe(201);
  expect((await call(admin, 'PUT', `/api/admin/users/${carolId}/roles`, { role_ids: [role.body.id] })).status).toBe(200);

  await bob.goto(`${daemon.url}/channels/${hangout.id}`);
  await expect(bob.getByTestId('member-list')).toBeVisible();
  await expect(bob.getByTestId('member-list').getByRole('button', { name: /^Moderate / })).toHaveCount(0);

  const carol = await userPage(browser, 'carol', 'carol-password-1');
  await carol.goto(`${daemon.url}/channels/${hangout.id}`);
  await carol.getByTestId('member-list').getByRole('button', { name: 'Moderate bob' }).click();
  const dlg = carol.getByTestId('moderation-dialog');
  await dlg.getByLabel('Duration').selectOption({ label: 'Custom…' });
  await dlg.getByLabel('Custom duration').fill('soon');
  await dlg.getByRole('button', { name: 'Time out' }).click();
  await expect(dlg.getByRole('alert')).toContainText('Enter a duration like');
  await dlg.getByLabel('Custom duration').fill('2h');
  await dlg.getByRole('button', { name: 'Time out' }).click();
  await expect(dlg).toBeHidden();
  await expect(bob.getByTestId('composer')).toBeDisabled();
  await carol.getByTestId('member-list').getByRole('button', { name: 'Moderate bob' }).click();
  await dlg.getByRole('button', { name: 'End timeout' }).click();
  await expect(bob.getByTestId('composer')).toBeEnabled();
  await carol.context().close();
});

test('the audit log lists role, override, timeout and ban actions', async () => {
  await admin.goto(daemon.url + '/admin/audit');
  const rows = admin.getByTestId('audit-row');
  await expect(rows.first()).toBeVisible();
  expect(await rows.count()).toBeGreaterThanOrEqual(5);
  const table = admin.getByTestId('audit-table');
  await expect(table).toContainText(/role/i);
  await expect(table).toContainText(/override/i);
  await expect(table).toContainText(/timeout/i);
  await expect(table).toContainText(/ban/i);
  await expect(table).toContainText(/kick/i);
  await expect(table).toContainText('bob');
  await screenshot(admin, 'audit-log-desktop');
});

test('custom emoji: upload, bad name refused in words, delete', async () => {
  await admin.goto(daemon.url + '/admin/emoji');
  const png = await pngBytes(admin);
  await admin.getByLabel('Image').setInputFiles({ name: 'Party Blob.png', mimeType: 'image/png', buffer: png });
  await expect(admin.getByLabel('Name')).toHaveValue('party_blob');
  await admin.getByLabel('Name').fill('x');
  await admin.getByRole('button', { name: 'Upload emoji' }).click();
  await expect(admin.getByRole('alert')).toContainText('2–32 letters');
  await admin.getByLabel('Name').fill('party_blob');
  await admin.getByRole('button', { name: 'Upload emoji' }).click();
  const row = admin.locator('[data-testid="emoji-row"][data-name="party_blob"]');
  await expect(row).toBeVisible();
  await expect
    .poll(() => row.locator('img').evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0))
    .toBe(true);
  const list = await call<{ name: string }[]>(bob, 'GET', '/api/emoji');
  expect(list.body.map((e) => e.name)).toContain('party_blob');
  await screenshot(admin, 'custom-emoji-desktop');

  await admin.getByLabel('Image').setInputFiles({ name: 'gone.png', mimeType: 'image/png', buffer: png });
  await admin.getByRole('button', { name: 'Upload emoji' }).click();
  const gone = admin.locator('[data-testid="emoji-row"][data-name="gone"]');
  await expect(gone).toBeVisible();
  await gone.getByRole('button', { name: 'Delete :gone:' }).click();
  await admin.getByRole('button', { name: 'Delete emoji' }).click();
  await expect(gone).toHaveCount(0);
});

test('exports: my messages as JSON, a channel as a tar; storage use shown', async () => {
  await bob.goto(daemon.url + '/settings');
  await expect(bob.getByTestId('storage-used')).toContainText('Files you uploaded use');
  const [dl] = await Promise.all([bob.waitForEvent('download'), bob.getByTestId('export-me').click()]);
  const body = readFileSync((await dl.path())!, 'utf8');
  expect(body).toContain('hello from bob in a DM');
  expect(() => JSON.parse(body)).not.toThrow();
  await screenshot(bob, 'settings-export-desktop');

  await admin.goto(daemon.url + '/admin/channels');
  const [tar] = await Promise.all([admin.waitForEvent('download'), admin.getByRole('link', { name: 'Export #hangout' }).click()]);
  const bytes = readFileSync((await tar.path())!);
  expect(bytes.length).toBeGreaterThan(512);
  expect(bytes.toString('latin1')).toContain('channel.json');
  expect(bytes.toString('utf8')).toContain('please look at this');
});

test('phone: DM list, moderation and the admin pages fit a 390 px screen', async ({ browser }) => {
  const phone = await userPage(browser, daemon.adminUser, daemon.adminPassword, true);
  const side = sidebar(phone);
  await expect(side.getByTestId('dm-list').getByTestId('dm-link').first()).toBeVisible();
  await screenshot(phone, 'sidebar-dms-phone');
  await side.getByRole('button', { name: 'New direct message' }).click();
  const box = await phone.getByTestId('dm-picker').boundingBox();
  expect(box && box.x >= 0 && box.x + box.width <= 390).toBeTruthy();
  await screenshot(phone, 'dm-picker-phone');
  await phone.getByTestId('dm-picker').getByRole('button', { name: 'Cancel' }).click();

  await side.getByRole('link', { name: 'hangout' }).click();
  await phone.getByRole('button', { name: 'Show members' }).click();
  await phone.getByTestId('member-list').getByRole('button', { name: 'Moderate bob' }).click();
  const dlg = await phone.getByTestId('moderation-dialog').boundingBox();
  expect(dlg && dlg.x >= 0 && dlg.x + dlg.width <= 390).toBeTruthy();
  await screenshot(phone, 'moderation-phone');
  await phone.getByTestId('moderation-dialog').getByRole('button', { name: 'Close' }).click();

  for (const [path, name] of [
    [`/admin/channels/${staff.id}/permissions`, 'channel-overrides-phone'],
    ['/admin/roles', 'roles-phone'],
    ['/admin/audit', 'audit-log-phone'],
    ['/admin/settings', 'link-previews-phone'],
  ]) {
    await phone.goto(daemon.url + path);
    await expect(phone.getByRole('heading', { level: 1 })).toBeVisible();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth);
    expect(overflow, path).toBeLessThanOrEqual(390);
    await screenshot(phone, name);
  }
  await phone.context().close();
});

test('link previews: switch and allowlist editor', async () => {
  await admin.goto(daemon.url + '/admin/settings');
  const sw = admin.getByRole('switch');
  await expect(sw).toBeVisible();
  const was = await sw.isChecked();
  await admin.getByLabel('Host, host:port or network').fill('http://wiki.lan');
  await admin.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(admin.getByRole('alert')).toContainText('without http');
  await admin.getByLabel('Host, host:port or network').fill('wiki.lan');
  await admin.getByRole('button', { name: 'Add', exact: true }).click();
  await admin.getByText('Show previews of links').click();
  await admin.getByRole('button', { name: 'Save' }).click();
  await expect(admin.getByTestId('toast').filter({ hasText: 'Link preview settings saved.' })).toBeVisible();
  await admin.reload();
  await expect(admin.getByTestId('allowlist')).toContainText('wiki.lan');
  expect(await admin.getByRole('switch').isChecked()).toBe(!was);
  await screenshot(admin, 'link-previews-desktop');
});
