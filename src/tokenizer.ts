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
    // Not push(...ids): spreading hundreds of thousands of ids overflows the call stack.
    if (piece.length > 0) for (const id of bpeEncode(piece, { disallowedSpecial: new Set() })) ids.push(id);
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

/**
 * Where `text` may be cut without changing its tokens: at a single space that starts a
 * word (" word" is one pre-token of GPT-2's BPE, and a pre-token never spans a cut).
 */
function safeCut(text: string, from: number): number {
  for (let i = from; i < text.length - 1; i++) {
    if (text[i] === ' ' && !/\s/.test(text[i - 1]) && !/\s/.test(text[i + 1])) return i;
  }
  return text.length;
}

/**
 * encode() in slices of about `chunk` characters, yielding to the event loop between
 * slices so a page stays responsive on megabytes of text. Same ids as encode().
 */
export async function encodeAsync(text: string, opts: { chunk?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<number[]> {
  const chunk = opts.chunk ?? 16384;
  const ids: number[] = [];
  let start = 0;
  while (start < text.length) {
    const end = text.length - start <= chunk ? text.length : safeCut(text, start + chunk);
    for (const id of encode(text.slice(start, end))) ids.push(id);
    start = end;
    opts.onProgress?.(start, text.length);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return ids;
}
