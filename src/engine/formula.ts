// Arithmetic formulas written once, as text, and both shown and evaluated: the shapes of
// the activation buffers ('T·3·D') and the costs of the kernels ('2·M·K·N'), so that what
// the profiler prints is exactly what it computes. Grammar: numbers, names, + − - · * / ^ ²
// and parentheses. No eval (the demo page runs under a CSP without it).
import { GPT2TapsError } from '../errors.js';

export type Symbols = Readonly<Record<string, number>>;

type Compiled = (symbols: Symbols) => number;
const compiled = new Map<string, Compiled>();

/** Evaluates `formula` with the values of its names taken from `symbols` (each formula is parsed once). */
export function evaluate(formula: string, symbols: Symbols): number {
  let f = compiled.get(formula);
  if (!f) {
    f = compile(formula);
    compiled.set(formula, f);
  }
  return f(symbols);
}

/** Parses a formula into a function of the symbols; a name without a value fails when evaluated. */
function compile(formula: string): Compiled {
  const tokens = formula.match(/\d+(?:\.\d+)?|[A-Za-z_]\w*|[-+−·*/^²()]|\S/g) ?? [];
  let i = 0;
  const fail = (why: string): never => { throw new GPT2TapsError(`formula "${formula}": ${why}`); };
  const peek = () => tokens[i];
  // sum := product (('+'|'-') product)*; product := power (('·'|'*'|'/') power)*;
  // power := atom ('²' | '^' atom)?; atom := number | name | '(' sum ')' | '-' atom
  const sum = (): Compiled => {
    let v = product();
    while (peek() === '+' || peek() === '-' || peek() === '−') {
      const [a, plus, b] = [v, tokens[i++] === '+', product()];
      v = plus ? (s) => a(s) + b(s) : (s) => a(s) - b(s);
    }
    return v;
  };
  const product = (): Compiled => {
    let v = power();
    while (peek() === '·' || peek() === '*' || peek() === '/') {
      const [a, div, b] = [v, tokens[i++] === '/', power()];
      v = div ? (s) => a(s) / b(s) : (s) => a(s) * b(s);
    }
    return v;
  };
  const power = (): Compiled => {
    const a = atom();
    if (peek() === '²') { i++; return (s) => a(s) * a(s); }
    if (peek() === '^') { i++; const b = atom(); return (s) => a(s) ** b(s); }
    return a;
  };
  const atom = (): Compiled => {
    const t = tokens[i++];
    if (t === undefined) return fail('ends too early');
    if (t === '(') {
      const v = sum();
      if (tokens[i++] !== ')') fail('a "(" is not closed');
      return v;
    }
    if (t === '-' || t === '−') { const a = atom(); return (s) => -a(s); }
    if (/^\d/.test(t)) { const n = Number(t); return () => n; }
    if (/^[A-Za-z_]/.test(t)) return (s) => s[t] ?? fail(`no value for "${t}"`);
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
