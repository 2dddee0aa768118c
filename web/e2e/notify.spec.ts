import { test, expect, type Browser, type Page } from '@playwright/test';
import { startDaemon, type Daemon } from './daemon';
import { login, messages, screenshot, send } from './helpers';
import { call, createTextChannel, createUser, ok, post } from './admin-helpers';
import { axe } from './axe';

// Notifications people expect, with two users on the real daemon: the tab title and favicon
// badges (mentions, DMs, plain unread), the WebAudio chime (counted by wrapping AudioContext and
// OscillatorNode.start in an init script) and its off switch, the per-channel levels set from
// the header's bell and the sidebar's context menu, and every keyboard shortcut and the `?` sheet.
test.describe.configure({ mode: 'serial' });

let daemon: Daemon;
let admin: Page;
let bob: Page;
let bobId: string;
let general: { id: string };
let lounge: { id: string };
let quiet: { id: string };
let dmId: string;

/** Counts real WebAudio use: contexts made and oscillators started. */
function countAudio() {
  const w = window as unknown as { __audio: { contexts: number; starts: number }; AudioContext: typeof AudioContext };
  w.__audio = { contexts: 0, starts: 0 };
  const Base = w.AudioContext;
  w.AudioContext = class extends Base {
    constructor(...a: ConstructorParameters<typeof AudioContext>) {
      super(...a);
      w.__audio.contexts++;
    }
  };
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (this: OscillatorNode, ...a: Parameters<OscillatorNode['start']>) {
    w.__audio.starts++;
    return start.apply(this, a);
  };
}

async function userPage(browser: Browser, user: string, password: string, audio = false): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  if (audio) await ctx.addInitScript(countAudio);
  const page = await ctx.newPage();
  await login(page, daemon.url, user, password);
  return page;
}

const starts = (p: Page) => p.evaluate(() => (window as unknown as { __audio: { starts: number } }).__audio.starts);
const favicon = (p: Page) => p.locator('link[rel="icon"]');
const sidebar = (p: Page) => p.getByRole('navigation', { name: 'Channels and pages' });
const channelLink = (p: Page, name: string) => p.getByTestId('channel-list').getByRole('link', { name: new RegExp(`^#?\\s*${name}\\b`) });
/** Waits past the chime's once-a-second limit, so a ring that should come is not swallowed by it. */
const pastRingGap = (p: Page) => p.waitForTimeout(1100);

async function goto(p: Page, id: string) {
  await p.goto(`${daemon.url}/channels/${id}`);
  await expect(p.getByTestId('composer')).toBeVisible();
}

test.beforeAll(async ({ browser }) => {
  daemon = await startDaemon();
  admin = await userPage(browser, daemon.adminUser, daemon.adminPassword);
  bobId = (await createUser(admin, 'bob', 'bob-password-1')).id;
  const list = await ok<{ id: string; name: string }[]>(admin, 'GET', '/api/channels');
  general = list.find((c) => c.name === 'general')!;
  lounge = await createTextChannel(admin, 'lounge');
  quiet = await createTextChannel(admin, 'quiet');
  bob = await userPage(browser, 'bob', 'bob-password-1', true);
  dmId = (await ok<{ id: string }>(admin, 'POST', '/api/dms', { user_ids: [bobId] })).id;
});

test.afterAll(async () => {
  await bob?.context().close();
  await admin?.context().close();
  await daemon?.dispose();
});

test('a mention shows (1) in the title, badges the favicon and chimes; reading clears them', async () => {
  await goto(bob, lounge.id);
  await expect(bob).toHaveTitle('#lounge · Spot');
  const plainIcon = await favicon(bob).getAttribute('href');
  expect(plainIcon).toMatch(/^data:image\/png;base64,/);
  const before = await starts(bob);

  await post(admin, general.id, 'hey @bob, look at this');
  await expect(bob).toHaveTitle('(1) #lounge · Spot');
  await expect(favicon(bob)).toHaveAttribute('data-badge', 'count:1');
  expect(await favicon(bob).getAttribute('href')).not.toBe(plainIcon);
  await expect.poll(() => starts(bob)).toBeGreaterThan(before);
  await expect(channelLink(bob, 'general').getByTestId('mention-badge')).toHaveText('@1');
  await screenshot(bob, 'notify-mention-desktop');

  // Reading it clears the title and the icon.
  await channelLink(bob, 'general').click();
  await expect(bob).toHaveTitle('#general · Spot');
  await expect(favicon(bob)).toHaveAttribute('data-badge', 'none');
  expect(await favicon(bob).getAttribute('href')).toBe(plainIcon);
});

