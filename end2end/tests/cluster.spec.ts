import { Locator, Page } from '@playwright/test';
import { test, expect, login, watchErrors } from './helpers';
import { joinerURL } from '../playwright.config';

test('create a cluster from the Cluster panel, follow the task, copy the join information', async ({ page }) => {
  await page.goto('/datacenter/cluster');
  await login(page);
  await expect(page).toHaveURL(/\/datacenter\/cluster$/);
  await expect(page.getByTestId('cluster-info')).toHaveText('Standalone node - no cluster defined');
  await expect(page.getByRole('button', { name: 'Join Information' })).toBeDisabled();

  await page.getByRole('button', { name: 'Create Cluster' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create Cluster' });
  await dialog.getByLabel('Cluster Name').fill('e2e');
  await expect(dialog.locator('input[name=link0]')).toHaveValue('127.0.0.1');
  await dialog.getByRole('button', { name: 'Create' }).click();

  const viewer = page.getByRole('dialog', { name: 'Task viewer' });
  await expect(viewer.getByTestId('task-status')).toHaveText('stopped: OK', { timeout: 30_000 });
  await expect(viewer.getByTestId('task-log')).toContainText('TASK OK');
  await viewer.getByRole('button', { name: 'Close' }).click();

  await expect(page.getByTestId('cluster-info')).toContainText('Cluster Name: e2e');
  await expect(page.getByTestId('cluster-nodes')).toContainText('e2enode');
  await expect(page.getByTestId('cluster-warning')).toContainText('HA needs at least three quorum votes');
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
  expect(decoded.peerLinks['0']).toBe('127.0.0.1');
  expect(decoded.ipAddress).toBe(new URL(page.url()).host);
  await page.screenshot({ path: '../docs/screenshots/cluster-join-information.png' });

  // The task also shows in the bottom panel.
  await info.getByRole('button', { name: 'Close' }).click();
  await expect(page.locator('.logpanel')).toContainText('clustercreate e2e');
});

test('join a second node by pasting the join information; its session keeps working', async ({ page, browser }) => {
  // The join information, as an admin copies it from the cluster node's Join Information window.
  await page.goto('/datacenter/cluster');
  await login(page);
  await page.getByRole('button', { name: 'Join Information' }).click();
  const encoded = await page.getByRole('dialog', { name: 'Cluster Join Information' }).getByTestId('join-information').inputValue();

  const joinerContext = await browser.newContext({ ignoreHTTPSErrors: true, baseURL: joinerURL });
  const joiner = await joinerContext.newPage();
  const joinerErrors: string[] = [];
  watchErrors(joiner, joinerErrors);
  await joiner.goto('/datacenter/cluster');
  await login(joiner);
  await expect(joiner.getByTestId('cluster-info')).toHaveText('Standalone node - no cluster defined');
  await joiner.getByRole('button', { name: 'Join Cluster' }).click();
  const dialog = joiner.getByRole('dialog', { name: 'Cluster Join' });
  await dialog.getByLabel('Information').fill('not join information');
  await expect(dialog.getByText('Does not seem like a valid encoded Cluster Information!')).toBeVisible();
  await dialog.getByLabel('Information').fill(encoded);
  const decoded = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  await expect(dialog.getByLabel('Peer Address')).toHaveValue(decoded.ipAddress);
  await expect(dialog.getByLabel('Fingerprint')).toHaveValue(decoded.fingerprint);
  await expect(dialog.locator('input[name=link0]')).toHaveValue('127.0.0.2');
  await dialog.getByLabel('Password').fill('e2e-root-pw');
  // Every state the joiner's tree shows for the cluster node from now on: a node not heard from
  // yet is "unknown", never "offline".
  await joiner.evaluate(() => {
    const seen: string[] = [];
    (window as any).__peerStates = seen;
    const record = () => {
      const state = document.querySelector('[data-testid=tree-node-e2enode]')?.getAttribute('data-status');
      if (state && seen[seen.length - 1] !== state) seen.push(state);
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
  });
  await dialog.getByRole('button', { name: "Join 'e2e'" }).click();

  const viewer = joiner.getByRole('dialog', { name: 'Task viewer' });
  await expect(viewer.getByTestId('task-status')).toHaveText('stopped: OK', { timeout: 60_000 });
  await expect(viewer.getByTestId('task-log')).toContainText('Joined cluster');
  await viewer.getByRole('button', { name: 'Close' }).click();

  // No reload: the panel, the node list and the tree follow, and the session still works.
  await expect(joiner.getByTestId('cluster-info')).toContainText('Cluster Name: e2e');
  await expect(joiner.getByTestId('cluster-nodes')).toContainText('e2ejoiner');
  const peerRow = joiner.getByTestId('cluster-nodes').locator('tbody tr').filter({ has: joiner.getByRole('cell', { name: 'e2enode', exact: true }) });
  await expect(peerRow).toContainText('Yes', { timeout: 20_000 });
  // Gossip's round trip to the peer and the peer's version.
  await expect(peerRow.getByTestId('node-latency')).toHaveText(/^\d+\.\d\d ms$/, { timeout: 20_000 });
  await expect(peerRow).toContainText('0.1.0');
  await expect(joiner.getByTestId('tree-node-e2enode')).toHaveAttribute('data-status', 'online', { timeout: 20_000 });
  const peerStates: string[] = await joiner.evaluate(() => (window as any).__peerStates);
  expect(peerStates, 'the cluster node as the joiner\'s tree showed it after the join').not.toContain('offline');
  expect(peerStates[peerStates.length - 1]).toBe('online');
  await expect(joiner.getByTestId('tree-node-e2ejoiner')).toBeVisible();
  await expect(joiner.getByTestId('tree-datacenter')).toHaveText('Datacenter (e2e)');
  await joiner.getByRole('link', { name: 'Summary' }).click();
  await expect(joiner.getByTestId('dc-nodes-online')).toHaveText('2', { timeout: 20_000 });
  await joiner.screenshot({ path: 'test-results/joined-node.png' });

  // And the cluster node sees the joiner without a reload either.
  await page.getByRole('dialog', { name: 'Cluster Join Information' }).getByRole('button', { name: 'Close' }).click();
  await expect(page.getByTestId('tree-node-e2ejoiner')).toBeVisible({ timeout: 20_000 });
  await joinerContext.close();
  expect(joinerErrors, "the joiner's page errors and console errors").toEqual([]);
});

/** Rows with a value in the graph under `scope`. */
async function plotted(scope: Page | Locator): Promise<number> {
  return Number(await scope.locator('[data-testid=usage-chart] svg').getAttribute('data-samples'));
}

test('every deep link reloads; tree → node → Datacenter → Cluster; a remote node and its storage have graphs', async ({ page }) => {
  await page.goto('/datacenter/summary');
  await login(page);
  await expect(page.getByTestId('dc-health')).toBeVisible();
  const links: [string, string][] = [
    ['/datacenter/summary', 'dc-health'],
    ['/datacenter/cluster', 'cluster-nodes'],
    ['/datacenter/storage', 'storage-grid'],
    ['/datacenter/ha', 'ha-status-panel'],
    ['/node/e2enode/summary', 'node-status'],
    ['/node/e2enode/network', 'node-network'],
    ['/node/e2ejoiner/summary', 'node-status'],
    ['/node/e2ejoiner/network', 'node-network'],
    ['/storage/e2enode/local/summary', 'storage-summary'],
    ['/storage/e2ejoiner/local/summary', 'storage-summary'],
  ];
  for (const [link, testid] of links) {
    await page.goto(link);
    await expect(page.getByTestId(testid), link).toBeVisible();
    await page.reload();
    await expect(page).toHaveURL(new RegExp(`${link}$`));
    await expect(page.getByTestId(testid), `${link} after a reload`).toBeVisible();
  }
  for (const node of ['e2enode', 'e2ejoiner']) {
    await page.goto(`/storage/${node}/local/content`);
    await page.reload();
    await expect(page.getByTestId('storage-content').or(page.getByTestId('storage-content-empty'))).toBeVisible();
  }
  // The joiner's storage graph, measured there, asked for here.
  await page.goto('/storage/e2ejoiner/local/summary');
  await expect.poll(() => plotted(page.getByTestId('storage-graph')), { timeout: 20_000 }).toBeGreaterThan(0);

  // By clicks, from a fresh load: tree → the other node → Datacenter → Cluster.
  await page.goto('/datacenter/summary');
  await page.getByTestId('tree-node-e2ejoiner').getByRole('link', { name: 'e2ejoiner', exact: true }).click();
  await expect(page).toHaveURL(/\/node\/e2ejoiner\/summary$/);
  await expect(page.getByTestId('node-uptime')).not.toBeEmpty();
  await expect.poll(() => plotted(page), { timeout: 20_000 }).toBeGreaterThan(0);
  await page.getByTestId('tree-datacenter').click();
  await expect(page).toHaveURL(/\/datacenter\/summary$/);
  await expect(page.getByTestId('dc-nodes-online')).toHaveText('2');
  await page.getByRole('tab').getByRole('link', { name: 'Cluster', exact: true }).click();
  await expect(page).toHaveURL(/\/datacenter\/cluster$/);
  await expect(page.getByTestId('cluster-nodes')).toContainText('e2ejoiner');
  await page.getByTestId('tree-node-e2enode').getByRole('link', { name: 'e2enode', exact: true }).click();
  await expect(page.getByTestId('node-status')).toBeVisible();
});
