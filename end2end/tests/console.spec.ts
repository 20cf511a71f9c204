import { Page } from '@playwright/test';
import { test, expect, login, PASSWORD, allowConsoleError } from './helpers';

/** Number of samples the usage graph plots right now. */
async function plotted(page: Page): Promise<number> {
  return Number(await page.locator('[data-testid=usage-chart] svg').getAttribute('data-samples'));
}

test('log in, find the node in the tree, open its summary with a live graph, reload the deep link', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?next=/);
  await login(page);
  await expect(page).toHaveURL(/\/datacenter\/summary$/);
  await expect(page.getByTestId('dc-cluster-status')).toHaveText('Standalone node - no cluster defined');
  await expect(page.getByTestId('dc-nodes-online')).toHaveText('1');
  await expect(page.getByTestId('current-user')).toHaveText('root@pam');

  const node = page.getByTestId('tree-node-e2enode');
  await expect(node).toBeVisible();
  await node.getByRole('link', { name: 'e2enode', exact: true }).click();
  await expect(page).toHaveURL(/\/node\/e2enode\/summary$/);
  await expect(page.getByRole('heading', { name: "Node 'e2enode'" })).toBeVisible();
  await expect(page.getByTestId('node-cpu')).toContainText('CPU(s)');
  await expect(page.getByTestId('node-mem')).toContainText('GiB');
  const nodes = await (await page.request.get('/api2/json/nodes')).json();
  await expect(page.getByTestId('node-fingerprint')).toHaveText(nodes.data[0].ssl_fingerprint);
  await expect(page.getByTestId('node-fingerprint')).toHaveText(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  await expect(page.locator('[data-testid=usage-chart] path.cpu')).toHaveAttribute('d', /^M\d+\.\d,\d+\.\d/);
  await expect(page.getByTestId('usage-chart')).toContainText('Hour (average)');
  await expect(page.getByTestId('usage-chart')).toContainText('-69 min');
  expect(await plotted(page)).toBeGreaterThan(0);

  // The graph follows the node without a reload: each pushed sample asks for the rows again.
  await expect(page.getByTestId('live-mode')).toHaveText('live');
  await page.waitForRequest((r) => r.url().includes('/api2/json/nodes/e2enode/rrddata?timeframe=hour'), { timeout: 20_000 });

  // PVE's timeframe menu: another archive, another axis.
  await page.getByTestId('rrd-timeframe').selectOption({ label: 'Day (maximum)' });
  await expect(page.getByTestId('usage-chart')).toContainText('Day (maximum)');
  await expect(page.getByTestId('usage-chart')).toContainText('-34 h');
  await expect.poll(() => plotted(page)).toBeGreaterThan(0);
  await page.getByTestId('rrd-timeframe').selectOption({ label: 'Hour (average)' });

  await page.reload();
  await expect(page).toHaveURL(/\/node\/e2enode\/summary$/);
  await expect(page.getByTestId('node-uptime')).not.toBeEmpty();
  await expect(page.locator('[data-testid=usage-chart] path.cpu')).toHaveAttribute('d', /\d/);
  await page.screenshot({ path: '../docs/screenshots/node-summary-1280.png' });
});

test('a deep link survives the login round trip, and tabs change the URL', async ({ page }) => {
  await page.goto('/node/e2enode/network');
  await expect(page).toHaveURL(/\/login\?next=%2Fnode%2Fe2enode%2Fnetwork/);
  await login(page);
  await expect(page).toHaveURL(/\/node\/e2enode\/network$/);
  await expect(page.getByTestId('node-network')).toContainText('127.0.0.1/8');
  await page.getByRole('link', { name: 'Summary' }).click();
  await expect(page).toHaveURL(/\/node\/e2enode\/summary$/);
  await expect(page.getByTestId('node-status')).toBeVisible();
});

test('a login link cannot send the browser to another site', async ({ page }) => {
  // Browsers read "/\\evil.example" like "//evil.example".
  await page.goto('/login?next=%2F%5Cevil.example%2F');
  await login(page);
  await expect(page).toHaveURL(/^https:\/\/127\.0\.0\.1:\d+\/datacenter\/summary$/);
});

test('a wrong password is refused on the page', async ({ page }) => {
  // The refused login itself is a failed request in the console, on purpose.
  allowConsoleError(page, /status of 401 \(authentication failure\)/);
  await page.goto('/login');
  await login(page, 'not-the-password');
  await expect(page.getByRole('alert')).toHaveText('Login failed. Please try again');
  await expect(page).toHaveURL(/\/login/);
});

