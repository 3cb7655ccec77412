// lighttpd.conf's syntax, read into assignments: `name = value`, `+=`, `:=`,
// values that are strings, numbers and arrays `( "k" => v, "x" )`, `+`
// concatenation, `var.x` and earlier settings used as variables, and
// `$HTTP["host"] == "x" { … } else { … }` blocks, each assignment keeping the
// conditions it sits under. Bounded: nesting past 64 levels is refused.

import { LIMITS } from '../config/types.js';
import { MigrateError } from './errors.js';

export type LValue = { kind: 'string'; value: string } | { kind: 'number'; value: number } | { kind: 'array'; items: LItem[] };

export interface LItem {
  key: string | null;
  value: LValue;
  line: number;
}

export interface Assignment {
  name: string;
  op: string;
  value: LValue;
  line: number;
  /** The `$HTTP[...] == "..."` conditions around it, outermost first. */
  conditions: string[];
}

export interface LighttpdConfig {
  assignments: Assignment[];
  /** include / include_shell lines, as written. */
  includes: Array<{ line: number; text: string }>;
  /** Variables used but not set in this file (env.X, or set in an included file). */
  unresolved: Array<{ line: number; name: string }>;
}

type Token = { type: 'string' | 'number' | 'ident' | 'op'; text: string; line: number };

const MAX_DEPTH = 64;
const OPS = ['=>', '==', '!=', '=~', '!~', '+=', ':=', '?=', '=', '+', '(', ')', ',', '{', '}', '[', ']'];

function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  for (let i = 0; i < text.length;) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) i++;
    else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"') {
      const start = line;
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new MigrateError(file, start, 'a string opened here is never closed; add the closing "');
        const d = text[i]!;
        if (d === '"') break;
        if (d === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        if (d === '\n') line++;
        value += d;
        i++;
      }
      i++;
      tokens.push({ type: 'string', text: value, line: start });
    } else if (/\d/.test(c)) {
      let j = i;
      while (j < text.length && /\d/.test(text[j]!)) j++;
      tokens.push({ type: 'number', text: text.slice(i, j), line });
      i = j;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[A-Za-z0-9_.-]/.test(text[j]!)) j++;
      tokens.push({ type: 'ident', text: text.slice(i, j), line });
      i = j;
    } else {
      const op = OPS.find((o) => text.startsWith(o, i));
      if (!op) throw new MigrateError(file, line, `unexpected ${JSON.stringify(c)}; lighttpd would refuse it too`);
      tokens.push({ type: 'op', text: op, line });
      i += op.length;
    }
  }
  return tokens;
}

export function parseLighttpd(text: string, file: string): LighttpdConfig {
  return new Parser(tokenize(text, file), file).run();
}

class Parser {
  private pos = 0;
  private depth = 0;
  private readonly conditions: string[] = [];
  private readonly vars = new Map<string, LValue>();
  /** What each list stands for written out, in bytes (expandedSize). */
  private readonly sizes = new WeakMap<LValue, number>();
  private readonly out: LighttpdConfig = { assignments: [], includes: [], unresolved: [] };
  private readonly tokens: Token[];
  private readonly file: string;

  constructor(tokens: Token[], file: string) {
    this.tokens = tokens;
    this.file = file;
  }

