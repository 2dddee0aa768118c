import { test, expect, type Browser, type Page } from '@playwright/test';
import { writeFileSync } from 'node:fs';
import { startDaemon, type Daemon } from './daemon';
import { login, messages, screenshot } from './helpers';
import { call, createTextChannel, createUser, ok, post } from './admin-helpers';
import { axe } from './axe';

// Faces: the generated default avatar, role colours on names, hover/focus times of grouped
// messages, a picture uploaded with a crop (the box's copy seen live by others), and the
// profile card (roles, joined, Message opening the DM, a moderator's actions), on desktop and
// phone, against the real daemon.
test.describe.configure({ mode: 'serial' });

let daemon: Daemon;
let admin: Page;
let bob: Page;
let bobId: string;
let room: { id: string };

async function userPage(browser: Browser, user: string, password: string, phone = false): Promise<Page> {
  const ctx = await browser.newContext(
    phone ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true } : { viewport: { width: 1280, height: 860 } },
  );
  const page = await ctx.newPage();
  await login(page, daemon.url, user, password);
  return page;
}

/** A `w`×`h` PNG drawn by the browser: left half red, right half blue. */
async function halvesPng(page: Page, w: number, h: number): Promise<Buffer> {
  const b64 = await page.evaluate(
    ([w, h]) => {
      const c = document.createElement('canvas');
      c.width = w;
      c.height = h;
      const g = c.getContext('2d')!;
      g.fillStyle = '#e01010';
      g.fillRect(0, 0, w / 2, h);
      g.fillStyle = '#1010e0';
      g.fillRect(w / 2, 0, w / 2, h);
      return c.toDataURL('image/png').split(',')[1];
    },
    [w, h] as const,
  );
  return Buffer.from(b64, 'base64');
}

/** The middle pixel of an image the page can load (same origin, its cookie). */
async function middlePixel(page: Page, src: string): Promise<number[]> {
  return page.evaluate(async (src) => {
    const img = new Image();
    img.src = src;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d')!;
    g.drawImage(img, 0, 0);
    return [...g.getImageData(c.width / 2, c.height / 2, 1, 1).data.slice(0, 3), img.naturalWidth, img.naturalHeight];
  }, src);
}

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  admin = await userPage(browser, daemon.adminUser, daemon.adminPassword);
  bobId = (await createUser(admin, 'bob', 'bob-password-1')).id;
  room = await createTextChannel(admin, 'faces');
  const crew = await ok<{ id: string }>(admin, 'POST', '/api/admin/roles', { name: 'crew', color: '#2b8a3e', permissions: [] });
  await ok(admin, 'PUT', `/api/admin/users/${bobId}/roles`, { role_ids: [crew.id] });
  bob = await userPage(browser, 'bob', 'bob-password-1');
  await post(bob, room.id, 'first of a group');
  await post(bob, room.id, 'second of the group');
  await post(admin, room.id, 'hello @bob');
});

test.afterAll(async () => {
  await bob?.context().close();
  await admin?.context().close();
  await daemon?.dispose();
});

