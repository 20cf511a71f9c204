import { Page } from '@playwright/test';
import { test, expect, login, labRunner } from './helpers';

// Three corral nodes and an NFS server in the project's lab (network namespaces, needs root).
// The admin watches from n3 while n1, which runs the HA guest, loses power.
const SUBNET = '10.77.33';
const lab = labRunner('e2eha', SUBNET, '/run/corral-lab/e2e-ha');
const n3 = `https://${SUBNET}.3:8006`;

test.beforeAll(() => {
  test.setTimeout(240_000);
  lab('purge');
  lab('up', '3');
  lab('cluster');
  lab('nfs', 'up');
});

test.afterAll(() => {
  lab('purge');
});

async function api(page: Page, method: 'POST' | 'PUT', path: string, form: Record<string, string>) {
  const csrf = await page.locator('meta[name=corral-csrf]').getAttribute('content') ?? '';
  const res = await page.request.fetch(`${n3}/api2/json${path}`, { method, form, headers: { CSRFPreventionToken: csrf } });
  expect(res.ok(), `${method} ${path}: ${res.status()} ${res.statusText()}`).toBeTruthy();
  return (await res.json()).data;
}

async function waitTask(page: Page, upid: string) {
  const node = upid.split(':')[1];
  await expect.poll(async () => {
    const res = await page.request.get(`${n3}/api2/json/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`);
    return (await res.json()).data?.exitstatus ?? 'running';
  }, { timeout: 120_000 }).toBe('OK');
}