test('my own messages and the channel I am reading never chime; plain unread is a dot', async () => {
  await goto(bob, general.id);
  await pastRingGap(bob);
  const before = await starts(bob);
  await post(admin, general.id, '@bob in the channel you are reading');
  await expect(messages(bob, 'in the channel you are reading')).toHaveCount(1);
  await send(bob, 'my own @bob message');
  await bob.waitForTimeout(300);
  expect(await starts(bob)).toBe(before);
  await expect(bob).toHaveTitle('#general · Spot');

  // A plain message elsewhere: bold, a dot in the title and the icon, no number, no sound.
  await post(admin, lounge.id, 'just chatting');
  await expect(bob).toHaveTitle('• #general · Spot');
  await expect(favicon(bob)).toHaveAttribute('data-badge', 'dot');
  expect(await starts(bob)).toBe(before);
});

test('a DM counts and chimes, survives a reconnect, and reading it clears', async () => {
  await goto(bob, general.id);
  await pastRingGap(bob);
  const before = await starts(bob);
  await post(admin, dmId, 'psst, a direct message');
  await expect(bob).toHaveTitle(/^\(1\) #general · Spot$/);
  await expect(favicon(bob)).toHaveAttribute('data-badge', 'count:1');
  await expect.poll(() => starts(bob)).toBeGreaterThan(before);

  // The daemon restarts: after the reconnect the counts come from the box again.
  await daemon.restart();
  await expect(bob.getByTestId('reconnect-banner')).toBeHidden({ timeout: 30_000 });
  await post(admin, dmId, 'and another one');
  await expect(bob).toHaveTitle('(2) #general · Spot');
  await bob.getByTestId('dm-list').getByTestId('dm-link').first().click();
  await expect(messages(bob, 'and another one')).toHaveCount(1);
  await expect(bob).toHaveTitle(/^(• )?admin · Spot$/);
  await expect(favicon(bob)).not.toHaveAttribute('data-badge', /count/);
});

test('read, then left at once for another page: the box keeps it read (the debounced ack goes out as the page leaves)', async () => {
  const ch = await createTextChannel(admin, 'quickread');
  await post(admin, ch.id, 'read me and leave');
  await goto(bob, ch.id);
  await expect(messages(bob, 'read me and leave')).toHaveCount(1);
  // No pause: the read position is still inside its 400 ms debounce when the page goes (to a
  // page that does not show the channel, so nothing reads it again).
  await bob.goto(`${daemon.url}/settings`);
  const unread = () =>
    bob.evaluate(async (id) => {
      const list = (await (await fetch('/api/channels')).json()) as { id: string; unread_count: number }[];
      return list.find((c) => c.id === id)?.unread_count;
    }, ch.id);
  await expect.poll(unread).toBe(0);
});

test('the sound has an off switch in Settings', async () => {
  await bob.goto(`${daemon.url}/settings`);
  const sw = bob.getByLabel('Play a sound for mentions and direct messages');
  await expect(sw).toBeChecked();
  await sw.uncheck();
  await pastRingGap(bob);
  const before = await starts(bob);
  await post(admin, general.id, '@bob while the sound is off');
  await expect(bob).toHaveTitle(/^\(1\) Settings · Spot$/);
  await bob.waitForTimeout(300);
  expect(await starts(bob)).toBe(before);
  // It stays off after a reload (this device).
  await bob.reload();
  await expect(bob.getByLabel('Play a sound for mentions and direct messages')).not.toBeChecked();
  await bob.getByLabel('Play a sound for mentions and direct messages').check();
  await goto(bob, general.id);
});

test('`nothing` from the header bell: no count, no sound, shown muted', async () => {
  await goto(bob, general.id);
  const bell = bob.getByTestId('notify-level');
  await expect(bell).toHaveAccessibleName('Notifications: All messages');
  await bell.click();
  const menu = bob.getByRole('menu', { name: 'Notifications for #general' });
  await expect(menu).toBeVisible();
  await expect(menu.getByRole('menuitemradio', { name: /All messages/ })).toBeFocused();
  await axe(bob, 'the notification level menu');
  await screenshot(bob, 'notify-level-menu-desktop');
  // Keyboard: arrows move, Enter picks.
  await bob.keyboard.press('ArrowDown');
  await bob.keyboard.press('ArrowDown');
  await expect(menu.getByRole('menuitemradio', { name: /Nothing/ })).toBeFocused();
  await bob.keyboard.press('Enter');
  await expect(menu).toBeHidden();
  await expect(bell).toBeFocused();
  await expect(bell).toHaveAccessibleName('Notifications: Nothing');
  // Stored on the box.
  await expect
    .poll(async () => (await ok<{ id: string; notify: string }[]>(bob, 'GET', '/api/channels')).find((c) => c.id === general.id)?.notify)
    .toBe('nothing');

  await goto(bob, lounge.id);
  await pastRingGap(bob);
  const before = await starts(bob);
  await post(admin, general.id, '@bob you will not hear this');
  await post(admin, lounge.id, 'marker after the quiet mention');
  await expect(messages(bob, 'marker after the quiet mention')).toHaveCount(1);
  await bob.waitForTimeout(300);
  expect(await starts(bob)).toBe(before);
  await expect(bob).toHaveTitle('#lounge · Spot');
  const item = bob.getByTestId('channel-list').locator('li[data-notify="nothing"]');
  await expect(item).toHaveCount(1);
  await expect(item.getByTestId('mention-badge')).toHaveCount(0);
  await expect(item.getByTestId('notify-off')).toBeVisible();
  await expect(channelLink(bob, 'general')).toHaveAccessibleName(/notifications off/);
  await screenshot(bob, 'notify-sidebar-muted-desktop');
});

test('`mentions` from the sidebar context menu: plain messages are ignored, mentions count', async () => {
  await goto(bob, lounge.id);
  // The context menu by keyboard (Shift+F10 on the focused link).
  await channelLink(bob, 'quiet').focus();
  await bob.keyboard.press('Shift+F10');
  const menu = bob.getByRole('menu', { name: 'Notifications for #quiet' });
  await expect(menu).toBeVisible();
  await bob.keyboard.press('Escape');
  await expect(menu).toBeHidden();
  await expect(channelLink(bob, 'quiet')).toBeFocused();
  // And by right click.
  await channelLink(bob, 'quiet').click({ button: 'right' });
  await menu.getByRole('menuitemradio', { name: /Only mentions/ }).click();
  await expect(bob.getByTestId('channel-list').locator('li[data-notify="mentions"]')).toHaveCount(1);

  await pastRingGap(bob);
  const before = await starts(bob);
  await post(admin, quiet.id, 'a plain message in quiet');
  await post(admin, lounge.id, 'marker after the plain one');
  await expect(messages(bob, 'marker after the plain one')).toHaveCount(1);
  await bob.waitForTimeout(300);
  await expect(bob).toHaveTitle('#lounge · Spot');
  const item = bob.getByTestId('channel-list').locator('li[data-notify="mentions"]');
  await expect(item.getByTestId('unread-badge')).toHaveCount(0);
  expect(await starts(bob)).toBe(before);

  await post(admin, quiet.id, '@bob this one is for you');
  await expect(bob).toHaveTitle('(1) #lounge · Spot');
  await expect(item.getByTestId('mention-badge')).toHaveText('@1');
  await expect.poll(() => starts(bob)).toBeGreaterThan(before);
  await channelLink(bob, 'quiet').click();
  await expect(bob).toHaveTitle('#quiet · Spot');
});

test('Alt+↑/↓ move through the sidebar; Alt+Shift+↑/↓ to the next unread', async () => {
  await goto(bob, general.id);
  const order = await sidebar(bob)
    .locator('[data-testid="channel-link"], [data-testid="thread-link"], [data-testid="dm-link"]')
    .evaluateAll((els) => els.map((e) => (e as HTMLAnchorElement).pathname));
  const at = order.indexOf(`/channels/${general.id}`);
  expect(at).toBeGreaterThanOrEqual(0);
  await bob.getByTestId('composer').focus();
  await bob.keyboard.press('Alt+ArrowDown');
  await expect(bob).toHaveURL(new RegExp(`${order[(at + 1) % order.length]}$`));
  await bob.keyboard.press('Alt+ArrowUp');
  await expect(bob).toHaveURL(new RegExp(`/channels/${general.id}$`));
  await bob.keyboard.press('Alt+ArrowUp');
  await expect(bob).toHaveURL(new RegExp(`${order[(at - 1 + order.length) % order.length]}$`));

  // Unread in #lounge only: Alt+Shift+↓ goes straight there, skipping the others.
  await goto(bob, general.id);
  await post(admin, lounge.id, 'come over to lounge');
  await expect(channelLink(bob, 'lounge').getByTestId('unread-badge')).toHaveText('1');
  await bob.keyboard.press('Alt+Shift+ArrowDown');
  await expect(bob).toHaveURL(new RegExp(`/channels/${lounge.id}$`));
  await expect(messages(bob, 'come over to lounge')).toHaveCount(1);
  // Nothing else unread: it stays.
  await bob.keyboard.press('Alt+Shift+ArrowUp');
  await bob.waitForTimeout(200);
  await expect(bob).toHaveURL(new RegExp(`/channels/${lounge.id}$`));
});

test('Esc in an empty message box marks the channel read; ↑ edits my last message', async () => {
  await goto(bob, lounge.id);
  // Away from the window: new messages here stay unread.
  await bob.evaluate(() => {
    document.hasFocus = () => false;
    window.dispatchEvent(new Event('blur'));
  });
  await post(admin, lounge.id, 'while you were away');
  await expect(bob).toHaveTitle('• #lounge · Spot');
  const box = bob.getByTestId('composer');
  await box.fill('a draft');
  await box.press('Escape');
  await expect(bob).toHaveTitle('• #lounge · Spot');
  await box.fill('');
  await box.press('Escape');
  await expect(bob).toHaveTitle('#lounge · Spot');
  await expect
    .poll(async () => (await ok<{ id: string; unread_count: number }[]>(bob, 'GET', '/api/channels')).find((c) => c.id === lounge.id)?.unread_count)
    .toBe(0);
  await bob.evaluate(() => {
    delete (document as unknown as { hasFocus?: unknown }).hasFocus;
    window.dispatchEvent(new Event('focus'));
  });

  await send(bob, 'a message with a tpyo');
  await expect(messages(bob, 'a message with a tpyo')).toHaveCount(1);
  await box.press('ArrowUp');
  const edit = bob.locator('textarea[id^="edit-"]');
  await expect(edit).toBeFocused();
  await expect(edit).toHaveValue('a message with a tpyo');
  await edit.fill('a message with a typo fixed');
  await edit.press('Enter');
  await expect(messages(bob, 'a message with a typo fixed')).toHaveCount(1);
  // ↑ with text in the box moves the caret, as always.
  await box.fill('not empty');
  await box.press('ArrowUp');
  await expect(edit).toHaveCount(0);
  await box.fill('');
});

test('? opens the shortcut sheet outside text fields; Esc closes it; Settings has a button', async () => {
  await goto(bob, lounge.id);
  // Typed into the message box, "?" is text.
  const box = bob.getByTestId('composer');
  await box.focus();
  await bob.keyboard.type('why?');
  await expect(box).toHaveValue('why?');
  const sheet = bob.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await expect(sheet).toBeHidden();
  await box.fill('');
  await bob.getByRole('heading', { level: 1 }).click();
  await bob.keyboard.press('?');
  await expect(sheet).toBeVisible();
  await expect(sheet.getByText('Previous or next channel with unread messages')).toBeVisible();
  await expect(sheet.getByText('Mark the channel as read (with an empty message box)')).toBeVisible();
  await axe(bob, 'the keyboard shortcut sheet');
  await screenshot(bob, 'notify-shortcuts-desktop');
  await bob.keyboard.press('Escape');
  await expect(sheet).toBeHidden();
  // Esc closed the sheet and did nothing else.
  await expect(bob).toHaveURL(new RegExp(`/channels/${lounge.id}$`));

  await bob.goto(`${daemon.url}/settings`);
  await bob.getByRole('button', { name: 'Keyboard shortcuts' }).click();
  await expect(sheet).toBeVisible();
  await sheet.getByRole('button', { name: 'Close' }).click();
  await expect(sheet).toBeHidden();
  await expect(bob.getByRole('button', { name: 'Keyboard shortcuts' })).toBeFocused();
  await axe(bob, 'settings with the sound switch');
});

test('phone: the bell, the menu and the sheet fit', async ({ browser }) => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const phone = await ctx.newPage();
  await login(phone, daemon.url, 'bob', 'bob-password-1');
  // #quiet is at `mentions` for bob: a mention still counts.
  await post(admin, quiet.id, '@bob on the phone');
  await expect(phone).toHaveTitle(/^\(\d+\) /);
  await screenshot(phone, 'notify-sidebar-phone');
  await phone.goto(`${daemon.url}/channels/${lounge.id}`);
  await phone.getByTestId('notify-level').click();
  const menu = phone.getByRole('menu', { name: 'Notifications for #lounge' });
  await expect(menu).toBeVisible();
  const box = await menu.boundingBox();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(390);
  await screenshot(phone, 'notify-level-menu-phone');
  await phone.keyboard.press('Escape');
  await phone.goto(`${daemon.url}/settings`);
  await phone.getByRole('button', { name: 'Keyboard shortcuts' }).click();
  await expect(phone.getByRole('dialog', { name: 'Keyboard shortcuts' })).toBeVisible();
  await axe(phone, 'the shortcut sheet on a phone');
  await screenshot(phone, 'notify-shortcuts-phone');
  await ctx.close();
  // The other user's setting stays theirs.
  const r = await call<{ id: string; notify: string }[]>(admin, 'GET', '/api/channels');
  expect(r.body.find((c) => c.id === general.id)?.notify).toBe('all');
});