test('default avatars are initials on a colour; names take their role colour', async () => {
  await admin.goto(`${daemon.url}/channels/${room.id}`);
  const first = messages(admin, 'first of a group');
  const face = first.getByTestId('avatar');
  await expect(face).toHaveAttribute('data-kind', 'default');
  await expect(face.locator('text')).toHaveText('B');
  const fill = await face.locator('rect').getAttribute('fill');
  expect(fill).toMatch(/^#[0-9a-f]{6}$/);
  // The same colour wherever bob's face is drawn.
  const listFace = admin.getByTestId('member-list').locator('[data-username="bob"]').getByTestId('avatar');
  await expect(listFace.locator('rect')).toHaveAttribute('fill', fill!);

  // Bob's name is in crew's colour (made readable on the theme), in messages and the member list.
  const name = first.getByTestId('author-name');
  await expect(name).toHaveAttribute('data-colour', '#2b8a3e');
  const colour = await name.evaluate((el) => getComputedStyle(el).color);
  const adminName = await messages(admin, 'hello').getByTestId('author-name').evaluate((el) => getComputedStyle(el).color);
  expect(colour).not.toBe(adminName);
  const listName = admin.getByTestId('member-list').locator('[data-username="bob"] .name');
  expect(await listName.evaluate((el) => getComputedStyle(el).color)).toBe(colour);
  // A colour with too little contrast on the theme is shown darker there, not as is.
  expect(colour).not.toBe('rgb(43, 138, 62)');
});

test("a grouped message shows its time in the gutter on hover and on keyboard focus", async () => {
  const second = messages(admin, 'second of the group');
  await expect(second.getByTestId('avatar')).toHaveCount(0);
  const time = second.getByTestId('hover-time');
  await expect(time).toHaveCSS('opacity', '0');
  await second.hover();
  await expect(time).toHaveCSS('opacity', '1');
  await expect(time).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/);
  await expect(time).toHaveAttribute('title', /\d{4}/);
  await admin.mouse.move(5, 5);
  await expect(time).toHaveCSS('opacity', '0');
  // Keyboard: ↓ from the first message of the group to the second.
  await messages(admin, 'first of a group').focus();
  await admin.keyboard.press('ArrowDown');
  await expect(second).toBeFocused();
  await expect(time).toHaveCSS('opacity', '1');
  await screenshot(admin, 'faces-grouped-focus-desktop');
});

