// The file system as the worker's user meets it: can it search every directory
// on the way, read and execute the file; what execvp would run for command[0]
// (libuv looks a bare name up in the PATH of the environment it is given, and
// in /usr/bin:/bin when that has none); what the first line of a script asks
// the kernel to run. The doctor runs as root, so "it works for me" proves
// nothing: every check is made with the worker's uid and gids.

import { closeSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, isAbsolute, join, resolve, sep } from 'node:path';
import { DEFAULT_PATH, searchIn } from '../host/processes.js';
import { R, X, permitted } from './access.js';
import type { Identity, PathFacts, ProgramFacts, ScriptFacts, ShebangFacts } from './types.js';

/** "/", "/a", "/a/b" for "/a/b/c": the directories a lookup of /a/b/c searches. */
function parents(path: string): string[] {
  const parts = path.split(sep).filter(Boolean);
  const out = ['/'];
  for (let i = 1; i < parts.length; i++) out.push(`/${parts.slice(0, i).join('/')}`);
  return out;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** `path` (absolute) as `who` meets it. */
export function pathFacts(path: string, who: Pick<Identity, 'uid' | 'gids'>): PathFacts {
  const st = statOrNull(path);
  let real = path;
  if (st) {
    try {
      real = realpathSync(path);
    } catch {
      // Keep the path as written.
    }
  }
  let blockedAt: PathFacts['blockedAt'] = null;
  // The directories of the path as written, and where symlinks lead: the kernel searches both.
  for (const dir of new Set([...parents(path), ...parents(real)])) {
    const d = statOrNull(dir);
    if (!d) break;
    if (d.isDirectory() && !permitted(who, d, X, true)) {
      blockedAt = { dir, mode: d.mode & 0o7777, uid: d.uid };
      break;
    }
  }
  const isDir = st?.isDirectory() ?? false;
  return {
    path,
    exists: st !== null,
    kind: st === null ? null : isDir ? 'dir' : st.isFile() ? 'file' : 'other',
    mode: st === null ? null : st.mode & 0o7777,
    uid: st?.uid ?? null,
    gid: st?.gid ?? null,
    blockedAt,
    readable: st !== null && blockedAt === null && permitted(who, st, R, isDir),
    executable: st !== null && blockedAt === null && permitted(who, st, X, isDir),
  };
}


const INTERPRETERS = /^(?:python[\d.]*|pypy[\d.]*|perl[\d.]*|ruby[\d.]*|node|nodejs|bash|sh|dash)$/;
/** Interpreter options that take the next word as their value, so the script comes later (python -W x, -X y; node -r mod). */
const OPTION_WITH_VALUE = new Set(['-W', '-X', '-r', '--require', '--import', '--loader']);
/** Options after which there is no script file: python -m mod, -c code; node -e; perl -e. */
const NO_SCRIPT = new Set(['-m', '-c', '-e', '--eval', '-p', '--print']);

/** The script argument of an interpreter's command (python3 app.fcgi), or null. */
export function scriptArgument(command: readonly string[]): string | null {
  if (!INTERPRETERS.test(basename(command[0] ?? ''))) return null;
  for (let i = 1; i < command.length; i++) {
    const a = command[i]!;
    if (NO_SCRIPT.has(a)) return null;
    if (OPTION_WITH_VALUE.has(a)) {
      i++;
      continue;
    }
    if (a === '--') return command[i + 1] ?? null;
    if (!a.startsWith('-')) return a;
  }
  return null;
}

/** The interpreter's own options before the script (python3 -E -s app.fcgi → [-E, -s]), which change its sys.path. */
export function interpreterOptions(command: readonly string[], script: string | null): string[] {
  const at = script === null ? -1 : command.indexOf(script, 1);
  return at === -1 ? [] : command.slice(1, at).filter((a) => a.startsWith('-'));
}

/** The first bytes of a file the kernel reads to decide how to run it (BINPRM_BUF_SIZE). */
function head(path: string): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(256);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

export function fileFormat(bytes: Buffer | null): ProgramFacts['format'] {
  if (bytes === null) return null;
  if (bytes.subarray(0, 2).toString('latin1') === '#!') return 'shebang';
  if (bytes.subarray(0, 4).toString('latin1') === '\x7fELF' || bytes.includes(0)) return 'binary';
  return 'text';
}

/** The #! line split as Linux does: the interpreter, then everything else as one argument (binfmt_script.c). */
export function parseShebang(bytes: Buffer): { line: string; interpreter: string; arg: string | null; crlf: boolean } {
  const nl = bytes.indexOf(0x0a);
  const line = bytes.subarray(0, nl === -1 ? bytes.length : nl).toString('utf8');
  const body = line.slice(2).replace(/^[ \t]+/, '');
  const sp = body.search(/[ \t]/);
  const interpreter = sp === -1 ? body : body.slice(0, sp);
  const arg = sp === -1 ? '' : body.slice(sp).trim();
  return { line, interpreter, arg: arg === '' ? null : arg, crlf: line.endsWith('\r') };
}

export interface Where {
  cwd: string;
  env: Readonly<Record<string, string>>;
  who: Identity;
  /** The doctor's own PATH: where the operator's shell finds programs. */
  shellPath: string | undefined;
}

/** How command[0] would be found and run for the worker. */
export function programFacts(command: readonly string[], at: Where): ProgramFacts {
  const name = command[0] ?? '';
  const searchPath = at.env.PATH ?? DEFAULT_PATH;
  const isFile = (p: string): boolean => statOrNull(p)?.isFile() ?? false;
  let resolved: PathFacts | null;
  let lookup: ProgramFacts['lookup'];
  if (name.includes('/')) {
    lookup = 'path';
    resolved = pathFacts(resolve(at.cwd, name), at.who);
  } else {
    lookup = 'search';
    // execvp takes the first entry it may execute; failing that, the first it found (and says EACCES).
    const runnable = searchIn(name, searchPath, at.cwd, (p) => isFile(p) && pathFacts(p, at.who).executable);
    const any = runnable ?? searchIn(name, searchPath, at.cwd, isFile);
    resolved = any === null ? null : pathFacts(any, at.who);
  }
  const inShellPath = lookup === 'search' && resolved === null && at.shellPath ? searchIn(name, at.shellPath, process.cwd(), isFile) : null;
  const bytes = resolved?.exists && resolved.kind === 'file' ? head(resolved.path) : null;
  const format = fileFormat(bytes);
  let shebang: ShebangFacts | null = null;
  if (format === 'shebang') {
    const s = parseShebang(bytes!);
    const interp = s.interpreter.replace(/\r$/, '');
    // A relative interpreter is taken from the process's cwd, as the kernel opens it.
    const facts = interp === '' ? null : pathFacts(isAbsolute(interp) ? interp : resolve(at.cwd, interp), at.who);
    let env: ShebangFacts['env'] = null;
    if (basename(interp) === 'env' && s.arg !== null) {
      // `#!/usr/bin/env python3` (or `env -S python3 -u`): env looks the name up in the worker's PATH.
      const envName = s.arg.split(/[ \t]+/).find((w) => !w.startsWith('-'))?.replace(/\r$/, '') ?? '';
      if (envName !== '') env = { name: envName, found: searchIn(envName, searchPath, at.cwd, (p) => isFile(p) && pathFacts(p, at.who).executable) };
    }
    const missing = env ? env.found === null : !(facts?.executable ?? false);
    shebang = { ...s, facts, env, alternative: missing ? alternativeTo(env?.name ?? interp, searchPath, at) : null };
  }
  const looksLike = format === 'text' ? guessInterpreter(bytes!, searchPath, at) : null;
  return {
    name,
    lookup,
    searchPath: lookup === 'search' ? searchPath : null,
    resolved,
    inShellPath,
    format,
    shebang,
    interpreter: INTERPRETERS.test(basename(name)),
    looksLike,
  };
}

/** The first of `names` found where the system keeps programs, else in the worker's PATH (a #! line wants a path every user can run). */
function findProgram(names: readonly string[], searchPath: string, at: Where): string | null {
  const dirs = `/usr/bin:/bin:/usr/local/bin:${searchPath}`;
  for (const n of names) {
    const found = searchIn(n, dirs, at.cwd, (p) => (statOrNull(p)?.isFile() ?? false) && pathFacts(p, at.who).executable);
    if (found !== null) return found;
  }
  return null;
}

/** python3 for a missing python2.7 or python, perl for perl5.30: the family without its version, newest first. */
function alternativeTo(interpreter: string, searchPath: string, at: Where): string | null {
  const name = basename(interpreter).replace(/\r$/, '');
  const family = name.replace(/[\d.]+$/, '');
  if (family === '') return null;
  return findProgram([...new Set([`${family}3`, family, name])], searchPath, at);
}

/** The interpreter a text file without #! was written for, from its first bytes. */
function guessInterpreter(bytes: Buffer, searchPath: string, at: Where): string | null {
  const text = bytes.toString('utf8');
  if (/^\s*(?:import \w|from [\w.]+ import )/m.test(text)) return findProgram(['python3', 'python'], searchPath, at) ?? 'python3';
  if (/^\s*use (?:strict|warnings)\b/m.test(text)) return findProgram(['perl'], searchPath, at) ?? 'perl';
  if (/<\?php/.test(text)) return findProgram(['php'], searchPath, at) ?? 'php';
  return null;
}

/** The script an interpreter is given (python3 app.fcgi), as the worker's user meets it. */
export function scriptFacts(command: readonly string[], cwd: string, who: Identity): ScriptFacts | null {
  const arg = scriptArgument(command);
  return arg === null ? null : { arg, ...pathFacts(resolve(cwd, arg), who) };
}

/** Whether a relative name exists under `dir`. */
export function existsUnder(dir: string, name: string): boolean {
  return statOrNull(join(dir, name)) !== null;
}

/** The first of `dirs` that holds the Python module or package `name` (name.py or name/__init__.py). */
export function moduleIn(name: string, dirs: readonly string[]): string | null {
  if (!/^[A-Za-z_]\w*$/.test(name)) return null;
  return dirs.find((dir) => statOrNull(join(dir, `${name}.py`))?.isFile() || statOrNull(join(dir, name, '__init__.py'))?.isFile()) ?? null;
}
