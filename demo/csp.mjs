// The demo page's Content-Security-Policy, in one place: the build writes it into
// dist/demo/index.html as a <meta> tag (so it holds wherever the page is hosted) and
// `npm start` (demo/serve.mjs) also sends it as a header.
// - scripts, workers and styles only from the page's own origin; no eval or Function
//   (regl's draw procedures are precompiled: demo/src/generated/regl-procs.js);
// - data: and blob: images for the PNG export (the axes SVG is drawn through an <img>);
// - fetch from the page's origin and the Hugging Face hub (huggingface.co redirects
//   model files to its CDNs on *.huggingface.co and *.hf.co).
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self' https://huggingface.co https://*.huggingface.co https://*.hf.co",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');
