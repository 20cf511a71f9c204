#!/usr/bin/env node
// What the console costs (issue 11's figures), one node on loopback, Chromium from Debian:
//   first load   - bytes over the wire (compressed, as sent) to load /datacenter/summary logged
//                  in, with an empty cache; and the uncompressed wasm size
//   fan-out      - the node's CPU (its process time per wall second) and RSS while 0 and then
//                  N console pages (each in its own browser context: its own connections and
//                  event stream) stay open on the Datacenter Summary, each minute-long window
//   page memory  - one page left open on the node Summary (graph refreshed with every sample):
//                  its JS heap after a forced GC and its DOM size, at the start and every few
//                  minutes for M minutes
//
// usage: node bench/console_load.mjs [--pages 50] [--minutes 60]  (build first:
//        scripts/build.sh --release; CORRAL_BIN picks another binary)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'end2end', 'package.json'));
const { chromium } = require('@playwright/test');

const arg = (name, fallback) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const pages = arg('--pages', 50);
const minutes = arg('--minutes', 60);
const target = process.env.CARGO_TARGET_DIR ?? `${process.env.HOME}/.cache/corral/target`;
const bin = process.env.CORRAL_BIN ?? `${target}/release/corral`;
const PASSWORD = 'e2e-root-pw';
const node = { url: 'https://127.0.21.5:18105', ip: '127.0.21.5', port: '18105', name: 'load1' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const child = spawn(path.join(here, '..', 'end2end', 'start-node.sh'), [node.port, node.name, node.ip], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, CORRAL_BIN: bin, CORRAL_LOG: 'warn' } });
const listening = new Promise((resolve) => child.stdout.on('data', (d) => { if (/listening on/.test(String(d))) resolve(); }));

/** The daemon's CPU seconds (user + system) and RSS in MiB, from /proc. */
function usage() {
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const rss = Number(readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;
  return { cpu: ticks / 100, rss };
}

async function cpuOver(ms) {
  const a = usage();
  const t = Date.now();
  await sleep(ms);
  const b = usage();
  return { percent: ((b.cpu - a.cpu) / ((Date.now() - t) / 1000)) * 100, rss: b.rss };
}

async function logIn(browser, where) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${node.url}${where}`);
  await page.locator('body[data-hydrated]').waitFor();
  await page.getByLabel('User name').fill('root');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Login' }).click();
  await page.waitForURL(`**${where}`);
  await page.getByTestId('live-mode').filter({ hasText: 'live' }).waitFor({ timeout: 60_000 });
  return page;
}

async function firstLoad(browser) {
  const page = await logIn(browser, '/datacenter/summary');
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let bytes = 0;
  let wasm = 0;
  const urls = new Map();
  cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, e.response.url));
  cdp.on('Network.loadingFinished', (e) => {
    bytes += e.encodedDataLength;
    if (/\.wasm/.test(urls.get(e.requestId) ?? '')) wasm += e.encodedDataLength;
  });
  await page.reload();
  await page.locator('body[data-hydrated]').waitFor();
  await page.getByTestId('dc-health').waitFor();
  await page.waitForLoadState('networkidle').catch(() => {});
  const wasmRaw = await page.evaluate(async () => {
    const entry = performance.getEntriesByType('resource').find((r) => r.name.includes('.wasm'));
    return entry ? entry.decodedBodySize : 0;
  });
  await page.context().close();
  return { bytes, wasm, wasmRaw };
}

async function fanOut(browser) {
  const idle = await cpuOver(60_000);
  const open = [];
  for (let i = 0; i < pages; i++) open.push(await logIn(browser, '/datacenter/summary'));
  await sleep(5_000);
  const busy = await cpuOver(60_000);
  for (const p of open) await p.context().close();
  return { idle, busy };
}

async function pageMemory(browser) {
  const page = await logIn(browser, `/node/${node.name}/summary`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const sample = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    const { metrics } = await cdp.send('Performance.getMetrics');
    const get = (n) => metrics.find((m) => m.name === n)?.value ?? 0;
    return { heap: get('JSHeapUsedSize') / 1048576, nodes: get('Nodes'), listeners: get('JSEventListeners') };
  };
  const samples = [{ minute: 0, ...(await sample()) }];
  const every = Math.max(1, Math.min(5, minutes));
  for (let m = every; m <= minutes; m += every) {
    await sleep(every * 60_000);
    samples.push({ minute: m, ...(await sample()) });
    const s = samples[samples.length - 1];
    console.error(`  page memory at ${m} min: ${s.heap.toFixed(1)} MiB JS heap, ${s.nodes} DOM nodes`);
  }
  await page.context().close();
  return samples;
}

async function main() {
  await listening;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  const load = await firstLoad(browser);
  console.log(`first load of /datacenter/summary (logged in, empty cache): ${(load.bytes / 1024).toFixed(0)} KiB over the wire, of which wasm ${(load.wasm / 1024).toFixed(0)} KiB (${(load.wasmRaw / 1024).toFixed(0)} KiB uncompressed)`);
  if (pages > 0) {
    const f = await fanOut(browser);
    console.log(`node CPU with no console open: ${f.idle.percent.toFixed(1)} % of a core, RSS ${f.idle.rss.toFixed(0)} MiB`);
    console.log(`node CPU with ${pages} console pages open (Datacenter Summary, live): ${f.busy.percent.toFixed(1)} % of a core, RSS ${f.busy.rss.toFixed(0)} MiB`);
  }
  if (minutes > 0) {
    const m = await pageMemory(browser);
    const first = m[0];
    const last = m[m.length - 1];
    console.log(`a page open ${last.minute} min on the node Summary: JS heap ${first.heap.toFixed(1)} → ${last.heap.toFixed(1)} MiB, DOM nodes ${first.nodes} → ${last.nodes}, listeners ${first.listeners} → ${last.listeners}`);
  }
  await browser.close();
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => child.kill('SIGKILL'));
