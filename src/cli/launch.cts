// Runs a bundled CLI (dist/bundle/<name>.cjs, see scripts/bundle.mjs) with V8's
// compiled code from its last run, the way Python keeps .pyc files in
// __pycache__ beside the source.
//
// Why: `fcgid start` is on the path of every restart. Loading fcgid and its
// dependencies module by module took ~75 ms before the first worker could be
// spawned; one bundle with the code from the previous start takes ~25 ms
// (docs/benchmarks.md). Node 20 has no compile cache of its own
// (module.enableCompileCache came in Node 22), so the bundle is compiled as a
// vm.Script, which takes and produces V8's code cache.
//
// CommonJS (.cts), like the shims in bin/ that load it: nothing before the
// first spawn starts Node's ES module loader.
//
// The cache is only an optimisation: missing, stale, damaged, rejected or
// unwritable, the bundle is compiled from source as it would be anyway.

import { isAscii } from 'node:buffer';
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import vm from 'node:vm';

/** What a bundled CLI's main() gets from its launcher. */
export interface Launch {
  /** The code cache as found: used, or why not. */
  readonly cache: CacheState;
  /**
   * Store V8's code for everything compiled so far, for the next run, unless
   * the cache just used is already current. Best effort: never throws.
   */
  saveCodeCache(): CacheSave;
}

/** used; or none there; for another build or Node; failing its checksum; refused by V8; not tried (source maps on, or a bundle without a build id). */
export type CacheState = 'used' | 'missing' | 'stale' | 'damaged' | 'rejected' | 'off';
export type CacheSave = 'written' | 'current' | { failed: string };

export type Main = (argv: string[], launch: Launch) => Promise<void>;

/** What bin/fcgid and bin/fcgictl call: run dist/bundle/<name>.cjs. */
export function run(name: 'fcgid' | 'fcgictl', argv: string[]): Promise<void> {
  const bundle = join(__dirname, '..', 'bundle', `${name}.cjs`);
  if (!existsSync(bundle)) {
    process.stderr.write(`${name}: the build is missing (no ${bundle}); run \`npm install\` (or \`npm run build\`) in the fcgid checkout\n`);
    process.exit(1);
  }
  return launch(bundle, argv);
}

export function launch(bundle: string, argv: string[]): Promise<void> {
  // Under --enable-source-maps, Node's own loader, which maps stack traces to
  // src/*.ts (it does not for a vm.Script); start-up speed matters less there.
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled) {
    return mainOf(require(bundle) as { main?: Main }, bundle)(argv, { cache: 'off', saveCodeCache: () => 'current' });
  }
  // scripts/bundle.mjs makes the bundle ASCII, which reads as latin1 at a
  // third of the cost of decoding UTF-8 (and makes a one-byte string).
  const bytes = readFileSync(bundle);
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  // The build's id, from the banner scripts/bundle.mjs writes: a bundle made otherwise gets no cache.
  const build = BUILD_ID.exec(source.slice(0, 200))?.[1];
  const stamp = build === undefined ? null : `${MAGIC} ${build} ${process.version} ${process.arch}`;
  const cacheFile = `${bundle}.cache`;
  const found = stamp === null ? 'off' : readCache(cacheFile, stamp);
  // The CommonJS wrapper, on the bundle's first line so that its line numbers
  // hold: the bundle sees require, module and __filename as under Node's loader.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    cachedData: typeof found === 'string' ? undefined : found,
  });
  const cache: CacheState = typeof found === 'string' ? found : script.cachedDataRejected ? 'rejected' : 'used';
  let saved = false;
  const launched: Launch = {
    cache,
    saveCodeCache() {
      if (stamp === null || cache === 'used' || saved) return 'current';
      saved = true;
      return writeCache(cacheFile, stamp, script.createCachedData());
    },
  };
  const module = { exports: {} as { main?: Main } };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return mainOf(module.exports, bundle)(argv, launched);
}

function mainOf(exports: { main?: Main }, bundle: string): Main {
  if (typeof exports.main !== 'function') throw new Error(`${bundle} exports no main(); rebuild with \`npm run build\``);
  return exports.main;
}

// A cache file is one header line, padded to a multiple of 8 bytes, then V8's
// data: "<MAGIC> <build id> <node version> <arch> <checksum>". V8 checks its
// own version and flags, but ties the code to the source only by length, so
// the build and the Node binary are checked here. Nor does a release build of
// V8 verify the data: a damaged byte aborts the process (seen: "Fatal error
// ... unreachable code" in the deserializer), so the data carries a checksum.
const MAGIC = 'fcgid-code-cache 3';
const BUILD_ID = /^"use strict"; \/\* fcgid-build ([0-9a-f-]+) \*\//;
const HEADER_MAX = 256;

/** The cached code if the file is whole and for this very bundle and Node. */
function readCache(file: string, stamp: string): Buffer | 'missing' | 'stale' | 'damaged' {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return 'missing';
  }
  const end = data.subarray(0, HEADER_MAX).indexOf(0x0a);
  if (end < 0) return 'stale';
  const header = data.toString('latin1', 0, end).trimEnd();
  const cut = header.lastIndexOf(' ');
  if (header.slice(0, cut) !== stamp) return 'stale';
  const code = data.subarray(end + 1);
  return code.length > 0 && checksum(code) === header.slice(cut + 1) ? code : 'damaged';
}

/** Write to a temporary name and rename: a concurrent reader sees a whole file or none. */
function writeCache(file: string, stamp: string, code: Buffer): CacheSave {
  const line = `${stamp} ${checksum(code)}`;
  const header = Buffer.from(`${line.padEnd(Math.ceil((line.length + 1) / 8) * 8 - 1)}\n`, 'latin1');
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([header, code]), { mode: 0o644 });
    renameSync(tmp, file);
    return 'written';
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
    return { failed: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

/**
 * FNV-1a over 32-bit words, as 8 hex digits: ~2 ms for fcgid's ~0.5 MB of
 * cache, less than loading node:crypto takes before it could hash anything.
 */
export function checksum(data: Buffer): string {
  // Int32Array needs a 4-byte aligned offset; copies come from Node's 8-aligned pool or their own memory.
  const bytes = data.byteOffset % 4 === 0 ? data : Buffer.from(data);
  const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  for (let i = words.length * 4; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}
