import { request, APIRequestContext } from '@playwright/test';
import { spawn, ChildProcess } from 'node:child_process';
import { test, expect, login, PASSWORD } from './helpers';

// Two nodes of our own (the others belong to the other projects): a cluster that loses one of
// its two nodes, and the admin forcing expected votes from the Cluster panel.
const survivorURL = 'https://127.0.0.4:18010';
const goneURL = 'https://127.0.0.5:18011';
const nodes: ChildProcess[] = [];

function startNode(port: string, name: string, ip: string): ChildProcess {
  const child = spawn('./start-node.sh', [port, name, ip], { stdio: 'ignore' });
  nodes.push(child);
  return child;
}

async function api(base: string): Promise<APIRequestContext> {
  const ctx = await request.newContext({ baseURL: base, ignoreHTTPSErrors: true });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const resp = await ctx.post('/api2/json/access/ticket', { form: { username: 'root@pam', password: PASSWORD } });
      if (resp.ok()) {
        const { data } = await resp.json();
        const authed = await request.newContext({
          baseURL: base,
          ignoreHTTPSErrors: true,
          extraHTTPHeaders: { Cookie: `PVEAuthCookie=${data.ticket}`, CSRFPreventionToken: data.CSRFPreventionToken },
        });
        await ctx.dispose();
        return authed;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${base} did not come up`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitTask(ctx: APIRequestContext, upid: string) {
  const node = upid.split(':')[1];
  await expect.poll(async () => (await (await ctx.get(`/api2/json/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`)).json()).data.exitstatus, { timeout: 60_000 }).toBe('OK');
}

test.afterAll(() => {
  for (const n of nodes) n.kill('SIGKILL');
});

test('a node left alone has no quorum; forcing expected votes from the Cluster panel makes it writable', async ({ page }) => {
  startNode('18010', 'e2esurvivor', '127.0.0.4');
  const gone = startNode('18011', 'e2egone', '127.0.0.5');
  const s = await api(survivorURL);
  const g = await api(goneURL);
  const created = await (await s.post('/api2/json/cluster/config', { form: { clustername: 'rescue', link0: '127.0.0.4' } })).json();
  await waitTask(s, created.data);
  const fingerprint = (await (await s.get('/api2/json/nodes')).json()).data[0].ssl_fingerprint;
  const joined = await (await g.post('/api2/json/cluster/config/join', {
    form: { hostname: '127.0.0.4:18010', fingerprint, password: PASSWORD, link0: '127.0.0.5' },
  })).json();
  await waitTask(g, joined.data);

  gone.kill('SIGKILL'); // power loss of the other node
  await page.goto(`${survivorURL}/datacenter/cluster`);
  await login(page);
  await expect(page.getByTestId('no-quorum')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('cluster-quorum')).toContainText('Quorate: No');
  await expect(page.getByTestId('cluster-quorum')).toContainText('Expected Votes: 2');
  const goneRow = page.getByTestId('cluster-nodes').locator('tbody tr').filter({ has: page.getByRole('cell', { name: 'e2egone', exact: true }) });
  await expect(goneRow).toContainText('No');
  await expect(goneRow.getByTestId('node-version')).toHaveAttribute('title', 'last known, the node is offline');

  await page.getByRole('button', { name: 'Expected Votes' }).click();
  const dialog = page.getByRole('dialog', { name: 'Expected Votes' });
  await expect(dialog).toContainText('Unsafe recovery');
  const submit = dialog.getByRole('button', { name: 'Set expected votes' });
  await expect(submit).toBeDisabled();
  await dialog.getByLabel('Expected votes').fill('1');
  await dialog.getByLabel('I understand the risk').check();
  await submit.click();

  await expect(dialog).toBeHidden();
  await expect(page.getByTestId('no-quorum')).toBeHidden({ timeout: 20_000 });
  await expect(page.getByRole('button', { name: 'Expected Votes' })).toBeDisabled();
  await expect(page.getByTestId('cluster-quorum')).toContainText('Quorate: Yes    Expected Votes: 1    Store Leader: e2esurvivor');
  await page.getByTestId('tab-cluster-log').click();
  await expect(page.locator('.logpanel')).toContainText('expected votes forced to 1', { timeout: 20_000 });
  const token = await s.post('/api2/json/access/users/root@pam/token/after-rescue', { form: { privsep: '0' } });
  expect(token.status()).toBe(200);
  await page.screenshot({ path: 'test-results/expected-votes.png' });
});
