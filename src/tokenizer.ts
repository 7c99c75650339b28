// GPT-2's BPE (r50k_base) with <|endoftext|> recognised anywhere in the text.
// gpt-tokenizer only recognises special tokens at the start of the text (and drops text
// after repeated ones), so we split on <|endoftext|> ourselves and insert its id, as
// Hugging Face's GPT2Tokenizer does: 'a<|endoftext|>b' → [64, 50256, 65].
import { encode as bpeEncode, decode as bpeDecode } from 'gpt-tokenizer/encoding/r50k_base';

export const ENDOFTEXT = '<|endoftext|>';
export const ENDOFTEXT_ID = 50256;

export function encode(text: string): number[] {
  const ids: number[] = [];
  text.split(ENDOFTEXT).forEach((piece, i) => {
    if (i > 0) ids.push(ENDOFTEXT_ID);
    if (piece.length > 0) ids.push(...bpeEncode(piece, { disallowedSpecial: new Set() }));
  });
  return ids;
}

export function decode(ids: readonly number[]): string {
  return bpeDecode(ids);
}

/** Each token's text, for labels and hover text. */
export function tokenStrings(ids: readonly number[]): string[] {
  return ids.map((id) => bpeDecode([id]));
}
