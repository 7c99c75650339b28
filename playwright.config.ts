// Playwright: headless Debian Chromium with WebGPU (SwiftShader where there is no GPU),
// pages served from http://127.0.0.1 by the tests themselves (test/browser/server.ts).
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from './src/node/browser.js';

export default defineConfig({
  testDir: 'test/browser',
  timeout: 180_000,
  workers: 1,
  outputDir: 'test-results/playwright-artifacts',
  reporter: [['list'], ['json', { outputFile: 'test-results/playwright.json' }]],
  use: {
    launchOptions: { executablePath: chromiumPath(), args: CHROMIUM_ARGS },
    headless: true,
  },
});