  run(): LighttpdConfig {
    this.block(false);
    return this.out;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private next(what: string): Token {
    const t = this.tokens[this.pos++];
    if (!t) throw new MigrateError(this.file, this.tokens.at(-1)?.line ?? null, `the file ends where ${what} was expected; something is not closed`);
    return t;
  }

  private expect(text: string, what = `"${text}"`): Token {
    const t = this.next(what);
    if (t.text !== text || t.type === 'string') throw this.unexpected(t, what);
    return t;
  }

  private unexpected(t: Token, what: string): MigrateError {
    return new MigrateError(this.file, t.line, `expected ${what}, got ${t.type === 'string' ? JSON.stringify(t.text) : t.text}`);
  }

  private enter(t: Token): void {
    if (++this.depth > MAX_DEPTH) throw new MigrateError(this.file, t.line, `nested more than ${MAX_DEPTH} levels deep; no lighttpd config nests that deep`);
  }

  /** Statements up to the end, or up to the `}` closing a block. */
  private block(inner: boolean): void {
    for (let t = this.peek(); t; t = this.peek()) {
      if (t.type === 'op' && t.text === '}') {
        if (!inner) throw new MigrateError(this.file, t.line, 'a } that closes no block; remove it');
        return;
      }
      this.statement();
    }
    if (inner) throw new MigrateError(this.file, this.tokens.at(-1)?.line ?? null, 'a { block is never closed; add the }');
  }

  private statement(): void {
    const t = this.next('a setting');
    if (t.type !== 'ident') throw this.unexpected(t, 'a setting name or a $HTTP[...] condition');
    if (t.text.startsWith('$')) return this.condition(t);
    if (t.text === 'else') return this.orElse(t);
    if (t.text.startsWith('include')) {
      const v = this.expr();
      this.out.includes.push({ line: t.line, text: `${t.text} ${v.kind === 'string' ? JSON.stringify(v.value) : '(…)'}` });
      return;
    }
    const op = this.next('=');
    if (op.type !== 'op' || !['=', '+=', ':=', '?='].includes(op.text)) throw this.unexpected(op, `= after ${t.text}`);
    const value = this.expr();
    const before = this.vars.get(t.text);
    const merged = op.text === '+=' && before ? this.plus(before, value, op) : value;
    this.vars.set(t.text, merged);
    this.out.assignments.push({ name: t.text, op: op.text, value, line: t.line, conditions: [...this.conditions] });
  }

  /** $HTTP["host"] == "example.org" { … } */
  private condition(t: Token): void {
    this.expect('[');
    const field = this.next('a string');
    this.expect(']');
    const op = this.next('==, !=, =~ or !~');
    if (!['==', '!=', '=~', '!~'].includes(op.text)) throw this.unexpected(op, '==, !=, =~ or !~');
    const v = this.expr();
    const text = `${t.text}[${JSON.stringify(field.text)}] ${op.text} ${v.kind === 'string' ? JSON.stringify(v.value) : '…'}`;
    this.body(this.expect('{'), text);
  }

  private orElse(t: Token): void {
    const n = this.peek();
    if (n?.type === 'ident' && n.text === 'if') this.pos++;
    const c = this.peek();
    if (c?.type === 'ident' && c.text.startsWith('$')) {
      this.pos++;
      this.condition(c);
    } else this.body(this.expect('{', '{ or a condition after else'), `else (line ${t.line})`);
  }

  private body(open: Token, condition: string): void {
    this.enter(open);
    this.conditions.push(condition);
    this.block(true);
    this.expect('}');
    this.conditions.pop();
    this.depth--;
  }

  private expr(): LValue {
    let v = this.term();
    for (let t = this.peek(); t?.type === 'op' && t.text === '+'; t = this.peek()) {
      this.pos++;
      v = this.plus(v, this.term(), t);
    }
    return v;
  }

  private plus(a: LValue, b: LValue, at: Token): LValue {
    // Checked before it is built: a string doubled twenty times is already too much to make.
    if (expandedSize(a, this.sizes) + expandedSize(b, this.sizes) > LIMITS.configBytes) this.tooBig(at);
    if (a.kind === 'array' && b.kind === 'array') return this.bounded({ kind: 'array', items: [...a.items, ...b.items] }, at);
    if (a.kind !== 'array' && b.kind !== 'array') return { kind: 'string', value: `${a.value}${b.value}` };
    throw new MigrateError(this.file, at.line, 'adds an array and a string; lighttpd would refuse it too');
  }

  private term(): LValue {
    const t = this.next('a value');
    if (t.type === 'string') return { kind: 'string', value: t.text };
    if (t.type === 'number') return { kind: 'number', value: Number(t.text) };
    if (t.type === 'ident') {
      const known = this.vars.get(t.text);
      if (known) return known;
      this.out.unresolved.push({ line: t.line, name: t.text });
      return { kind: 'string', value: `\${${t.text}}` };
    }
    if (t.text !== '(') throw this.unexpected(t, 'a string, a number or a ( list )');
    this.enter(t);
    const items: LItem[] = [];
    for (;;) {
      const n = this.peek();
      if (n?.type === 'op' && n.text === ')') break;
      const first = this.expr();
      const arrow = this.peek();
      if (arrow?.type === 'op' && arrow.text === '=>') {
        this.pos++;
        if (first.kind === 'array') throw this.unexpected(arrow, 'a string key before =>');
        items.push({ key: String(first.value), value: this.expr(), line: n?.line ?? t.line });
      } else items.push({ key: null, value: first, line: n?.line ?? t.line });
      const sep = this.peek();
      if (sep?.type === 'op' && sep.text === ',') this.pos++;
      else break;
    }
    this.expect(')', `) closing the ( on line ${t.line}`);
    this.depth--;
    return this.bounded({ kind: 'array', items }, t);
  }

  /**
   * `v`, if what it stands for, written out, fits in a config's bound: a value
   * names variables that name variables (`var.a = var.a + var.a`, or a list
   * of two of the one before), and a few hundred bytes would otherwise stand
   * for gigabytes.
   */
  private bounded(v: LValue, at: Token): LValue {
    if (expandedSize(v, this.sizes) > LIMITS.configBytes) this.tooBig(at);
    return v;
  }

  private tooBig(at: Token): never {
    throw new MigrateError(this.file, at.line, `its variables expand to more than ${LIMITS.configBytes.toLocaleString('en-US')} bytes (1 MiB); no lighttpd config holds that much`);
  }
}

/**
 * About how many bytes `v` takes written out: lists share their items (a
 * variable used twice is one value), so the size is kept per value and each is
 * counted once, in time linear in the values there are.
 */
function expandedSize(v: LValue, sizes: WeakMap<LValue, number>): number {
  if (v.kind !== 'array') return String(v.value).length;
  const known = sizes.get(v);
  if (known !== undefined) return known;
  let n = 4;
  for (const item of v.items) n += (item.key?.length ?? 0) + 4 + expandedSize(item.value, sizes);
  sizes.set(v, n);
  return n;
}
