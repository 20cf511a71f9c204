import { defineConfig } from '@playwright/test';

// Drives Debian's Chromium (no browser download) against real corral nodes started by
// start-node.sh on fresh data dirs: one for the console tests, one for cluster creation (which
// changes the node for good).
const consolePort = process.env.CORRAL_E2E_PORT ?? '18006';
const clusterPort = process.env.CORRAL_E2E_CLUSTER_PORT ?? '18007';
const joinerPort = process.env.CORRAL_E2E_JOINER_PORT ?? '18008';
const url = (port: string, ip = '127.0.0.1') => `https://${ip}:${port}`;
/** The node that joins the cluster node's cluster through its GUI. */
export const joinerURL = url(joinerPort, '127.0.0.2');

export default defineConfig({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: 'list',
  timeout: 60_000,
  use: {
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync'],
    },
  },
  projects: [
    { name: 'console', testMatch: /console\.spec\.ts/, use: { baseURL: url(consolePort) } },
    { name: 'cluster', testMatch: /cluster\.spec\.ts/, use: { baseURL: url(clusterPort) } },
    // Starts (and kills) its own two nodes.
    { name: 'recovery', testMatch: /recovery\.spec\.ts/ },
    // Runs its own lab (lab/lab.sh: two nodes and an NFS server in network namespaces; root).
    { name: 'storage', testMatch: /storage\.spec\.ts/ },
    // Its own lab of three nodes, NFS and a QEMU guest under HA (root).
    { name: 'ha', testMatch: /ha\.spec\.ts/ },
  ],
  webServer: [
    [consolePort, 'e2enode', '127.0.0.1'],
    [clusterPort, 'e2enode', '127.0.0.1'],
    [joinerPort, 'e2ejoiner', '127.0.0.2'],
  ].map(([port, name, ip]) => ({
    command: `./start-node.sh ${port} ${name} ${ip}`,
    url: `${url(port, ip)}/login`,
    ignoreHTTPSErrors: true,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe' as const,
  })),
});
