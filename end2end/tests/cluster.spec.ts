import { test, expect } from '@playwright/test';
import { login } from './helpers';

test('create a cluster from the Cluster panel, follow the task, copy the join information', async ({ page }) => {
  await page.goto('/datacenter/cluster');
  await login(page);
  await expect(page).toHaveURL(/\/datacenter\/cluster$/);
  await expect(page.getByTestId('cluster-info')).toHaveText('Standalone node - no cluster defined');
  await expect(page.getByRole('button', { name: 'Join Information' })).toBeDisabled();

  await page.getByRole('button', { name: 'Create Cluster' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create Cluster' });
  await dialog.getByLabel('Cluster Name').fill('e2e');
  await expect(dialog.locator('select[name=link0] option').first()).not.toHaveText('');
  await dialog.getByRole('button', { name: 'Create' }).click();

  const viewer = page.getByRole('dialog', { name: 'Task viewer' });
  await expect(viewer.getByTestId('task-status')).toHaveText('stopped: OK', { timeout: 30_000 });
  await expect(viewer.getByTestId('task-log')).toContainText('TASK OK');
  await viewer.getByRole('button', { name: 'Close' }).click();

  await expect(page.getByTestId('cluster-info')).toContainText('Cluster Name: e2e');
  await expect(page.getByTestId('cluster-nodes')).toContainText('e2enode');
  await expect(page.getByTestId('tree-datacenter')).toHaveText('Datacenter (e2e)');
  await expect(page.getByRole('button', { name: 'Create Cluster' })).toBeDisabled();

  await page.getByRole('button', { name: 'Join Information' }).click();
  const info = page.getByRole('dialog', { name: 'Cluster Join Information' });
  const nodes = await (await page.request.get('/api2/json/nodes')).json();
  await expect(info.getByTestId('join-fingerprint')).toHaveValue(nodes.data[0].ssl_fingerprint);
  const encoded = await info.getByTestId('join-information').inputValue();
  const decoded = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  expect(decoded.totem.cluster_name).toBe('e2e');
  expect(decoded.fingerprint).toBe(nodes.data[0].ssl_fingerprint);
  expect(decoded.peerLinks['0']).toBe(decoded.ipAddress);
  await page.screenshot({ path: 'test-results/cluster-join-information.png' });

  // The task also shows in the bottom panel.
  await info.getByRole('button', { name: 'Close' }).click();
  await expect(page.locator('.logpanel')).toContainText('clustercreate e2e');
});
