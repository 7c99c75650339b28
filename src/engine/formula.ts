// Arithmetic formulas written once, as text, and both shown and evaluated: the shapes of
// the activation buffers ('T·3·D') and the costs of the kernels ('2·M·K·N'), so that what
// the profiler prints is exactly what it computes. Grammar: numbers, names, + − - · * / ^ ²
// and parentheses. No eval (the demo page runs under a CSP without it).
import { GPT2TapsError } from '../errors.js';

export type Symbols = Readonly<Record<string, number>>;

/** Evaluates `formula` with the values of its names taken from `symbols`. */
export function evaluate(formula: string, symbols: Symbols): number {
  const tokens = formula.match(/\d+(?:\.\d+)?|[A-Za-z_]\w*|[-+−·*/^²()]|\S/g) ?? [];
  let i = 0;
  const fail = (why: string): never => { throw new GPT2TapsError(`formula "${formula}": ${why}`); };
  const peek = () => tokens[i];
  // sum := product (('+'|'-') product)*; product := power (('·'|'*'|'/') power)*;
  // power := atom ('²' | '^' atom)?; atom := number | name | '(' sum ')' | '-' atom
  const sum = (): number => {
    let v = product();
    while (peek() === '+' || peek() === '-' || peek() === '−') v = tokens[i++] === '+' ? v + product() : v - product();
    return v;
  };
  const product = (): number => {
    let v = power();
    while (peek() === '·' || peek() === '*' || peek() === '/') v = tokens[i++] === '/' ? v / power() : v * power();
    return v;
  };
  const power = (): number => {
    const v = atom();
    if (peek() === '²') { i++; return v * v; }
    if (peek() === '^') { i++; return v ** atom(); }
    return v;
  };
  const atom = (): number => {
    const t = tokens[i++];
    if (t === undefined) return fail('ends too early');
    if (t === '(') {
      const v = sum();
      if (tokens[i++] !== ')') fail('a "(" is not closed');
      return v;
    }
    if (t === '-' || t === '−') return -atom();
    if (/^\d/.test(t)) return Number(t);
    if (/^[A-Za-z_]/.test(t)) return symbols[t] ?? fail(`no value for "${t}"`);
    return fail(`unexpected "${t}"`);
  };
  const v = sum();
  if (i < tokens.length) fail(`unexpected "${tokens[i]}"`);
  return v;
}

/** A shape written as formulas, e.g. ['T', '3·D'], evaluated. */
export function evaluateShape(shape: readonly string[], symbols: Symbols): number[] {
  return shape.map((s) => evaluate(s, symbols));
}
