// The library plus the Node device, bundled by scripts/bench.mjs for `npm run bench -- --node`
// (our half of the benchmark on Dawn, for machines with a GPU and no browser).
export * from '../src/index.js';
export { nodeDevice } from '../src/node/device.js';
export { CHROMIUM_ARGS, chromiumPath } from '../src/node/browser.js';
export { table } from '../src/profile/profile.js';
export { serve } from '../src/node/serve.js';
