// Counts every test from the two runners' JSON reports. A missing report, or a test file
// that failed to load, counts as a failure: nothing silently drops out of the total.
import { existsSync, readFileSync } from 'node:fs';

export function countTests() {
  let passed = 0, failed = 0;
  const read = (f) => (existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined);
  const v = read('test-results/vitest.json');
  if (v) {
    passed += v.numPassedTests;
    failed += v.numFailedTests + (v.testResults ?? []).filter((r) => r.status === 'failed' && r.assertionResults.length === 0).length;
  } else failed += 1;
  const p = read('test-results/playwright.json');
  if (p) {
    passed += p.stats.expected + p.stats.flaky;
    failed += p.stats.unexpected + (p.errors?.length ?? 0);
  } else failed += 1;
  return { passed, failed };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { passed, failed } = countTests();
  console.log(`${passed} passed, ${failed} failed`);
}
