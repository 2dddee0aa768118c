import { test, expect } from '@playwright/test';
import { startDaemon } from './daemon';
import { login, createChannel, openChannel, messages, screenshot } from './helpers';

test('scroll', async ({ page }) => {
  const d = await startDaemon();
  await login(page, d.url, d.adminUser, d.adminPassword);
  await createChannel(page, d.url, 'big', 't');
  await page.evaluate(async () => {
    const me = await (await fetch('/api/me')).json();
    const chans = await (await fetch('/api/channels')).json();
    for (let i = 1; i <= 130; i++) {
      await fetch(`/api/channels/${chans[0].id}/messages`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: JSON.stringify({ content: 'msg number ' + i }) });
    }
  });
  await page.goto(d.url + '/');
  await openChannel(page, 'big');
  await expect(messages(page, 'msg number 130')).toHaveCount(1);
  await expect(page.getByTestId('message')).toHaveCount(50);
  const list = page.getByTestId('message-list');
  const atBottom = await list.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
  console.log('distance from bottom', atBottom);
  await list.evaluate((el) => (el.scrollTop = 0));
  await expect(page.getByTestId('message')).toHaveCount(100);
  const top = await list.evaluate((el) => el.scrollTop);
  console.log('scrollTop after prepend', top);
  await list.evaluate((el) => (el.scrollTop = 0));
  await expect(page.getByTestId('message')).toHaveCount(130);
  await expect(page.getByText('This is the start of the channel.')).toBeVisible();
  await expect(page.getByTestId('jump-present')).toBeVisible();
  await page.getByTestId('jump-present').click();
  await expect(page.getByTestId('jump-present')).toHaveCount(0);
  // alt+down with one channel stays; keyboard tab reach
  await screenshot(page, 'scratch');
  await d.dispose();
});
