// The layers of docs/architecture.md hold: the supervisor core reaches the OS
// only through its port, so it imports no `node:` module, nothing from the
// OS side (src/host/), the control server or the CLIs, and uses no global
// clock or timer; src/protocol/ (the codec) does no I/O at all.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string): Array<{ file: string; text: string }> {
  return readdirSync(join(SRC, dir))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: `${dir}/${f}`, text: readFileSync(join(SRC, dir, f), 'utf8') }));
}

/** What each module imports, and any dynamic import. */
function imports(text: string): string[] {
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)].map((m) => m[1] ?? m[2]!);
}

/** Code without its comments, so that a comment may name what the code must not use. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** Modules outside the core that the core may import: types and pure helpers with no I/O. */
const CORE_MAY_IMPORT = new Set(['../config/types.js', '../config/errors.js', '../fastcgi/address.js']);

describe('layers', () => {
  it.each(sources('supervisor'))('$file imports only the core, config types and addresses', ({ text }) => {
    const outside = imports(text).filter((m) => !m.startsWith('./') && !CORE_MAY_IMPORT.has(m));
    expect(outside).toEqual([]);
  });

  it.each(sources('supervisor'))('$file uses no global clock, timer or process state', ({ text }) => {
    const found = code(text).match(/\b(?:Date\.now|setTimeout|setInterval|setImmediate|queueMicrotask|process\.\w+|require\()/g) ?? [];
    expect(found).toEqual([]);
  });

  it('the modules the core may import import nothing that does I/O', () => {
    for (const m of CORE_MAY_IMPORT) {
      const text = readFileSync(join(SRC, 'supervisor', m.replace(/\.js$/, '.ts')), 'utf8');
      expect(imports(text).filter((i) => i.startsWith('node:')), m).toEqual([]);
    }
  });

  it.each(sources('protocol'))('$file (the codec) imports no node: module but Buffer', ({ text }) => {
    expect(imports(text).filter((m) => m.startsWith('node:') && m !== 'node:buffer')).toEqual([]);
  });
});
