// Apache httpd config syntax, read into directives: one a line (backslash
// continuations joined, `#` comment lines skipped), arguments split on
// whitespace with "quoted" words, each directive with the <Section>s it sits
// in. A section left open or closed by the wrong tag is refused, as httpd does.

import { MigrateError } from './errors.js';
import { quote } from './ini.js';
import { linesOf } from './text.js';

export interface Section {
  id: number;
  tag: string;
  args: string;
  line: number;
}

export interface Directive {
  name: string;
  /** The name in lower case: httpd's directive names are case-insensitive. */
  key: string;
  args: string[];
  line: number;
  /** The sections it sits in, outermost first (<If…> conditions left out). */
  scope: Section[];
}

const MAX_DEPTH = 64;

export function parseApache(text: string, file: string): Directive[] {
  const out: Directive[] = [];
  const open: Section[] = [];
  let nextId = 1;
  const lines = linesOf(text);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    // A line ending in \ goes on in the next; each raw line is looked at once (joining then testing the whole took time squared).
    const parts = [lines[i]!];
    while (/\\\s*$/.test(parts[parts.length - 1]!) && i + 1 < lines.length) {
      parts[parts.length - 1] = parts[parts.length - 1]!.replace(/\\\s*$/, ' ');
      parts.push(lines[++i]!);
    }
    const t = parts.join('').trim();
    if (t === '' || t.startsWith('#')) continue;
    if (t.startsWith('</')) {
      const m = /^<\/\s*([A-Za-z][\w:-]*)\s*>$/.exec(t);
      if (!m) throw new MigrateError(file, line, `${quote(t)} is not a closing tag like </VirtualHost>; fix it`);
      const top = open.pop();
      if (!top) throw new MigrateError(file, line, `</${m[1]}> closes a section that was never opened; remove it`);
      if (top.tag.toLowerCase() !== m[1]!.toLowerCase()) {
        throw new MigrateError(file, line, `</${m[1]}> closes <${top.tag}>, opened on line ${top.line}; close that one first with </${top.tag}>`);
      }
      continue;
    }
    if (t.startsWith('<')) {
      const m = /^<([A-Za-z][\w:-]*)(\s[^>]*)?>$/.exec(t);
      if (!m) throw new MigrateError(file, line, `${quote(t)} opens a section without the closing >; write it as <Directory /path>`);
      if (open.length >= MAX_DEPTH) throw new MigrateError(file, line, `sections nested more than ${MAX_DEPTH} deep; no httpd config nests that deep`);
      open.push({ id: nextId++, tag: m[1]!, args: (m[2] ?? '').trim(), line });
      continue;
    }
    const words = splitArgs(t, file, line);
    // <IfModule>, <IfDefine>, <IfVersion>: conditions on the config, not places it applies to.
    out.push({ name: words[0]!, key: words[0]!.toLowerCase(), args: words.slice(1), line, scope: open.filter((s) => !/^if/i.test(s.tag)) });
  }
  const left = open.pop();
  if (left) throw new MigrateError(file, left.line, `<${left.tag}${left.args ? ` ${left.args}` : ''}> is never closed; add </${left.tag}>`);
  return out;
}

/** httpd's ap_getword_conf: whitespace-separated words; "…" or '…' keep spaces, a backslash escapes the quote. */
function splitArgs(text: string, file: string, line: number): string[] {
  const words: string[] = [];
  for (let i = 0; i < text.length;) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let word = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== c; j++) {
        if (text[j] === '\\' && text[j + 1] === c) j++;
        word += text[j];
      }
      if (j >= text.length) throw new MigrateError(file, line, `a ${c} opened here is never closed; close it`);
      words.push(word);
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !/\s/.test(text[j]!)) j++;
    words.push(text.slice(i, j));
    i = j;
  }
  return words;
}
