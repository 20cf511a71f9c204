#!/usr/bin/env node
// How fast a change made on one node shows in a console page open on another (issue 11):
// two nodes on loopback, a Chromium page on n1, changes made through n2's API. Reports median
// and max over N changes of each kind:
//   config write  - a directory storage added on n2 → its row in n1's Datacenter → Storage grid
//   task end      - a VM created on n2 (qmcreate) → the finished task in n1's bottom panel
//   node loss     - n2 killed (SIGKILL) → n1's tree marks it offline; reported as the time after
//                   n1's API first says offline (gossip's own detection is measured elsewhere);
//                   then n2 restarted on its data → the tree marks it online again, likewise
//                   after n1's API; N times
//
// usage: node bench/console_push.mjs [--runs 20]   (build first: scripts/build.sh --release;
//        CORRAL_BIN picks another binary). Uses end2end/node_modules (playwright) and
//        /usr/bin/chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'end2end', 'package.json'));
const { chromium, request } = require('@playwright/test');

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const target = process.env.CARGO_TARGET_DIR ?? `${process.env.HOME}/.cache/corral/target`;
const bin = process.env.CORRAL_BIN ?? `${target}/release/corral`;
const PASSWORD = 'e2e-root-pw';
const n1 = { url: 'https://127.0.21.1:18100', ip: '127.0.21.1', port: '18100', name: 'push1' };
const n2 = { url: 'https://127.0.21.2:18101', ip: '127.0.21.2', port: '18101', name: 'push2' };
const children = [];

const dataDirs = {};
function start(n) {
  dataDirs[n.name] ??= mkdtempSync('/tmp/corral-push-');
  const env = { ...process.env, CORRAL_BIN: bin, CORRAL_LOG: 'warn', CORRAL_E2E_DATA: dataDirs[n.name] };
  const child = spawn(path.join(here, '..', 'end2end', 'start-node.sh'), [n.port, n.name, n.ip], { stdio: 'ignore', env });
  children.push(child);
  return child;
}

async function api(base) {
  const anon = await request.newContext({ baseURL: base, ignoreHTTPSErrors: true });
  for (const deadline = Date.now() + 60_000; ;) {
    try {
      const resp = await anon.post('/api2/json/access/ticket', { form: { username: 'root@pam', password: PASSWORD } });
      if (resp.ok()) {
        const { data } = await resp.json();
        return request.newContext({ baseURL: base, ignoreHTTPSErrors: true, extraHTTPHeaders: { Cookie: `PVEAuthCookie=${data.ticket}`, CSRFPreventionToken: data.CSRFPreventionToken } });
      }
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${base} did not come up`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function until(what, probe, limitMs = 60_000) {
  for (const deadline = Date.now() + limitMs; ;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function task(ctx, upid) {
  const node = upid.split(':')[1];
  await until('task end', async () => (await (await ctx.get(`/api2/json/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`)).json()).data.exitstatus === 'OK');
}

const stats = (xs) => {
  if (xs.length === 0) return 'none';
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]} ms, max ${s[s.length - 1]} ms (${s.length} changes)`;
};

async function main() {
  start(n1);
  start(n2);
  const a1 = await api(n1.url);
  const a2 = await api(n2.url);
  await task(a1, (await (await a1.post('/api2/json/cluster/config', { form: { clustername: 'push', link0: n1.ip } })).json()).data);
  const fingerprint = (await (await a1.get('/api2/json/nodes')).json()).data[0].ssl_fingerprint;
  const joined = (await (await a2.post('/api2/json/cluster/config/join', { form: { hostname: `${n1.ip}:${n1.port}`, fingerprint, password: PASSWORD, link0: n2.ip } })).json()).data;
  await task(a2, joined);
  const b2 = await api(n2.url);

  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(`${n1.url}/datacenter/storage`);
  await page.locator('body[data-hydrated]').waitFor();
  await page.getByLabel('User name').fill('root');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Login' }).click();
  await page.getByTestId('storage-grid').waitFor();
  await page.getByTestId('live-mode').filter({ hasText: 'live' }).waitFor();

  const config = [];
  for (let i = 0; i < runs; i++) {
    const id = `push${i}`;
    const resp = await b2.post('/api2/json/storage', { form: { storage: id, type: 'dir', path: `/tmp/corral-push-${i}`, content: 'images' } });
    if (!resp.ok()) throw new Error(`storage add: ${resp.status()} ${resp.statusText()}`);
    const answered = Date.now();
    await page.getByTestId(`storage-row-${id}`).waitFor({ timeout: 30_000 });
    config.push(Date.now() - answered);
  }

  const tasks = [];
  for (let i = 0; i < runs; i++) {
    const vmid = String(500 + i);
    const upid = (await (await b2.post(`/api2/json/nodes/${n2.name}/qemu`, { form: { vmid, name: `push-${vmid}`, memory: '64' } })).json()).data;
    await task(b2, upid);
    const ended = Date.now();
    await page.getByTestId('task-row').filter({ hasText: `qmcreate ${vmid}` }).filter({ hasText: 'OK' }).first().waitFor({ timeout: 30_000 });
    tasks.push(Date.now() - ended);
  }

  // Node loss: n1's API learns it from gossip; how much later does the page show it? And the
  // same for its return.
  const tree = page.getByTestId(`tree-node-${n2.name}`);
  const n2Online = async (online) => (await (await a1.get('/api2/json/cluster/status')).json()).data.some((e) => e.name === n2.name && e.online === (online ? 1 : 0));
  const lost = [];
  const back = [];
  const detect = [];
  for (let i = 0; i < runs; i++) {
    children[children.length - 1].kill('SIGKILL');
    const killed = Date.now();
    await until('n1 says n2 offline', () => n2Online(false));
    const apiKnew = Date.now();
    await until('the tree says n2 offline', async () => (await tree.getAttribute('data-status')) === 'offline');
    lost.push(Date.now() - apiKnew);
    detect.push(apiKnew - killed);
    start(n2);
    await until('n1 says n2 online', () => n2Online(true));
    const apiBack = Date.now();
    await until('the tree says n2 online', async () => (await tree.getAttribute('data-status')) === 'online');
    back.push(Date.now() - apiBack);
  }

  console.log(`config write on n2 → row on n1's open page: ${stats(config)}`);
  console.log(`task end on n2 → finished task in n1's bottom panel: ${stats(tasks)}`);
  console.log(`n2 killed → n1's tree shows it offline, after n1's API knew: ${stats(lost)} (the API knew ${stats(detect)} after the kill)`);
  console.log(`n2 restarted → n1's tree shows it online, after n1's API knew: ${stats(back)}`);
  await browser.close();
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => { for (const c of children) c.kill('SIGKILL'); });
