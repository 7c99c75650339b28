// `npm test`: build, then the unit tests (vitest, Node backend) and the browser tests
// (Playwright, headless Chromium). Both tiers always run; the last line counts every test.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { countTests } from './count-tests.mjs';

rmSync('test-results', { recursive: true, force: true });
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1;
let status = run('node', ['scripts/build.mjs']) || run('npx', ['tsc', '-p', '.']);
if (status === 0) {
  const unit = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', '--outputFile.json=test-results/vitest.json']);
  const browser = run('npx', ['playwright', 'test']);
  status = unit || browser;
}
const { passed, failed } = countTests();
console.log(`${passed} passed, ${failed} failed`);
process.exit(status || (failed > 0 ? 1 : 0));
