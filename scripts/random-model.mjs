// Writes a GPT-2 checkpoint with RANDOM weights in Hugging Face's layout, for timing
// real model sizes where the hub cannot be reached:
//   node scripts/random-model.mjs gpt2 weights/gpt2-random
// The model's outputs are meaningless; only its shapes are GPT-2's.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KNOWN_MODELS, writeSafetensors } from '../dist/gpt2-taps.js';

const [name = 'gpt2', out = `weights/${name}-random`] = process.argv.slice(2);
const size = KNOWN_MODELS[name];
if (!size) {
  console.error(`unknown size "${name}"; one of ${Object.keys(KNOWN_MODELS).join(', ')}`);
  process.exit(2);
}
const D = size.n_embd, V = 50257, N = 1024;
const config = { model_type: 'gpt2', n_layer: size.n_layer, n_head: size.n_head, n_embd: D, n_positions: N, vocab_size: V,
  layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', note: 'RANDOM weights (scripts/random-model.mjs)' };
let s = 1;
const random = (n, scale) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; a[i] = (s / 2 ** 32 - 0.5) * 2 * scale; }
  return a;
};
const tensors = [];
const add = (name, shape, fill) => tensors.push({ name, dtype: 'F32', shape, data: fill(shape.reduce((a, b) => a * b, 1)) });
const ones = (n) => new Float32Array(n).fill(1);
const zeros = (n) => new Float32Array(n);
add('wte.weight', [V, D], (n) => random(n, 0.02));
add('wpe.weight', [N, D], (n) => random(n, 0.01));
for (let l = 0; l < size.n_layer; l++) {
  const p = `h.${l}.`;
  add(p + 'ln_1.weight', [D], ones); add(p + 'ln_1.bias', [D], zeros);
  add(p + 'attn.c_attn.weight', [D, 3 * D], (n) => random(n, 0.02)); add(p + 'attn.c_attn.bias', [3 * D], zeros);
  add(p + 'attn.c_proj.weight', [D, D], (n) => random(n, 0.02)); add(p + 'attn.c_proj.bias', [D], zeros);
  add(p + 'ln_2.weight', [D], ones); add(p + 'ln_2.bias', [D], zeros);
  add(p + 'mlp.c_fc.weight', [D, 4 * D], (n) => random(n, 0.02)); add(p + 'mlp.c_fc.bias', [4 * D], zeros);
  add(p + 'mlp.c_proj.weight', [4 * D, D], (n) => random(n, 0.02)); add(p + 'mlp.c_proj.bias', [D], zeros);
}
add('ln_f.weight', [D], ones); add('ln_f.bias', [D], zeros);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'model.safetensors'), writeSafetensors(tensors, { note: 'RANDOM weights' }));
writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2));
console.log(`wrote ${out}: ${name} shapes, RANDOM weights`);