test('the cluster log shows the login, and logout ends the session', async ({ page }) => {
  await page.goto('/login');
  await login(page);
  await expect(page).toHaveURL(/\/datacenter\/summary$/);
  await page.getByTestId('tab-cluster-log').click();
  await expect(page.getByTestId('cluster-log')).toContainText("successful auth for user 'root@pam'");
  await page.getByRole('button', { name: 'Logout' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/datacenter/summary');
  await expect(page).toHaveURL(/\/login\?next=/);
});

test('usable at 1024 pixels wide', async ({ page }) => {
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.goto('/login');
  await login(page);
  await page.getByTestId('tree-node-e2enode').getByRole('link', { name: 'e2enode', exact: true }).click();
  await expect(page.getByTestId('usage-chart')).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: '../docs/screenshots/node-summary-1024.png' });
});

test('a guest created through the API appears under its node in the tree, without a reload', async ({ page, request }) => {
  await page.goto('/');
  await login(page);
  await expect(page.getByTestId('tree-node-e2enode')).toBeVisible();
  const ticket = await request.post('/api2/json/access/ticket', { form: { username: 'root@pam', password: PASSWORD } });
  const { data } = await ticket.json();
  const auth = { Cookie: `PVEAuthCookie=${data.ticket}`, CSRFPreventionToken: data.CSRFPreventionToken };
  const created = await request.post('/api2/json/nodes/e2enode/qemu', { headers: auth, form: { vmid: '4242', name: 'tree-vm' } });
  expect(created.ok()).toBeTruthy();
  const guest = page.getByTestId('tree-node-e2enode').getByTestId('tree-guest-4242');
  await expect(guest).toHaveText('4242 (tree-vm)', { timeout: 20_000 });
  await expect(guest).toHaveAttribute('title', 'stopped');
});

test('the Create VM wizard makes and starts a guest; its panel stops and removes it', async ({ page }) => {
  await page.goto('/');
  await login(page);
  await page.getByRole('button', { name: 'Create VM' }).click();
  const wizard = page.getByRole('dialog', { name: 'Create: Virtual Machine' });
  await expect(wizard.locator('[name=vmid]')).not.toHaveValue('');
  await wizard.locator('[name=vmid]').fill('4300');
  await wizard.locator('[name=name]').fill('wizard-vm');
  await wizard.getByRole('button', { name: 'Next' }).click();
  await wizard.locator('[name=storage]').selectOption('local');
  await wizard.locator('[name=size]').fill('1');
  await wizard.getByRole('button', { name: 'Next' }).click();
  await wizard.locator('[name=kvm]').uncheck();
  await wizard.getByRole('button', { name: 'Next' }).click();
  await wizard.locator('[name=memory]').fill('64');
  await wizard.getByRole('button', { name: 'Next' }).click();
  await wizard.getByRole('button', { name: 'Next' }).click();
  await expect(wizard.getByTestId('wizard-confirm')).toContainText('local:1,format=qcow2');
  await wizard.locator('[name=start]').check();
  await wizard.getByRole('button', { name: 'Finish' }).click();
  await expect(page.getByTestId('task-status')).toHaveText('stopped: OK', { timeout: 30_000 });
  await expect(page.getByTestId('task-log')).toContainText('VM 4300 started');
  await page.getByRole('button', { name: 'Close' }).click();

  const leaf = page.getByTestId('tree-guest-4300');
  await expect(leaf).toHaveAttribute('data-status', 'running', { timeout: 15_000 });
  await leaf.getByRole('link').click();
  await expect(page).toHaveURL(/\/qemu\/e2enode\/4300\/summary$/);
  await expect(page.getByTestId('guest-status')).toHaveText('running');
  await expect.poll(async () => Number(await page.locator('[data-testid=guest-graph] svg').getAttribute('data-samples')), { timeout: 20_000 }).toBeGreaterThan(0);
  await page.getByRole('link', { name: 'Hardware' }).click();
  await expect(page.getByTestId('guest-hardware')).toContainText('local:4300/vm-4300-disk-0.qcow2');
  await page.screenshot({ path: '../docs/screenshots/guest-hardware-1280.png' });

  await page.getByTestId('guest-toolbar').getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByTestId('task-status')).toHaveText('stopped: OK', { timeout: 30_000 });
  await page.getByRole('button', { name: 'Close' }).click();
  await expect(leaf).toHaveAttribute('data-status', 'stopped', { timeout: 15_000 });
  await page.getByTestId('guest-toolbar').getByRole('button', { name: 'Remove' }).click();
  await page.getByRole('dialog', { name: 'Remove guest' }).getByRole('button', { name: 'Remove' }).click();
  await expect(page.getByTestId('task-status')).toHaveText('stopped: OK', { timeout: 30_000 });
  await page.getByRole('button', { name: 'Close' }).click();
  await expect(leaf).toHaveCount(0, { timeout: 15_000 });
});
