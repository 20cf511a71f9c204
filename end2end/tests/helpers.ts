import { Page } from '@playwright/test';

export const PASSWORD = 'e2e-root-pw';

export async function login(page: Page, password = PASSWORD) {
  await page.locator('body[data-hydrated]').waitFor();
  await page.getByLabel('User name').fill('root');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Login' }).click();
}
