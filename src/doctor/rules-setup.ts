// The doctor's rules about the setup, read before and beside the run: names
// that resolve to nobody, the cwd, the program and the script as the worker's
// user meets them, and whether the web server's user can reach the socket.

import { basename, dirname } from 'node:path';
import { DEFAULT_PATH } from '../host/processes.js';
import { X, permitted } from './access.js';
import { blocked, d, perms, type Rule } from './rule.js';
import type { Diagnosis } from './types.js';

/** user, group, socket_owner, socket_group naming nobody: `fcgid start` would refuse the config (identityProblems). */
export const identities: Rule = (o) =>
  o.identityProblems.map((p) => d(p.missing === 'group' ? 'no-such-group' : 'no-such-user', p.what, `${p.fix} (getent passwd / getent group list what exists)`));

/**
 * The worker's cwd. fcgid enters it as root, before it switches user, so a
 * directory above it that the user may not search does not matter; one the
 * user may not search itself makes every relative path fail with EACCES.
 */
export const cwd: Rule = (o) => {
  const c = o.cwd;
  const u = o.user.user;
  if (!c.exists) return [d('bad-cwd', `cwd ${c.path} does not exist`, `create it, or set cwd: in pool ${o.pool} to the app's directory`)];
  if (c.kind !== 'dir') return [d('bad-cwd', `cwd ${c.path} is not a directory`, `set cwd: in pool ${o.pool} to the app's directory`)];
  if (c.mode !== null && c.uid !== null && c.gid !== null && !permitted(o.user, { mode: c.mode, uid: c.uid, gid: c.gid }, X, true)) {
    return [
      d(
        'bad-cwd',
        `${u} may not search its cwd ${c.path} (${perms(c)}): fcgid enters it as root, but every relative path the app opens then fails with permission denied`,
        `chmod o+x ${c.path} (or give ${u}'s group search permission on it), or set cwd: in pool ${o.pool} to a directory ${u} can enter`,
      ),
    ];
  }
  return [];
};

export const program: Rule = (o) => {
  const p = o.program;
  if (!p) return [];
  const u = o.user.user;
  const r = p.resolved;
  if (r === null) {
    return [
      d(
        'not-found',
        `${p.name} is not in the worker's PATH (${p.searchPath})${p.inShellPath ? `; your shell finds it at ${p.inShellPath}` : ''}`,
        p.inShellPath
          ? `write its full path in command of pool ${o.pool} (${p.inShellPath}), or set PATH under env: to include ${dirname(p.inShellPath)}`
          : `install it, or write its full path in command of pool ${o.pool}`,
      ),
    ];
  }
  const gate = blocked(o, r, 'the program');
  if (gate) return [gate];
  if (!r.exists) {
    const where = p.name === r.path ? '' : ` (${p.name}, taken relative to cwd ${o.cwd.path})`;
    return [d('not-found', `the program ${r.path} does not exist${where}`, `fix command in pool ${o.pool}: give the program's absolute path`)];
  }
  if (r.kind !== 'file') {
    const what = r.kind === 'dir' ? 'a directory' : 'not a regular file';
    return [d('not-executable', `${r.path} is ${what}, not a program`, `name the program itself in command of pool ${o.pool}`)];
  }
  const out: Diagnosis[] = [];
  const s = p.shebang;
  const interp = s?.facts?.exists && s.facts.executable && !s.crlf ? s.facts.path : (s?.alternative ?? p.looksLike);
  if (!r.executable) {
    out.push(
      d(
        'not-executable',
        `${r.path} is not executable for ${u} (${perms(r)})`,
        `chmod +x ${r.path}${interp ? `, or run it through its interpreter: command: [${interp}, ${r.path}]` : ''}`,
      ),
    );
  }
  if (p.format === 'shebang' && s) {
    const named = s.env ? `/usr/bin/env ${s.env.name}` : s.interpreter.replace(/\r$/, '');
    const instead = s.alternative ? ` (this machine has ${s.alternative})` : '';
    const orCommand = `, or name the interpreter in command: [${s.alternative ?? 'INTERPRETER'}, ${r.path}]`;
    if (s.crlf) {
      out.push(
        d(
          'bad-shebang',
          `${r.path} has Windows line endings: its #! line asks the kernel for "${(s.env ? s.env.name : s.interpreter.replace(/\r$/, '')) + '\\r'}", which does not exist`,
          `convert the file to Unix line endings: sed -i 's/\\r$//' ${r.path} (or dos2unix ${r.path})`,
        ),
      );
    } else if (s.interpreter === '') {
      out.push(d('bad-shebang', `the #! line of ${r.path} names no interpreter`, `write the interpreter's absolute path after #!${instead}${orCommand}`));
    } else if (s.env && s.env.found === null) {
      out.push(
        d(
          'bad-shebang',
          `${r.path} starts with #!${named}, and the worker's PATH (${o.env.worker.PATH ?? DEFAULT_PATH}) has no ${s.env.name}`,
          `write the interpreter's absolute path in the #! line${instead}, or set PATH under env: of pool ${o.pool}`,
        ),
      );
    } else if (!s.env && s.facts && !s.facts.exists) {
      out.push(d('bad-shebang', `${r.path} starts with #!${named}, which does not exist`, `change its first line to an interpreter that exists${instead}${orCommand}`));
    } else if (!s.env && s.facts && !s.facts.executable) {
      const why = s.facts.blockedAt ? `${u} cannot enter ${s.facts.blockedAt.dir}` : `it is not executable for ${u} (${perms(s.facts)})`;
      out.push(d('bad-shebang', `${r.path} starts with #!${named}, and ${why}`, `point its first line at an interpreter ${u} may run${instead}${orCommand}`));
    } else if (r.executable && !r.readable) {
      out.push(d('permission-denied', `${u} cannot read ${r.path} (${perms(r)}), which its interpreter ${named} must open`, `chmod o+r ${r.path} (or give it to ${u}'s group)`));
    }
  } else if (p.format === 'text') {
    const to = p.looksLike ?? 'INTERPRETER';
    out.push(
      d(
        'no-shebang',
        `${r.path} is a text file without a #! line, so it runs under /bin/sh${p.looksLike ? ` (it looks written for ${basename(p.looksLike)})` : ''}`,
        `make "#!${to}" its first line, or name the interpreter in command: [${to}, ${r.path}]`,
      ),
    );
  }
  return out;
};

/** The script an interpreter is given: python3 /var/www/app/app.fcgi. */
export const script: Rule = (o) => {
  const s = o.script;
  if (!s) return [];
  const gate = blocked(o, s, 'the script');
  if (gate) return [gate];
  if (!s.exists) {
    const where = s.arg === s.path ? '' : ` (${s.arg}, taken relative to cwd ${o.cwd.path})`;
    return [d('not-found', `the script ${s.path} does not exist${where}`, `fix command in pool ${o.pool}: give the script's absolute path, or set cwd: to its directory`)];
  }
  if (!s.readable) return [d('permission-denied', `${o.user.user} cannot read the script ${s.path} (${perms(s)})`, `chmod o+r ${s.path} (or give it to ${o.user.user}'s group)`)];
  return [];
};

export const reach: Rule = (o) =>
  o.web.problems.map((p) => d('socket-unreachable', p.what, p.fix));
