// Bundles each CLI with its dependencies into one CommonJS file,
// dist/bundle/fcgid.cjs and dist/bundle/fcgictl.cjs, from tsc's output in
// dist/. bin/fcgid and bin/fcgictl run them through src/cli/launch.cts.
//
// Why: `fcgid start` is on the path of every restart, and Node spends most of
// its start-up resolving, reading and compiling modules one file at a time
// (yaml alone is ~80 files). One file also lets launch.cts hand V8 the code
// compiled by the previous run, which Node 20 cannot do for ES modules.
//
// Paths built from import.meta.url keep working because the bundle sits at the
// same depth as tsc's modules: dist/bundle/fcgid.cjs finds ../../package.json
// and ../host/listen-helper.js just as dist/cli/fcgid.js does.
import { build } from 'esbuild';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = 'dist/bundle';

// Old bundles and their code caches go (launch.cts would reject the caches anyway).
rmSync(new URL(`../${outdir}`, import.meta.url), { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/fcgid.js', 'dist/cli/fcgictl.js'],
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  define: { 'import.meta.url': '__fcgidModuleUrl' },
  // "use strict" first, as the ES modules it came from were; then the build's
  // id, which launch.cts ties the code cache to (npm gives every file of a
  // package the same mtime, and V8 checks only the source's length).
  banner: {
    js: `"use strict"; /* fcgid-build ${randomUUID()} */ const __fcgidModuleUrl = require('node:url').pathToFileURL(__filename).href;`,
  },
  logLevel: 'warning',
  metafile: true,
});

// launch.cts compiles the bundle as a vm.Script, where import() has no loader:
// every dynamic import must have been bundled.
//
// And the bundle is made ASCII: esbuild escapes non-ASCII characters in code
// but keeps them in the comments it leaves, and a single one makes the whole
// source a UTF-8 decode (4 ms for fcgid's 1 MB, against 1.5 ms read as latin1)
// and a two-byte string in V8 (2 MB). Escaped as \uXXXX they mean the same in
// a string, a regular expression or an identifier, and nothing in a comment.
for (const file of Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.cjs'))) {
  const url = new URL(`../${file}`, import.meta.url);
  const text = readFileSync(url, 'utf8');
  if (/\bimport\(/.test(text)) {
    throw new Error(`${file} still calls import(); bundle that module or load it with require()`);
  }
  if (/[^\x00-\x7f]/.test(text)) writeFileSync(url, text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
