// WGSL files are imported as strings (esbuild `text` loader, Vite `?raw`-style plugin in vitest).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  export function wgsl(strings: TemplateStringsArray | readonly string[], ...values: unknown[]): string;
}