test('Datacenter → HA: add a guest through the dialog, watch it move after a power loss, edit and remove it', async ({ page }) => {
  test.setTimeout(240_000);
  await page.goto(`${n3}/datacenter/ha`);
  await login(page);
  await expect(page).toHaveURL(/\/datacenter\/ha$/);
  await expect(page.getByTestId('ha-status-quorum')).toContainText('OK');
  await expect(page.getByTestId('ha-votes-hint')).toHaveCount(0);

  // A guest on shared storage, made through the API.
  await api(page, 'POST', '/storage', { storage: 'nfs1', type: 'nfs', server: `${SUBNET}.200`, export: '/export', content: 'images' });
  for (const node of ['n1', 'n2', 'n3']) {
    await expect(page.getByTestId(`tree-storage-${node}-nfs1`)).toHaveAttribute('data-status', 'available', { timeout: 30_000 });
  }
  await waitTask(page, await api(page, 'POST', '/nodes/n1/qemu', { vmid: '100', name: 'ha-guest', memory: '128', kvm: '0', scsi0: 'nfs1:1,format=qcow2' }));
  // A task of n1 shows in n3's bottom panel and opens in the task viewer, its log read from n1.
  const created = page.getByTestId('task-row').filter({ hasText: 'qmcreate 100' });
  await expect(created).toHaveAttribute('data-node', 'n1', { timeout: 15_000 });
  await expect(created).toContainText('OK');
  await created.click();
  const viewer = page.getByRole('dialog', { name: 'Task viewer' });
  await expect(viewer).toContainText('qmcreate 100');
  await expect(viewer.getByTestId('task-log')).toContainText('TASK OK');
  await viewer.getByRole('button', { name: 'Close' }).click();

  // Add: the VM list offers the unmanaged guest.
  await page.getByRole('button', { name: 'Add' }).click();
  const add = page.getByRole('dialog', { name: 'Add: Resource: Virtual Machine' });
  await expect(add.locator('[name=vmid] option')).toHaveText(['100 (ha-guest)']);
  await add.locator('[name=max_relocate]').fill('2');
  await add.locator('[name=comment]').fill('the seed guest');
  await add.getByRole('button', { name: 'Add' }).click();
  await expect(add).toBeHidden();
  const row = page.getByTestId('ha-row-vm:100');
  await expect(row).toHaveAttribute('data-state', 'started', { timeout: 30_000 });
  await expect(row).toHaveAttribute('data-node', 'n1');
  await expect(row).toContainText('ha-guest');
  await expect(row).toContainText('the seed guest');
  await expect(page.getByTestId('ha-status-lrm:n1')).toContainText('n1 (active, watchdog active');
  await expect(page.getByTestId('tree-guest-100')).toHaveAttribute('data-hastate', 'started');
  await page.screenshot({ path: '../docs/screenshots/datacenter-ha-1280.png' });

  // A second page of the admin's, on n3's Cluster panel, watches too.
  const cluster = await page.context().newPage();
  await cluster.goto(`${n3}/datacenter/cluster`);
  const n1Online = cluster.getByTestId('cluster-nodes').locator('tbody tr').filter({ has: cluster.getByRole('cell', { name: 'n1', exact: true }) }).getByTestId('node-online');
  await expect(n1Online).toHaveText('Yes');

  // n1 loses power: the panels show it offline and the service on another node, without a reload.
  lab('poweroff', 'n1');
  await expect(page.getByTestId('tree-node-n1').locator('.icon.node').first()).toHaveClass(/offline/, { timeout: 15_000 });
  await expect(n1Online).toHaveText('No', { timeout: 15_000 });
  await expect(page.getByTestId('tree-node-n1')).toHaveAttribute('data-status', 'offline');
  await cluster.close();
  await expect(row).not.toHaveAttribute('data-node', 'n1', { timeout: 60_000 });
  await expect(row).toHaveAttribute('data-state', 'started', { timeout: 30_000 });
  const target = await row.getAttribute('data-node');
  expect(['n2', 'n3']).toContain(target);
  await expect(page.getByTestId('ha-status-lrm:n1')).not.toHaveAttribute('data-node-state', 'online');
  await page.getByTestId('tab-cluster-log').click();
  await expect(page.getByTestId('cluster-log')).toContainText(`recover service 'vm:100' from fenced node 'n1' to node '${target}'`, { timeout: 15_000 });

  // The failover timeline tells it step by step: lost, fenced, recovery chosen, started.
  const timeline = page.getByTestId('ha-timeline');
  await expect(timeline.getByTestId('failover-vm:100')).toHaveText(`vm:100: n1 → ${target}`, { timeout: 15_000 });
  await expect(timeline.locator('tr[data-step]')).toHaveCount(4, { timeout: 15_000 });
  await expect(timeline.locator('tr[data-step]').first()).toContainText("node 'n1': state changed from 'online' => 'unknown'");
  await expect(timeline.locator('tr[data-step=started]')).toContainText(target!);
  await page.screenshot({ path: '../docs/screenshots/datacenter-ha-failover-1280.png', fullPage: true });

  // The guest's Summary on its new node says HA manages it.
  await page.getByTestId('tree-guest-100').getByRole('link').click();
  await expect(page).toHaveURL(new RegExp(`/qemu/${target}/100/summary$`));
  await expect(page.getByTestId('guest-status')).toHaveText('running', { timeout: 30_000 });
  await expect(page.getByTestId('guest-ha-state')).toHaveText('started');

  // Edit and Remove.
  // The Datacenter Summary counts it: one VM running, one HA service started, n1 offline.
  await page.getByRole('link', { name: 'Datacenter' }).first().click();
  await expect(page).toHaveURL(/\/datacenter\/summary$/);
  await expect(page.getByTestId('dc-vms-running')).toHaveText('1');
  await expect(page.getByTestId('dc-ha-services')).toHaveText('started: 1');
  await expect(page.getByTestId('dc-nodes-offline')).toHaveText('1');
  await expect(page.getByTestId('dc-node-n1')).toHaveAttribute('data-online', '0');
  await expect(page.getByTestId(`dc-node-${target}`)).toContainText(`${SUBNET}.`);
  await page.screenshot({ path: '../docs/screenshots/datacenter-summary-1280.png' });
  await page.getByRole('link', { name: 'HA', exact: true }).click();
  await page.getByTestId('ha-row-vm:100').click();
  await page.getByRole('button', { name: 'Edit' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit: Resource' });
  await expect(edit.locator('[name=sid]')).toHaveValue('vm:100');
  await expect(edit.locator('[name=max_relocate]')).toHaveValue('2');
  await edit.locator('[name=max_restart]').fill('3');
  await edit.getByRole('button', { name: 'OK' }).click();
  await expect(edit).toBeHidden();
  await expect(page.getByTestId('ha-row-vm:100').locator('td').nth(4)).toHaveText('3');
  await page.getByTestId('ha-row-vm:100').click();
  await page.getByRole('button', { name: 'Remove' }).click();
  await page.getByRole('dialog', { name: 'Remove HA resource' }).getByRole('button', { name: 'Remove' }).click();
  await expect(page.getByTestId('ha-row-vm:100')).toHaveCount(0);
  await expect(page.getByTestId('tree-guest-100')).toHaveAttribute('data-hastate', '');
});
