// The INI files of supervisord (Python's configparser as supervisord sets it
// up: `;` and `#` comments, inline after whitespace; `=` or `:`; indented
// lines continue a value) and php-fpm (PHP's INI reader: `;` comments, quoted
// values). Sections with their entries and lines; nothing is interpreted.

import { MigrateError } from './errors.js';
import { linesOf } from './text.js';

export interface IniEntry {
  key: string;
  value: string;
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
  entries: IniEntry[];
}

export type IniDialect = 'python' | 'php';

export function readIni(text: string, file: string, dialect: IniDialect): IniSection[] {
  const sections: IniSection[] = [];
  let current: IniSection | null = null;
  let last: IniEntry | null = null;
  linesOf(text).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '') {
      last = null;
      return;
    }
    if (trimmed.startsWith(';') || trimmed.startsWith('#')) return;
    // configparser: an indented line continues the value above it.
    if (dialect === 'python' && /^\s/.test(raw) && last !== null) {
      const more = stripPythonComment(trimmed);
      if (more !== '') last.value += `\n${more}`;
      return;
    }
    if (trimmed.startsWith('[')) {
      const end = trimmed.indexOf(']');
      if (end < 0) throw new MigrateError(file, line, `the section header ${quote(trimmed)} has no closing ]; write it as [name]`);
      const name = trimmed.slice(1, end).trim();
      if (name === '') throw new MigrateError(file, line, 'an empty section header []; name the section, e.g. [www]');
      current = { name, line, entries: [] };
      sections.push(current);
      last = null;
      return;
    }
    const eq = dialect === 'python' ? firstOf(trimmed, '=', ':') : trimmed.indexOf('=');
    if (eq <= 0) {
      throw new MigrateError(
        file,
        line,
        `${quote(trimmed)} is not a setting (key = value) nor a [section]; ${dialect === 'python' ? 'supervisord' : 'php-fpm'} would refuse it too`,
      );
    }
    if (current === null) {
      if (dialect === 'python') throw new MigrateError(file, line, `${quote(trimmed)} comes before any [section]; supervisord reads settings only inside one`);
      current = { name: 'global', line, entries: [] };
      sections.push(current);
    }
    const key = trimmed.slice(0, eq).trim();
    const rest = trimmed.slice(eq + 1);
    const value = dialect === 'python' ? stripPythonComment(rest.trim()) : phpValue(rest, file, line);
    last = { key: dialect === 'python' ? key.toLowerCase() : key, value, line };
    (current as IniSection).entries.push(last);
  });
  return sections;
}

/** The first of two delimiters in `s`, or -1. */
function firstOf(s: string, a: string, b: string): number {
  const i = s.indexOf(a);
  const j = s.indexOf(b);
  return i < 0 ? j : j < 0 ? i : Math.min(i, j);
}

/** supervisord's inline comments: `;` or `#` after whitespace. */
function stripPythonComment(value: string): string {
  const m = /\s[;#]/.exec(value);
  return (m ? value.slice(0, m.index) : value).trim();
}

/** A PHP INI value: "quoted" or 'quoted' (the quotes go), else up to a `;` comment. */
function phpValue(rest: string, file: string, line: number): string {
  const v = rest.trim();
  const q = v[0];
  if (q === '"' || q === "'") {
    const end = v.indexOf(q, 1);
    if (end < 0) throw new MigrateError(file, line, `the value ${quote(v)} opens a quote it never closes; close it on the same line`);
    const after = v.slice(end + 1).trim();
    if (after !== '' && !after.startsWith(';')) return v.slice(1, end) + after.replace(/\s*;.*$/, '');
    return v.slice(1, end);
  }
  const semi = v.indexOf(';');
  return (semi < 0 ? v : v.slice(0, semi)).trim();
}

/** Input text quoted in a message, cut short. */
export function quote(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
}
