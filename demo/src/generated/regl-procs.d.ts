// Types of the generated regl-procs.js (see scripts/regl-codegen.mjs): SHA-256 of a regl
// procedure's source → that procedure, compiled ahead of time.
declare const procs: Record<string, (...linked: unknown[]) => unknown>;
export default procs;
