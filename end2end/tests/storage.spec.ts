import { test, expect, login, labRunner, allowConsoleError } from './helpers';

// Two corral nodes and an NFS server (rpcbind + Ganesha) in the project's lab (network
// namespaces, needs root); the browser reaches the nodes through the lab's host leg.
const SUBNET = '10.77.30';
const lab = labRunner('e2est', SUBNET, '/run/corral-lab/e2e-storage');
const n1 = `https://${SUBNET}.1:8006`;
const server = `${SUBNET}.200`;

test.beforeAll(() => {
  test.setTimeout(180_000);
  lab('purge');
  lab('up', '2');
  lab('cluster');
  lab('nfs', 'up');
});

test.afterAll(() => {
  lab('purge');
});

test('Datacenter → Storage → Add NFS: the scan fills Export, the storage shows on every node, live', async ({ page }) => {
  test.setTimeout(120_000);
  // The scan of a server that is not there fails on purpose.
  allowConsoleError(page, /status of 500 \(portmapper on 127\.0\.0\.1/);
  await page.goto(`${n1}/datacenter/storage`);
  await login(page);
  await expect(page).toHaveURL(/\/datacenter\/storage$/);
  await expect(page.getByTestId('storage-row-local')).toContainText('Directory');

  // A scan that fails says why, in the combo.
  await page.getByRole('button', { name: 'Add NFS' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add: NFS' });
  await dialog.locator('[name=storage]').fill('nfs1');
  await dialog.locator('[name=server]').fill('127.0.0.1');
  await dialog.locator('[name=export]').focus();
  await expect(dialog.getByTestId('scan-error')).toContainText('Scan failed');

  // The real server: its export appears in the combo and is chosen.
  await dialog.locator('[name=server]').fill(server);
  await dialog.locator('[name=export]').focus();
  await expect(dialog.locator('[name=export]').locator('option')).toHaveText(['/export']);
  await expect(dialog.locator('[name=export]')).toHaveValue('/export');
  await dialog.locator('[name=content]').selectOption(['images', 'iso']);
  await expect(dialog.getByText('All (No restrictions)')).toBeVisible();
  await dialog.getByRole('button', { name: 'Add' }).click();
  await expect(dialog).toBeHidden();

  const row = page.getByTestId('storage-row-nfs1');
  await expect(row).toContainText('NFS');
  await expect(row).toContainText('Disk image, ISO image');
  await expect(row).toContainText(`${server}:/export`);
  await expect(row.locator('td').nth(4)).toHaveText('Yes');
  await expect(row.locator('td').nth(5)).toHaveText('Yes');
  await page.screenshot({ path: '../docs/screenshots/datacenter-storage-1280.png' });

  // Each node lists it in the tree, available, without a reload.
  for (const node of ['n1', 'n2']) {
    await expect(page.getByTestId(`tree-storage-${node}-nfs1`)).toHaveAttribute('data-status', 'available', { timeout: 15_000 });
  }

  // Its Summary on n2 shows usage; its Content tab lists a volume made through the API.
  await page.getByTestId('tree-storage-n2-nfs1').getByRole('link').click();
  await expect(page).toHaveURL(/\/storage\/n2\/nfs1\/summary$/);
  await expect(page.getByTestId('storage-state')).toHaveText('available');
  await expect(page.getByTestId('storage-usage')).toContainText(' of ');
  const made = await page.request.post(`${n1}/api2/json/nodes/n2/storage/nfs1/content`, {
    form: { vmid: '100', filename: 'vm-100-disk-0.qcow2', size: '1G' },
    headers: { CSRFPreventionToken: await page.locator('meta[name=corral-csrf]').getAttribute('content') ?? '' },
  });
  expect(made.ok()).toBeTruthy();
  await page.getByRole('link', { name: 'Content' }).click();
  await expect(page.getByTestId('storage-content')).toContainText('nfs1:100/vm-100-disk-0.qcow2');
  await expect(page.getByTestId('storage-content')).toContainText('1.00 GiB');

  // The server loses power: the tree says unknown on both nodes, then available again.
  lab('nfs', 'poweroff');
  for (const node of ['n1', 'n2']) {
    await expect(page.getByTestId(`tree-storage-${node}-nfs1`)).toHaveAttribute('data-status', 'unknown', { timeout: 20_000 });
  }
  lab('nfs', 'poweron');
  for (const node of ['n1', 'n2']) {
    await expect(page.getByTestId(`tree-storage-${node}-nfs1`)).toHaveAttribute('data-status', 'available', { timeout: 20_000 });
  }

  // Edit (content) and Remove from the grid.
  await page.goto(`${n1}/datacenter/storage`);
  await page.getByTestId('storage-row-nfs1').click();
  await page.getByRole('button', { name: 'Edit' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit: NFS' });
  await expect(edit.locator('[name=storage]')).toHaveValue('nfs1');
  await edit.locator('[name=content]').selectOption(['images', 'iso', 'backup']);
  await edit.getByRole('button', { name: 'OK' }).click();
  await expect(page.getByTestId('storage-row-nfs1')).toContainText('Backup, Disk image, ISO image');
  await page.getByTestId('storage-row-nfs1').click();
  await page.getByRole('button', { name: 'Remove' }).click();
  await page.getByRole('dialog', { name: 'Remove storage' }).getByRole('button', { name: 'Remove' }).click();
  await expect(page.getByTestId('storage-row-nfs1')).toHaveCount(0);
});
