// Browser tests against the running local stack: headless Chromium from the system
// (Debian's /usr/bin/chromium; CHROMIUM_PATH overrides it), never a downloaded build.
// The dashboard must be published first (web/deploy; localstack/up does it).

import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  // the world is shared and the stack is one: one test at a time
  workers: 1,
  fullyParallel: false,
  retries: 0,
  // setting up a world, driving a truck and waiting for the alarm pipeline
  timeout: 8 * 60_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  use: {
    headless: true,
    viewport: { width: 1440, height: 960 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    actionTimeout: 20_000,
    navigationTimeout: 30_000,
  },
});
