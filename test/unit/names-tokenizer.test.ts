// Tap names (Hugging Face names, globs, TransformerLens aliases), config inference and
// the tokenizer's special tokens.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { inferConfig, paramShapes, configFromJSON } from '../../src/checkpoint/config.js';
import { allTapNames, resolveTaps, tapShape } from '../../src/engine/forward.js';
import { encode, decode } from '../../src/tokenizer.js';

const c = { n_layer: 3, n_head: 4, n_embd: 128, n_positions: 256, vocab_size: 50257, layer_norm_epsilon: 1e-5 };

describe('tap names', () => {
  it('lists every tap point in forward order: wte, wpe, hidden_states.0, 12 per block (11 in the last), ln_f, hidden_states.L, logits', () => {
    const names = allTapNames(c);
    expect(names.length).toBe(3 + 12 * 3 - 1 + 3);
    expect(names.slice(0, 15)).toEqual([
      'wte', 'wpe', 'hidden_states.0',
      'h.0.ln_1', 'h.0.attn.c_attn', 'attentions.0', 'h.0.attn.c_proj.input', 'h.0.attn.c_proj', 'h.0.ln_2.input', 'h.0.ln_2',
      'h.0.mlp.c_fc', 'h.0.mlp.act', 'h.0.mlp.c_proj', 'h.0', 'hidden_states.1']);
    expect(names.slice(-5)).toEqual(['h.2.mlp.c_proj', 'h.2', 'ln_f', 'hidden_states.3', 'logits']);
  });
  it('resolves globs, <module>.input and TransformerLens aliases to canonical names, deduplicated, in forward order', () => {
    expect(resolveTaps(c, ['logits', 'hidden_states.*', 'blocks.0.hook_resid_pre'])).toEqual(
      ['hidden_states.0', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3', 'logits']);
    expect(resolveTaps(c, ['blocks.2.hook_attn_out', 'blocks.2.hook_mlp_out', 'blocks.2.hook_resid_post', 'blocks.1.attn.hook_pattern']))
      .toEqual(['attentions.1', 'h.2.attn.c_proj', 'h.2.mlp.c_proj', 'h.2']);
    expect(resolveTaps(c, 'all')).toEqual(allTapNames(c));
    const same = (a: string, b: string) => expect(resolveTaps(c, [a]), a).toEqual([b]);
    same('h.1.attn', 'h.1.attn.c_proj');
    same('h.1.mlp', 'h.1.mlp.c_proj');
    same('h.1.ln_1.input', 'hidden_states.1');
    same('h.0.input', 'hidden_states.0');
    same('h.1.mlp.c_proj.input', 'h.1.mlp.act');
    same('h.1.mlp.act.input', 'h.1.mlp.c_fc');
    same('h.1.attn.c_attn.input', 'h.1.ln_1');
    same('ln_f.input', 'h.2');
    same('lm_head.input', 'ln_f');
    same('hook_embed', 'wte');
    same('hook_pos_embed', 'wpe');
    same('blocks.1.hook_resid_mid', 'h.1.ln_2.input');
    same('blocks.1.ln1.hook_normalized', 'h.1.ln_1');
    same('blocks.1.ln2.hook_normalized', 'h.1.ln_2');
    same('ln_final.hook_normalized', 'ln_f');
    same('blocks.1.mlp.hook_pre', 'h.1.mlp.c_fc');
    same('blocks.1.mlp.hook_post', 'h.1.mlp.act');
    // views carved from a point keep their own name; globs match tap names, not aliases
    expect(resolveTaps(c, ['blocks.0.attn.hook_*'])).toEqual(
      ['blocks.0.attn.hook_q', 'blocks.0.attn.hook_k', 'blocks.0.attn.hook_v', 'blocks.0.attn.hook_z']);
    expect(resolveTaps(c, ['h.*.mlp.act'])).toEqual(['h.0.mlp.act', 'h.1.mlp.act', 'h.2.mlp.act']);
  });
  it('rejects unknown names and out-of-range layers, pointing to `gpt2-taps taps`', () => {
    expect(() => resolveTaps(c, ['h.3'])).toThrow(/unknown tap "h.3"[^]*gpt2-taps taps[^]*h\.\{0\.\.2\}/);
    expect(() => resolveTaps(c, ['blocks.3.hook_resid_pre'])).toThrow(/unknown tap/);
    expect(() => resolveTaps(c, ['nothing.*'])).toThrow(/unknown tap/);
    expect(() => resolveTaps(c, ['h.0.mlp.c_proj.input.input'])).toThrow(/unknown tap/);
  });
  it('gives shapes: [T, D], c_attn [T, 3D], MLP [T, 4D], attentions [H, T, T], logits [T, V], views [T, H, HD]', () => {
    expect(tapShape(c, 'h.1.mlp.c_proj', 7)).toEqual([7, 128]);
    expect(tapShape(c, 'h.1.attn.c_attn', 7)).toEqual([7, 384]);
    expect(tapShape(c, 'h.1.mlp.act', 7)).toEqual([7, 512]);
    expect(tapShape(c, 'blocks.1.mlp.hook_pre', 7)).toEqual([7, 512]);
    expect(tapShape(c, 'attentions.2', 7)).toEqual([4, 7, 7]);
    expect(tapShape(c, 'logits', 7)).toEqual([7, 50257]);
    expect(tapShape(c, 'blocks.1.attn.hook_k', 7)).toEqual([7, 4, 32]);
  });
});

describe('config', () => {
  it('reads config.json (n_ctx as an alias) and refuses n_embd not divisible by n_head', () => {
    expect(configFromJSON({ n_layer: 3, n_head: 4, n_embd: 128, n_ctx: 256, vocab_size: 50257 }).n_positions).toBe(256);
    expect(() => configFromJSON({ n_layer: 3, n_head: 3, n_embd: 128, n_positions: 256, vocab_size: 50257 })).toThrow(/not divisible/);
    expect(() => configFromJSON({ n_layer: 3, n_head: 4, n_embd: 128, n_positions: 256, vocab_size: 50257, activation_function: 'relu' })).toThrow(/relu/);
  });
  it('infers every released GPT-2 size from shapes alone', () => {
    const sizes = { gpt2: [12, 12, 768], 'gpt2-medium': [24, 16, 1024], 'gpt2-large': [36, 20, 1280], 'gpt2-xl': [48, 25, 1600], distilgpt2: [6, 12, 768] };
    for (const [name, [L, H, D]] of Object.entries(sizes)) {
      const cfg = { n_layer: L, n_head: H, n_embd: D, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5 };
      const { config, note } = inferConfig(paramShapes(cfg));
      expect(config, name).toEqual(cfg);
      expect(note, name).toBeUndefined();
    }
  });
});

describe('tokenizer (r50k_base, GPT-2 BPE)', () => {
  it('matches the fixture prompts token for token', () => {
    const ids = JSON.parse(readFileSync(new URL('../fixtures/gpt2-tiny/prompts.json', import.meta.url), 'utf8'));
    const texts = JSON.parse(readFileSync(new URL('../fixtures/gpt2-tiny/texts.json', import.meta.url), 'utf8'));
    expect(encode(texts.seed)).toEqual(ids.seed);
    expect(encode(texts.tale)).toEqual(ids.tale);
  });
  it('recognises <|endoftext|> anywhere, repeated, and keeps the text after it', () => {
    expect(encode('a<|endoftext|>b')).toEqual([64, 50256, 65]);
    expect(encode('<|endoftext|><|endoftext|>hi there<|endoftext|>')).toEqual([50256, 50256, 5303, 612, 50256]);
    expect(encode('x<|endoftext|><|endoftext|>y z')).toEqual([87, 50256, 50256, 88, 1976]);
    expect(decode(encode('héllo <|endoftext|> wörld'))).toBe('héllo <|endoftext|> wörld');
  });
  it('gives no tokens for empty text', () => {
    expect(encode('')).toEqual([]);
  });
});
