// First-run setup (issue 9) against the real daemon in setup mode, with the real spot-helper on
// its simulated radio where Wi-Fi matters: the whole wizard on a phone and on a desktop, the
// error paths (weak password, wrong Wi-Fi password), a hidden network, the CA downloads, the
// switch to HTTPS, a second browser after the claim, an Imager preset, Admin → Network and the
// factory reset. Screenshots go to test-results/screenshots/setup-*.png.

import { chromium, expect, test, type Browser, type Download, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { axe } from './axe';
import { chromiumArgs, chromiumPath } from './chromium';
import { messages, screenshot as viewportShot, send } from './helpers';
import { startSetupBox, type SetupBox, type SimFile } from './setup-box';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 860 };
const GOOD_PW = 'Violet-Kettle-93-Orbit';
const WIFI_PW = 'right horse battery';

/** A box without a cable: it serves its setup access point at once. */
const AP_SIM: SimFile = {
  networks: [
    { ssid: 'HomeNet', signal_dbm: -48, security: 'wpa2', frequency: 2437, password: WIFI_PW },
    { ssid: 'Cafe', signal_dbm: -80, security: 'open', frequency: 2412 },
    { ssid: 'Attic', signal_dbm: -60, security: 'wpa2', frequency: 5180, password: 'attic stairs 42', hidden: true },
  ],
  ethernet: false,
  join_ms: 1500,
  address: '192.168.50.23',
  timing: { eth_grace_ms: 0 },
};

/** The whole page: wizard steps are taller than a phone screen. */
const screenshot = (page: Page, name: string) => viewportShot(page, name, { fullPage: true });

let box: SetupBox | null = null;
test.afterEach(async () => {
  await box?.dispose();
  box = null;
});

async function heading(page: Page, name: string | RegExp): Promise<void> {
  const h = page.getByRole('heading', { level: 2, name });
  await expect(h).toBeVisible();
}

/** Welcome → box name → account → time zone → claim. */
async function claimInWizard(page: Page, base: string, o: { user?: string; boxName?: string; shots?: string } = {}) {
  const shot = (n: string) => (o.shots ? screenshot(page, `setup-${o.shots}-${n}`) : Promise.resolve());
  await page.goto(base + '/');
  await expect(page).toHaveURL(/\/setup$/);
  await heading(page, 'Welcome to your Spot box');
  await expect(page.getByRole('navigation', { name: 'Setup steps' }).locator('[aria-current="step"]')).toContainText('Welcome');
  await shot('1-welcome');
  await page.getByRole('button', { name: 'Start' }).click();
  await heading(page, 'Name your box');
  await expect(page.locator('#step-title')).toBeFocused();
  await expect(page.getByLabel('Box name')).toHaveValue('spot');
  await expect(page.getByTestId('box-address')).toHaveText('http://spot.local');
  if (o.boxName) {
    await page.getByLabel('Box name').fill(o.boxName);
    await expect(page.getByTestId('box-address')).toHaveText('http://den-box.local');
  }
  await shot('2-name');
  await page.getByRole('button', { name: 'Next' }).click();
  await heading(page, 'Create the admin account');
  await page.getByLabel('User name').fill(o.user ?? 'anna');
  await page.getByLabel('Password', { exact: true }).fill(GOOD_PW);
  await expect(page.getByRole('meter', { name: 'Password strength' })).toHaveAttribute('aria-valuetext', 'Strong');
  await page.getByRole('button', { name: 'Next' }).click();
  await heading(page, 'Time zone');
  await page.getByLabel('Search time zones').fill('berlin');
  await page.getByRole('listbox', { name: 'Time zone' }).selectOption('Europe/Berlin');
  await expect(page.locator('#tz-now')).toContainText('Europe/Berlin: it is');
  await shot('4-timezone');
  await page.getByRole('button', { name: 'Create the account' }).click();
}

async function saved(d: Download): Promise<Buffer> {
  return readFileSync(await d.path());
}

