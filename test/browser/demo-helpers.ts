// Helpers shared by the demo page's Playwright tests.
import { expect, type Page } from '@playwright/test';

/** Console errors and page errors, collected per page. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console.error: ${m.text()}`); });
  return errors;
}

export async function draws(page: Page): Promise<number> {
  return page.evaluate(() => Number(document.body.dataset.draws ?? 0));
}

/** Waits for the page to be ready with a draw newer than `after`; fails at once if an error banner shows instead. */
export async function waitForDraw(page: Page, after: number): Promise<void> {
  const outcome = await page.waitForFunction((n) => {
    const banner = document.getElementById('banner');
    if (banner && !banner.hidden) return { error: (banner.textContent ?? '').trim() };
    return document.body.dataset.ready === '1' && Number(document.body.dataset.draws ?? 0) > n ? { error: undefined } : false;
  }, after, { timeout: 120_000 });
  const { error } = (await outcome.jsonValue()) as { error?: string };
  if (error !== undefined) throw new Error(`the page showed an error instead of drawing: ${error}`);
}

/** Opens the demo at `url` and waits for its first figure; returns the page's errors as they come. */
export async function openDemo(page: Page, url: string): Promise<string[]> {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1200, height: 1300 });
  await page.goto(url);
  await waitForDraw(page, 0);
  return errors;
}


/** Draws a lasso (in lasso mode) around the middle of a panel's canvas, and waits for the selection to show. */
export async function lassoMiddle(page: Page, panel: number): Promise<void> {
  await page.locator('#lasso').click();
  // The panel's regl-scatterplot canvas (the mouse's); the WebGPU layer's lies under it.
  const box = (await page.locator(`.panel[data-panel="${panel}"] canvas:not(.plot-layer)`).boundingBox())!;
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2, r = box.width * 0.3;
  await page.mouse.move(cx - r, cy - r);
  await page.mouse.down();
  for (const [dx, dy] of [[r, -r], [r, r], [-r, r], [-r, -r], [-r * 0.99, -r]]) await page.mouse.move(cx + dx, cy + dy, { steps: 8 });
  await page.mouse.up();
  await expect(page.locator('#selection')).toBeVisible({ timeout: 10_000 });
}
