// The directories fcgid writes into as root: where its control socket, its
// worker registry and its pools' sockets live. Another local user must not be
// able to choose what fcgid writes, removes, chmods or signals there
// (docs/security.md), so a directory is used only when it is one fcgid can
// trust, and missing ones are created one component at a time (Node's
// recursive mkdir loops forever on /proc).

import { lstatSync, mkdirSync, realpathSync, type Stats } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';

export class DirError extends Error {
  override readonly name = 'DirError';
  readonly code = 'FCGID_UNSAFE_DIR';
}

const S_ISVTX = 0o1000;

/** Who fcgid trusts to own a directory: root, and the user fcgid runs as. */
function trustedOwner(st: Stats, euid: number): boolean {
  return st.uid === 0 || st.uid === euid;
}

/**
 * How far a directory must be fcgid's own. `private`: fcgid reads back what it
 * wrote there (the worker registry, beside the control socket) or appends to a
 * file by name (log.file), so no one else may write in it, even in a sticky
 * directory (they could plant the file first). `shared`: fcgid only creates its
 * own sockets there (a pool's listen path); a sticky directory such as /tmp will
 * do, since others can neither remove nor replace what fcgid created.
 */
export type Trust = 'private' | 'shared';

/**
 * Why `dir` cannot be trusted, or null when it can. Every directory from / to
 * it must be owned by root or by fcgid's user and be either writable by no one
 * else or sticky (others can then rename or remove only their own files); `dir`
 * itself, when `private`, writable by no one else at all. A symlink on the way
 * must be owned by root or fcgid's user (its owner could retarget it), and where
 * it leads is checked the same way. A missing directory is trusted if the
 * nearest existing one above it is (fcgid creates the rest, as its own).
 */
export function untrusted(dir: string, trust: Trust, euid = process.geteuid?.() ?? 0): string | null {
  const full = resolve(dir);
  const mode = (st: Stats): string => (st.mode & 0o7777).toString(8).padStart(4, '0');
  const by = (st: Stats): string => (st.mode & 0o002 ? 'anyone' : 'its group');
  // The path as written: symlinks on it must be trusted (their owners could retarget them).
  let nearest: string = sep;
  for (const here of prefixes(full)) {
    let st: Stats;
    try {
      st = lstatSync(here);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') break; // fcgid creates the rest
      return `${here}: ${(err as NodeJS.ErrnoException).code}`;
    }
    if (st.isSymbolicLink() && !trustedOwner(st, euid)) return `${here} is a symlink owned by uid ${st.uid}, not by root or fcgid's user (uid ${euid})`;
    nearest = here;
  }
  // Where it really is: every directory on the way.
  let real: string;
  try {
    real = realpathSync(nearest);
  } catch (err) {
    return `${nearest}: ${(err as NodeJS.ErrnoException).code}`;
  }
  const target = nearest === full;
  for (const here of prefixes(real)) {
    const st = lstatSync(here);
    if (!st.isDirectory()) return `${here} is not a directory`;
    if (!trustedOwner(st, euid)) return `${here} is owned by uid ${st.uid}, not by root or fcgid's user (uid ${euid})`;
    if ((st.mode & 0o022) === 0) continue;
    if (trust === 'private' && target && here === real) return `${here} is writable by ${by(st)} (mode ${mode(st)})`;
    if (!(st.mode & S_ISVTX)) return `${here} is writable by ${by(st)} and not sticky (mode ${mode(st)})`;
  }
  return null;
}

/** "/", "/a", "/a/b" for "/a/b". */
function prefixes(path: string): string[] {
  const parts = path.split(sep).filter(Boolean);
  return [sep, ...parts.map((_, i) => sep + parts.slice(0, i + 1).join(sep))];
}

/**
 * Make sure `dir` exists and can be trusted (see `untrusted`); create what is
 * missing with `mode`, one component at a time. `what` names the setting in
 * the error ("control.socket"), which says the fix.
 */
export function trustedDir(dir: string, trust: Trust, mode: number, what: string): void {
  // Checked before anything is created in it too: fcgid must not make directories where others decide.
  const before = untrusted(dir, trust);
  if (before === null) makeDirs(dir, mode, what);
  const why = before ?? untrusted(dir, trust);
  if (why !== null) {
    throw new DirError(`${what}: ${dir} cannot be trusted: ${why}; use a directory that only root (or fcgid's user) can write, e.g. under /run`);
  }
}

/** Create the missing directories of `dir`, each with `mode`, parent before child. */
export function makeDirs(dir: string, mode: number, what: string): void {
  const full = resolve(dir);
  const missing: string[] = [];
  for (let d = full; ; d = dirname(d)) {
    try {
      lstatSync(d);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || d === dirname(d)) throw new DirError(`${what} ${dir}: ${d}: ${(err as NodeJS.ErrnoException).code}`);
      missing.push(d);
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue; // made meanwhile: checked by the caller like any other
      throw new DirError(`${what} ${dir}: cannot create ${d}: ${code ?? (err as Error).message}`);
    }
  }
}