for (const [label, viewport] of [
  ['phone', PHONE],
  ['desktop', DESKTOP],
] as const) {
  test(`the whole wizard over the setup Wi-Fi to the chat (${label})`, async ({ browser }) => {
    box = await startSetupBox({ sim: AP_SIM });
    const ctx = await browser.newContext({ viewport, acceptDownloads: true });
    const page = await ctx.newPage();
    await page.goto(box.url + '/');
    await expect(page).toHaveURL(/\/setup$/);
    await heading(page, 'Welcome to your Spot box');
    await axe(page, 'welcome');
    await screenshot(page, `setup-${label}-1-welcome`);
    await page.getByRole('button', { name: 'Start' }).click();
    await page.getByLabel('Box name').fill('Den box');
    await expect(page.getByTestId('box-address')).toHaveText('http://den-box.local');
    await screenshot(page, `setup-${label}-2-name`);
    await page.getByRole('button', { name: 'Next' }).click();

    // Weak passwords are refused in words, by the same rules as the box, before it is asked.
    await page.getByLabel('User name').fill('anna');
    const pw = page.getByLabel('Password', { exact: true });
    const meter = page.getByRole('meter', { name: 'Password strength' });
    await pw.fill('short1!');
    await page.getByRole('button', { name: 'Next' }).click();
    await heading(page, 'Create the admin account');
    await expect(pw).toBeFocused();
    await expect(pw).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByTestId('password-problems')).toContainText('Use at least 10 characters');
    await expect(meter).toHaveAttribute('aria-valuetext', /Not allowed: Use at least 10 characters/);
    await pw.fill('Password1!');
    await expect(page.getByTestId('password-problems')).toContainText('one of the most common passwords');
    await pw.fill('anna-is-great-42');
    await expect(page.getByTestId('password-problems')).toContainText('Do not use the user name');
    await axe(page, 'account step with errors');
    await screenshot(page, `setup-${label}-3-weak-password`);
    // Show/hide
    await page.getByRole('button', { name: 'Show password' }).click();
    await expect(pw).toHaveAttribute('type', 'text');
    await page.getByRole('button', { name: 'Hide password' }).click();
    await pw.fill(GOOD_PW);
    await expect(meter).toHaveAttribute('aria-valuenow', '4');
    await expect(page.getByTestId('password-strength')).toHaveText('Strong');
    await screenshot(page, `setup-${label}-3b-good-password`);
    await page.getByRole('button', { name: 'Next' }).click();

    await heading(page, 'Time zone');
    await page.getByLabel('Search time zones').fill('new york');
    await page.getByRole('listbox', { name: 'Time zone' }).selectOption('America/New_York');
    await page.getByLabel('Search time zones').fill('berlin');
    await page.getByRole('listbox', { name: 'Time zone' }).selectOption('Europe/Berlin');
    await screenshot(page, `setup-${label}-4-timezone`);
    await page.getByRole('button', { name: 'Create the account' }).click();

    // Wi-Fi: the box is on its own access point, so this step is required.
    await heading(page, 'Connect to Wi-Fi');
    await expect(page.locator('#step-title')).toBeFocused();
    const list = page.getByTestId('wifi-list');
    await expect(list.getByRole('radio', { name: /HomeNet/ })).toBeVisible();
    await expect(list.getByText('Attic')).toHaveCount(0); // hidden
    await expect(list.getByRole('radio', { name: /HomeNet/ })).toHaveAccessibleName(/HomeNet.*Excellent signal.*Secured \(WPA2\)/);
    await expect(list.getByRole('radio', { name: /Cafe/ })).toHaveAccessibleName(/Cafe.*Weak signal.*Open \(no password\)/);
    await list.getByRole('radio', { name: /HomeNet/ }).check();
    await page.getByLabel('Wi-Fi password for HomeNet').fill('wrong password here');
    await axe(page, 'Wi-Fi step');
    await screenshot(page, `setup-${label}-5-wifi`);
    await page.getByRole('button', { name: 'Join HomeNet' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Joining HomeNet…' })).toBeVisible();
    await expect(page.getByRole('progressbar', { name: 'Joining HomeNet' })).toBeVisible();
    await screenshot(page, `setup-${label}-5b-joining`);
    const err = page.getByTestId('wifi-error');
    await expect(err).toContainText('The password for “HomeNet” was not accepted', { timeout: 30_000 });
    await expect(err).toBeFocused();
    await screenshot(page, `setup-${label}-5c-wrong-wifi-password`);
    // The form is back; the right password joins.
    await expect(page.getByLabel('Wi-Fi password for HomeNet')).toBeVisible();
    await page.getByLabel('Wi-Fi password for HomeNet').fill(WIFI_PW);
    await page.getByRole('button', { name: 'Join HomeNet' }).click();
    const joined = page.getByTestId('wifi-joined');
    await expect(joined).toContainText('Spot is now on HomeNet at 192.168.50.23', { timeout: 30_000 });
    await expect(joined).toContainText(`Go back to your home Wi-Fi (HomeNet), then open http://den-box.local:${box.port} (or http://192.168.50.23:${box.port})`);
    await screenshot(page, `setup-${label}-5d-wifi-joined`);
    await page.getByRole('button', { name: 'Continue' }).click();

    // Secure connection: the CA downloads are real certificates.
    await heading(page, 'Secure connection');
    const ca = page.getByTestId('ca-instructions');
    await expect(ca.locator('details[data-os="linux"]')).toHaveAttribute('open', ''); // HeadlessChrome on Linux
    await expect(ca.locator('details').first()).toHaveAttribute('data-os', 'linux');
    const [pem] = await Promise.all([page.waitForEvent('download'), ca.getByTestId('ca-pem').first().click()]);
    expect((await saved(pem)).toString('utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    await ca.getByText('Android', { exact: true }).click();
    const [crt] = await Promise.all([page.waitForEvent('download'), ca.locator('details[data-os="android"]').getByTestId('ca-crt').click()]);
    const der = await saved(crt);
    expect(der[0], 'DER starts with a SEQUENCE').toBe(0x30);
    expect(der.length).toBeGreaterThan(300);
    await ca.getByText('iPhone and iPad', { exact: true }).click();
    const [mc] = await Promise.all([
      page.waitForEvent('download'),
      ca.locator('details[data-os="ios"]').getByTestId('ca-mobileconfig').click(),
    ]);
    const plist = (await saved(mc)).toString('utf8');
    expect(plist).toContain('<plist');
    expect(plist).toContain('com.apple.security.root');
    await axe(page, 'secure step');
    await screenshot(page, `setup-${label}-6-secure`);
    await page.getByRole('button', { name: 'Skip for now' }).click();

    await heading(page, 'Spot is ready');
    await expect(page.getByTestId('setup-urls')).toContainText('den-box.local');
    await expect(page.getByText('Voice chat needs HTTPS, which is off.')).toBeVisible();
    await screenshot(page, `setup-${label}-7-done`);
    await page.getByRole('button', { name: 'Open the chat' }).click();
    await expect(page).not.toHaveURL(/\/setup/);
    if (label === 'phone') await page.getByTestId('channel-list').getByRole('link', { name: 'general' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'general', exact: true })).toBeVisible();
    await send(page, 'Hello from the brand new box');
    await expect(messages(page, 'Hello from the brand new box')).toHaveCount(1);
    await screenshot(page, `setup-${label}-8-chat`);

    // The wizard is closed now, also for its admin.
    await page.goto(box.url + '/setup');
    await heading(page, 'This box is set up');

    // Admin → Network shows the joined Wi-Fi.
    await page.goto(box.url + '/admin/network');
    await expect(page.getByTestId('network-mode')).toHaveText('Connected to the Wi-Fi “HomeNet”');
    await expect(page.getByTestId('network-status')).toContainText('192.168.50.23');
    await expect(page.getByTestId('network-status')).toContainText('Excellent signal');
    await screenshot(page, `setup-${label}-9-admin-network`);
    await ctx.close();
  });
}

test('a hidden network, Admin → Network, then a factory reset (phone)', async ({ browser }) => {
  box = await startSetupBox({ sim: AP_SIM });
  const ctx = await browser.newContext({ viewport: PHONE });
  const page = await ctx.newPage();
  await claimInWizard(page, box.url);
  await heading(page, 'Connect to Wi-Fi');
  await page.getByRole('radio', { name: /Other network/ }).check();
  await page.getByLabel('Network name (SSID)').fill('Attic');
  await page.getByLabel('Wi-Fi password for Attic').fill('attic stairs 42');
  await screenshot(page, 'setup-phone-hidden-network');
  await page.getByRole('button', { name: 'Join Attic' }).click();
  await expect(page.getByTestId('wifi-joined')).toContainText('Spot is now on Attic at 192.168.50.23', { timeout: 30_000 });
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Skip for now' }).click();
  await page.getByRole('button', { name: 'Open the chat' }).click();
  await expect(page).not.toHaveURL(/\/setup/);

  // Admin → Network: forget the Wi-Fi, the box goes back to its setup access point.
  await page.goto(box.url + '/admin/network');
  await expect(page.getByTestId('network-mode')).toHaveText('Connected to the Wi-Fi “Attic”');
  await axe(page, 'admin network');
  await page.getByRole('button', { name: 'Forget Attic' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Forget' }).click();
  await expect(page.getByTestId('network-mode')).toContainText('Serving its own setup Wi-Fi “Spot-Setup-', { timeout: 20_000 });
  await screenshot(page, 'setup-phone-admin-network-forgotten');

  // Factory reset: the password again, a confirmation, then the words.
  await page.goto(box.url + '/admin/box');
  await expect(page.getByRole('heading', { name: 'Danger zone: factory reset' })).toBeVisible();
  await screenshot(page, 'setup-phone-factory-reset');
  await page.getByLabel('Your password').fill(GOOD_PW);
  await page.getByRole('button', { name: 'Erase everything and reset…' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Erase and reset' }).click();
  await expect(page.getByTestId('factory-reset-done')).toContainText(
    'The box is wiping its data and restarting; it will come back as a new box at http://spot.local/setup',
  );
  await screenshot(page, 'setup-phone-factory-reset-done');
  // It does come back new: the wizard again.
  await expect(async () => {
    await page.goto(box!.url + '/');
    await expect(page).toHaveURL(/\/setup$/, { timeout: 2000 });
    await heading(page, 'Welcome to your Spot box');
  }).toPass({ timeout: 30_000 });
  await ctx.close();
});

test('the box refuses a weak password in its own words; a second browser then finds setup closed (desktop)', async ({
  browser,
}) => {
  box = await startSetupBox();
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  // The box is the authority: whatever the page let through, its refusal is shown on the step.
  await page.route('**/api/setup/claim', async (route) => {
    const body = JSON.parse(route.request().postData() ?? '{}');
    await route.continue({ postData: JSON.stringify({ ...body, password: 'password123' }) });
  });
  await claimInWizard(page, box.url, { boxName: 'Den box' });
  await heading(page, 'Create the admin account');
  await expect(page.getByTestId('server-password-error')).toContainText('The box says: That is one of the most common passwords');
  await screenshot(page, 'setup-desktop-server-weak-password');
  await page.unroute('**/api/setup/claim');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Create the account' }).click();
  // Not managed by the box (no helper): no Wi-Fi step.
  await heading(page, 'Secure connection');
  await expect(page.getByTestId('setup-steps')).not.toContainText('Wi-Fi');

  // A second browser: the box is claimed, setup is closed, the chat asks to log in.
  const other = await browser.newContext({ viewport: PHONE });
  const p2 = await other.newPage();
  await p2.goto(box.url + '/setup');
  await heading(p2, 'Setup is closed');
  await expect(p2.getByText('Someone has already claimed this box.')).toBeVisible();
  await axe(p2, 'setup closed');
  await screenshot(p2, 'setup-phone-second-browser-closed');
  const r = await p2.request.post(box.url + '/api/setup/claim', {
    data: { box_name: 'x', username: 'mallory', password: GOOD_PW, timezone: 'UTC' },
    headers: { Origin: box.url },
  });
  expect(r.status()).toBe(409);
  expect((await r.json()).error.code).toBe('already_claimed');
  await p2.goto(box.url + '/');
  await expect(p2).toHaveURL(/\/login$/);

  // The admin finishes; a box whose network is not its own says so in Admin → Network.
  await page.getByRole('button', { name: 'Skip for now' }).click();
  await page.getByRole('button', { name: 'Open the chat' }).click();
  await page.goto(box.url + '/admin/network');
  await expect(page.getByTestId('network-unmanaged')).toContainText("This box's network is managed by its operating system");
  await screenshot(page, 'setup-desktop-admin-network-unmanaged');
  await p2.goto(box.url + '/setup');
  await heading(p2, 'This box is set up');
  await other.close();
  await ctx.close();
});

test('with an Imager preset the account step is skipped: sign in as its user (phone)', async ({ browser }) => {
  const hash = execFileSync('openssl', ['passwd', '-6', 'imager-pass-42'], { encoding: 'utf8' }).trim();
  box = await startSetupBox({
    preset: { admin: { username: 'pi-owner', password_hash: hash }, box_name: 'Den box', timezone: 'Europe/Paris' },
  });
  const ctx = await browser.newContext({ viewport: PHONE });
  const page = await ctx.newPage();
  await page.goto(box.url + '/');
  await expect(page).toHaveURL(/\/setup$/);
  await heading(page, 'Welcome to your Spot box');
  await expect(page.getByText('you will sign in as pi-owner')).toBeVisible();
  const steps = page.getByTestId('setup-steps');
  await expect(steps).not.toContainText('Admin account');
  await expect(steps).not.toContainText('Box name');
  await page.getByRole('button', { name: 'Start' }).click();
  await heading(page, 'Sign in as pi-owner');
  await expect(page.getByText('Sign in as pi-owner — the user you set in Raspberry Pi Imager')).toBeVisible();
  await expect(page.getByLabel('User name')).toHaveValue('pi-owner');
  await page.getByLabel('Password', { exact: true }).fill('not the password');
  await page.getByRole('button', { name: 'Sign in and continue' }).click();
  await expect(page.locator('#setup-login-error')).toBeVisible();
  await axe(page, 'preset sign-in');
  await screenshot(page, 'setup-phone-preset-signin');
  await page.getByLabel('Password', { exact: true }).fill('imager-pass-42');
  await page.getByRole('button', { name: 'Sign in and continue' }).click();
  await heading(page, 'Secure connection');
  await page.getByRole('button', { name: 'Skip for now' }).click();
  await page.getByRole('button', { name: 'Open the chat' }).click();
  await expect(page).not.toHaveURL(/\/setup/);
  await expect(page.getByRole('navigation', { name: 'Channels and pages' })).toBeVisible();
  // Done means done: the preset admin is not led back to the wizard.
  await page.goto(box.url + '/login');
  await expect(page).not.toHaveURL(/\/setup/);
  await ctx.close();
});

test('switching to HTTPS with the local CA, then finishing on the secure address (desktop)', async () => {
  box = await startSetupBox();
  // https_url names the box (NAME.local): resolve every .local name to this machine.
  const b: Browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [...chromiumArgs, '--host-resolver-rules=MAP *.local 127.0.0.1'],
  });
  try {
    const ctx = await b.newContext({ viewport: DESKTOP, ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    await claimInWizard(page, box.url, { shots: 'desktop-tls' });
    await heading(page, 'Secure connection');
    const since = box.lines();
    await page.getByRole('button', { name: 'Switch to HTTPS' }).click();
    await expect(page.getByTestId('tls-switching')).toContainText('Switching to HTTPS…');
    await expect(page.getByRole('progressbar', { name: 'Restarting the box with HTTPS' })).toBeVisible();
    await screenshot(page, 'setup-desktop-tls-switching');
    const https = await box.nextListening(since);
    expect(https).toMatch(/^https:\/\//);
    await page.waitForURL(/^https:\/\/[^/]+\.local:\d+\/setup$/, { timeout: 30_000 });
    // A new origin: sign in again there, then the wizard goes on where it was.
    await heading(page, 'Setup is closed');
    await page.getByLabel('User name').fill('anna');
    await page.getByLabel('Password', { exact: true }).fill(GOOD_PW);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading(page, 'Spot is ready');
    await expect(page.getByTestId('setup-urls')).toContainText('https://');
    await screenshot(page, 'setup-desktop-tls-done');
    await page.getByRole('button', { name: 'Open the chat' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'general', exact: true })).toBeVisible();
    expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
    await ctx.close();
  } finally {
    await b.close();
  }
});

test('the wizard works with the keyboard alone (phone)', async ({ browser }) => {
  box = await startSetupBox();
  const ctx = await browser.newContext({ viewport: PHONE });
  const page = await ctx.newPage();
  const kb = page.keyboard;
  await page.goto(box.url + '/setup');
  await heading(page, 'Welcome to your Spot box');
  // Tab to Start (the only control on the first step), Enter.
  await kb.press('Tab');
  await expect(page.getByRole('button', { name: 'Start' })).toBeFocused();
  await kb.press('Enter');
  // Each step moves focus to its heading; Tab reaches its first field, Enter submits the step.
  await expect(page.locator('#step-title')).toBeFocused();
  await expect(page.locator('#step-title')).toHaveText('Name your box');
  await kb.press('Tab');
  await expect(page.getByLabel('Box name')).toBeFocused();
  await kb.press('Enter');
  await expect(page.locator('#step-title')).toHaveText('Create the admin account');
  await kb.press('Tab');
  await kb.type('kim');
  await kb.press('Tab');
  await kb.type('short');
  await kb.press('Enter');
  // Refused in words, focus back on the password.
  await expect(page.getByLabel('Password', { exact: true })).toBeFocused();
  await expect(page.getByLabel('Password', { exact: true })).toHaveAccessibleDescription(/Use at least 10 characters/);
  await kb.press('Control+A');
  await kb.type(GOOD_PW);
  await kb.press('Enter');
  await expect(page.locator('#step-title')).toHaveText('Time zone');
  await kb.press('Tab');
  await kb.type('tokyo');
  await kb.press('Tab');
  await expect(page.getByRole('listbox', { name: 'Time zone' })).toBeFocused();
  await kb.press('ArrowDown');
  await expect(page.getByRole('listbox', { name: 'Time zone' })).toHaveValue('Asia/Tokyo');
  // Tab on to the submit button (past Back) and press it.
  const create = page.getByRole('button', { name: 'Create the account' });
  for (let i = 0; i < 4 && !(await create.evaluate((el) => el === document.activeElement)); i++) await kb.press('Tab');
  await expect(create).toBeFocused();
  await kb.press('Enter');
  await expect(page.locator('#step-title')).toHaveText('Secure connection');
  await expect(page.locator('#step-title')).toBeFocused();
  await ctx.close();
});
