import { test as base, expect, Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';

export const PASSWORD = 'e2e-root-pw';

/** Console errors a test provokes on purpose, per page (see `allowConsoleError`). */
const allowed = new WeakMap<Page, RegExp[]>();

/** Let `page` log console errors matching `pattern` (a request the test makes fail on purpose). */
export function allowConsoleError(page: Page, pattern: RegExp) {
  allowed.set(page, [...(allowed.get(page) ?? []), pattern]);
}

/** Every page error and console error of `page`, collected into `errors`. */
export function watchErrors(page: Page, errors: string[]) {
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !(allowed.get(page) ?? []).some((p) => p.test(m.text()))) {
      errors.push(`console: ${m.text()}`);
    }
  });
}

/**
 * Playwright's `test`, but every page of the test's context fails the test on any page error
 * (a wasm panic) or console error (a failed request, a hydration warning), unless allowed.
 */
export const test = base.extend({
  context: async ({ context }, use) => {
    const errors: string[] = [];
    context.pages().forEach((p) => watchErrors(p, errors));
    context.on('page', (p) => watchErrors(p, errors));
    await use(context);
    expect(errors, 'page errors and console errors').toEqual([]);
  },
});

export { expect };

export async function login(page: Page, password = PASSWORD) {
  await page.locator('body[data-hydrated]').waitFor();
  await page.getByLabel('User name').fill('root');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Login' }).click();
}

/**
 * `lab.sh` for one of the project's labs (network namespaces, root): `name` names its
 * namespaces, `subnet` its addresses, `state` its directory; nodes run the debug build.
 */
export function labRunner(name: string, subnet: string, state: string): (...args: string[]) => string {
  const env = {
    ...process.env,
    LAB: name,
    SUBNET: subnet,
    STATE: state,
    CORRAL_LAB_PASSWORD: PASSWORD,
    CORRAL_BIN: `${process.env.CARGO_TARGET_DIR ?? `${process.env.HOME}/.cache/corral/target`}/debug/corral`,
  };
  return (...args) => execFileSync('../lab/lab.sh', args, { env, encoding: 'utf8', timeout: 120_000 });
}
