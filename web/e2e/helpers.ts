import { expect, type Locator, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SHOTS = path.resolve(here, '../test-results/screenshots');

export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: opts.fullPage });
}

/** Sets a marker on window; it only survives as long as the page is not reloaded. */
export async function markPage(page: Page, value: string): Promise<void> {
  await page.evaluate((v) => {
    (window as unknown as { __spotMarker: string }).__spotMarker = v;
  }, value);
}

export async function expectMarker(page: Page, value: string): Promise<void> {
  expect(await page.evaluate(() => (window as unknown as { __spotMarker?: string }).__spotMarker)).toBe(value);
}

export async function login(page: Page, base: string, user: string, password: string): Promise<void> {
  await page.goto(base + '/login');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('navigation', { name: 'Channels and pages' })).toBeVisible();
}

export async function createChannel(page: Page, base: string, name: string, topic: string): Promise<void> {
  await page.goto(base + '/admin/channels');
  await page.getByLabel('Name', { exact: true }).first().fill(name);
  await page.getByLabel('Topic (optional)').fill(topic);
  await page.getByRole('button', { name: 'Create channel' }).click();
  await expect(page.getByTestId('channel-list').getByRole('link', { name: name })).toBeVisible();
}

export async function createInvite(page: Page, base: string): Promise<string> {
  await page.goto(base + '/admin/invites');
  await page.getByRole('button', { name: 'Create invite' }).click();
  const input = page.getByTestId('created-invite').getByRole('textbox');
  await expect(input).toHaveValue(/\/invite\/.+/);
  return input.inputValue();
}

export async function acceptInvite(
  page: Page,
  link: string,
  username: string,
  displayName: string,
  password: string,
): Promise<void> {
  await page.goto(link);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Display name').fill(displayName);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Repeat password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('navigation', { name: 'Channels and pages' })).toBeVisible();
}

export async function openChannel(page: Page, name: string): Promise<void> {
  await page.getByTestId('channel-list').getByRole('link', { name }).click();
  await expect(page.getByRole('heading', { level: 1, name, exact: true })).toBeVisible();
}

export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByTestId('composer');
  await box.fill(text);
  await box.press('Enter');
  await expect(box).toHaveValue('');
}

/** Delivered (server-acked) messages whose own content (not a reply quote) contains `text`. */
export function messages(page: Page, text: string): Locator {
  return page.getByTestId('message').filter({ has: page.getByTestId('message-content').filter({ hasText: text }) });
}

export function pending(page: Page, text?: string): Locator {
  const l = page.getByTestId('pending-message');
  return text ? l.filter({ hasText: text }) : l;
}