test('a picture uploaded with a crop becomes the box’s square copy, seen live by others', async () => {
  await bob.goto(daemon.url + '/settings');
  await expect(bob.getByRole('heading', { name: 'Picture' })).toBeVisible();
  await axe(bob, 'settings with the picture editor');
  const file = test.info().outputPath('face.png');
  writeFileSync(file, await halvesPng(bob, 400, 200));
  await bob.getByTestId('avatar-file').setInputFiles(file);
  const view = bob.getByTestId('crop-view');
  await expect(view).toBeVisible();
  await expect(bob.getByTestId('avatar-preview')).toHaveCount(3);
  // Keyboard: zoom in and out, then move the square all the way right (the blue half).
  await view.focus();
  await bob.keyboard.press('+');
  await bob.keyboard.press('-');
  for (let i = 0; i < 12; i++) await bob.keyboard.press('Shift+ArrowRight');
  await expect(bob.getByText('Using a square of 200 pixels, 200 from the left and 0 from the top.')).toBeAttached();
  await axe(bob, 'the crop view');
  await screenshot(bob, 'faces-crop-desktop');

  await bob.getByTestId('avatar-save').click();
  await expect(bob.getByTestId('avatar-status')).toHaveText(/saved/);
  await expect(bob.getByTestId('user-area').getByTestId('avatar')).toHaveAttribute('data-kind', 'picture');

  // Admin's open page shows the new face at once (user.update), the box's 64 px copy: all blue.
  const face = messages(admin, 'first of a group').getByTestId('avatar');
  await expect(face).toHaveAttribute('data-kind', 'picture');
  const src = await face.locator('img').getAttribute('src');
  expect(src).toMatch(/^\/api\/avatars\/(64|256)\/[0-9a-f]{32}\.(jpg|png)$/);
  const [r, g, b, w, h] = await middlePixel(admin, src!.replace(/\/(64|256)\//, '/256/'));
  expect([w, h]).toEqual([256, 256]);
  expect(b).toBeGreaterThan(180);
  expect(r).toBeLessThan(80);
  expect(g).toBeLessThan(80);
  await screenshot(admin, 'faces-picture-live-desktop');
});

test('a broken picture is refused in words', async () => {
  await bob.goto(daemon.url + '/settings');
  const file = test.info().outputPath('not-a-picture.png');
  writeFileSync(file, '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>');
  await bob.getByTestId('avatar-file').setInputFiles(file);
  await expect(bob.getByTestId('avatar-error')).toHaveText(/not a picture/);
  // The box refuses it too, whatever the browser would do.
  const r = await call(bob, 'PUT', '/api/me/avatar?x=0&y=0&side=50', {});
  expect(r.status).toBe(400);
});

test('the profile card: roles, joined, Esc returns focus, a moderator removes the picture, Message opens the DM', async () => {
  await admin.goto(`${daemon.url}/channels/${room.id}`);
  const name = messages(admin, 'first of a group').getByTestId('author-name');
  await name.click();
  const cardDlg = admin.getByRole('dialog', { name: 'bob', exact: true });
  await expect(cardDlg).toBeVisible();
  await expect(cardDlg).toContainText('@bob');
  await expect(cardDlg.getByTestId('role-chip')).toHaveText('crew');
  await expect(cardDlg).toContainText(/Joined \w+/);
  await expect(cardDlg.getByTestId('card-presence')).toHaveText('Online');
  await expect(cardDlg.getByTestId('avatar')).toHaveAttribute('data-kind', 'picture');
  await axe(admin, 'the profile card');
  await screenshot(admin, 'faces-card-desktop');
  await admin.keyboard.press('Escape');
  await expect(cardDlg).toBeHidden();
  await expect(name).toBeFocused();

  // Enter on a mention opens the same card.
  await messages(admin, 'hello').locator('.mention').focus();
  await admin.keyboard.press('Enter');
  await expect(cardDlg).toBeVisible();
  // The moderator's actions: remove the picture (bob sees his initials again), moderate.
  await cardDlg.getByTestId('card-remove-picture').click();
  await expect(cardDlg.getByTestId('avatar')).toHaveAttribute('data-kind', 'default');
  await expect(bob.getByTestId('user-area').getByTestId('avatar')).toHaveAttribute('data-kind', 'default');
  await cardDlg.getByTestId('card-moderate').click();
  const mod = admin.getByRole('dialog', { name: 'Moderate bob' });
  await expect(mod).toBeVisible();
  await admin.keyboard.press('Escape');
  await expect(mod).toBeHidden();
  const audit = await ok<{ action: string }[]>(admin, 'GET', '/api/admin/audit');
  expect(audit.map((e) => e.action)).toContain('user.avatar_remove');

  // Message: opens (creating) the DM with bob.
  await name.click();
  await cardDlg.getByTestId('card-message').click();
  await expect(cardDlg).toBeHidden();
  await expect(admin).toHaveURL(/\/channels\/\d+$/);
  await expect(admin.getByTestId('dm-list').getByRole('link', { name: /bob/ })).toBeVisible();

  // Bob is no moderator: his card of the admin has Message but no moderation.
  await bob.goto(`${daemon.url}/channels/${room.id}`);
  await messages(bob, 'hello').getByTestId('author-name').click();
  const adminCard = bob.getByRole('dialog', { name: /admin/i });
  await expect(adminCard.getByTestId('card-message')).toBeVisible();
  await expect(adminCard.getByTestId('card-moderate')).toHaveCount(0);
  await bob.keyboard.press('Escape');
});

test('Admin → Roles says how a colour is shown on each theme', async () => {
  await admin.goto(daemon.url + '/admin/roles');
  const row = admin.locator('[data-testid="role-row"][data-role="crew"]');
  await expect(row.getByTestId('colour-note')).toHaveText(/darker on the light theme and lighter on the dark/);
  await expect(row.getByLabel('Colour')).toHaveAttribute('aria-describedby', /role-color-note-/);
  await row.getByLabel('Colour').fill('#1d62a8');
  await expect(row.getByTestId('colour-note')).toHaveText(/as chosen on the light theme/);
  await screenshot(admin, 'faces-role-colour-desktop');
});

test('on a phone the card is a bottom sheet', async ({ browser }) => {
  const phone = await userPage(browser, 'bob', 'bob-password-1', true);
  await phone.goto(`${daemon.url}/channels/${room.id}`);
  await messages(phone, 'hello').getByTestId('author-name').click();
  const sheet = phone.getByTestId('profile-card');
  await expect(sheet).toBeVisible();
  const box = (await sheet.boundingBox())!;
  expect(Math.round(box.y + box.height)).toBe(844);
  expect(Math.round(box.width)).toBe(390);
  await axe(phone, 'the profile card on a phone');
  await screenshot(phone, 'faces-card-phone');
  await phone.keyboard.press('Escape');
  await expect(sheet).toBeHidden();
  await phone.goto(daemon.url + '/settings');
  await screenshot(phone, 'faces-settings-phone', { fullPage: true });
  await phone.context().close();
});
