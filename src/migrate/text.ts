// Helpers every reader shares: the input's bounds (1 MiB of text, like a
// config file), shell words, and naming a pool after its program.

import { LIMITS } from '../config/types.js';
import { MigrateError } from './errors.js';
import { kindOf } from '../config/load.js';

/** The input as text, refused when it is too big or is not text at all. */
export function checkInput(text: string, file: string): string {
  const bytes = Buffer.byteLength(text);
  if (bytes > LIMITS.configBytes) {
    throw new MigrateError(
      file,
      null,
      `the file is ${bytes.toLocaleString('en-US')} bytes; fcgid import reads at most ${LIMITS.configBytes.toLocaleString('en-US')} (1 MiB): give it the config file itself`,
    );
  }
  // Binary data (an archive, a compiled file): NUL and the control characters no config holds.
  const bad = /[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]/.exec(text);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).padStart(2, '0');
    throw new MigrateError(file, lineOf(text, bad.index), `binary data (byte 0x${code}), not a config file; give fcgid import the text file the program reads`);
  }
  return text.replace(/^\uFEFF/, '');
}

/** The 1-based line of an offset in `text`. */
export function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** The input's lines, without their line ends. */
export function linesOf(text: string): string[] {
  return text.split(/\r?\n/);
}

/** A word as a POSIX shell reads it back unchanged. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const INTERPRETERS = /^(python[\d.]*|perl[\d.]*|ruby[\d.]*|node(js)?|php[\d.]*|sh|bash|env)$/;

/** A pool name from a program: php-cgi is "php", `python3 /srv/app/app.fcgi` is "app", /usr/lib/cgi-bin/wiki.fcgi is "wiki". */
export function nameFromCommand(words: readonly string[]): string {
  const base = (w: string): string => w.slice(w.lastIndexOf('/') + 1);
  let program = base(words[0] ?? 'app');
  if (INTERPRETERS.test(program)) {
    const script = words.slice(1).find((w) => !w.startsWith('-') && !w.includes('='));
    if (script) program = base(script);
  }
  if (/^php[\d.]*-cgi[\d.]*$/.test(program)) return 'php';
  return program.replace(/\.(fcgi|fcg|fpl|py|pl|rb|js|mjs|cgi|php)$/, '') || 'app';
}

/** php-cgi under any version suffix. */
export const isPhpCgi = (program: string): boolean => kindOf([program]) === 'php';

/** Text from the input, safe on one line (a YAML comment, a line of stderr): control characters become a space. */
export const oneLine = (s: string): string => s.replace(/[\x00-\x1f\x7f]+/g, ' ');
