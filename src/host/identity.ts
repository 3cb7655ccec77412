// user/group names to ids, through the system's own `id` and `getent` so that
// NSS sources (LDAP, systemd-userdb) work as they do for every other tool.

import { execFileSync } from 'node:child_process';
import type { Config, PoolConfig } from '../config/types.js';
import type { Ids } from '../supervisor/port.js';

function lookup(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/**
 * How long an answer is reused. Each lookup runs a program (a few ms, the event
 * loop waiting), and a start-up asks about the same names several times
 * (`check`'s problems, the workers' ids, the socket's owner): a config naming
 * www-data four times ran `id` a dozen times before its first worker. A user
 * added or removed is seen again after this long (a reload, later, looks anew).
 */
const LOOKUP_CACHE_MS = 5000;
const answers = new Map<string, { at: number; value: unknown }>();

/** `fn()`'s answer for `key`, run again only once it is LOOKUP_CACHE_MS old. */
export function remembered<T>(key: string, fn: () => T): T {
  const now = performance.now();
  const hit = answers.get(key);
  if (hit && now - hit.at < LOOKUP_CACHE_MS) return hit.value as T;
  const value = fn();
  answers.set(key, { at: now, value });
  return value;
}

export function resolveUser(name: string): { uid: number; gid: number } | null {
  return remembered(`user:${name}`, () => {
    if (/^\d+$/.test(name)) return { uid: Number(name), gid: Number(lookup('id', ['-g', name]) ?? name) };
    // name:password:uid:gid:… in one run (id -u and id -g took two).
    const f = lookup('getent', ['passwd', name])?.split(':');
    return f === undefined || f.length < 4 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!) ? null : { uid: Number(f[2]), gid: Number(f[3]) };
  });
}

export function resolveGroup(name: string): number | null {
  if (/^\d+$/.test(name)) return Number(name);
  return remembered(`group:${name}`, () => {
    const gid = lookup('getent', ['group', name])?.split(':')[2];
    return gid === undefined || !/^\d+$/.test(gid) ? null : Number(gid);
  });
}

/** A problem fcgid reports in one line: what is wrong, then the fix. `missing`: a user or group that does not exist, named at the config key `where`. */
export interface Problem {
  what: string;
  fix: string;
  missing?: 'user' | 'group';
  where?: string;
}

/** A problem as its one line. */
export function said(p: Problem): string {
  return `${p.what}; ${p.fix}`;
}

/** The problem of a user or group name that does not resolve. */
export function noSuch(path: string, kind: 'user' | 'group', name: string): Problem {
  return { what: `${path}: no such ${kind} "${name}"`, fix: `create it or ${path === 'control.group' ? 'remove the key' : 'fix the name'}`, missing: kind, where: path };
}

export type { Ids };

/**
 * util-linux's setpriv: a worker whose user is in groups besides its own is
 * started through it, as Node's spawn() drops every supplementary group when it
 * switches user (libuv calls setgroups(0)). Part of util-linux, on every Debian.
 */
export const SETPRIV = '/usr/bin/setpriv';

/** Every group `user` is in, through NSS (`id -G`: its passwd group first, then those listing it as a member); null if unknown. */
export function groupsOf(user: string): number[] | null {
  return remembered(`groups:${user}`, () => {
    const out = lookup('id', ['-G', user]);
    return out === null || !/^\d+( \d+)*$/.test(out) ? null : out.split(' ').map(Number);
  });
}

/** Users or groups that do not exist, or that this process may not switch to. */
export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

/** user/group names to ids; every problem at once (exit status 2 at start-up). */
export function resolveIdentities(pools: readonly PoolConfig[]): Map<string, Ids> {
  const out = new Map<string, Ids>();
  const problems: Problem[] = [];
  for (const p of pools) {
    const ids = workerIds(p, process.getuid?.() === 0, problems);
    if (ids) out.set(p.name, ids);
  }
  if (problems.length > 0) throw new IdentityError(problems.map(said).join('\n'));
  return out;
}

/** A pool's user and group as ids; null (and the problem pushed) when one does not resolve. */
function workerIds(p: PoolConfig, root: boolean, problems: Problem[]): Ids | null {
  let uid: number | null = null;
  let gid: number | null = null;
  if ((p.user !== null || p.group !== null) && !root) {
    problems.push({
      what: `pools.${p.name}: running workers as ${p.user ?? ''}${p.group ? `:${p.group}` : ''} needs fcgid to run as root (it runs as uid ${process.getuid?.()})`,
      fix: 'remove user/group or start fcgid as root',
    });
    return null;
  }
  const before = problems.length;
  let passwdGid: number | null = null;
  if (p.user !== null) {
    const u = resolveUser(p.user);
    if (!u) problems.push(noSuch(`pools.${p.name}.user`, 'user', p.user));
    else ({ uid, gid } = u);
    passwdGid = gid;
  }
  if (p.group !== null) {
    const g = resolveGroup(p.group);
    if (g === null) problems.push(noSuch(`pools.${p.name}.group`, 'group', p.group));
    else gid = g;
  }
  if (problems.length !== before) return null;
  if (p.user === null || gid === null) return { uid, gid };
  // initgroups(user, gid): the group, and every group listing the user; its
  // passwd group only when that is the group (or lists it: id -G cannot tell).
  const all = groupsOf(p.user) ?? [];
  const groups = [gid, ...all.filter((g, i) => g !== gid && !(i === 0 && g === passwdGid))];
  return { uid, gid, groups };
}

/**
 * Every user and group a config names that does not exist (workers' user and
 * group, socket_owner, socket_group, control.group), and workers' users when
 * fcgid would not run as root: all that `start` refuses, for `check` to say
 * first. `asRoot`: judge as if fcgid ran as root (a check by another user).
 */
export function identityProblems(config: Config, asRoot = process.getuid?.() === 0): Problem[] {
  const problems: Problem[] = [];
  for (const p of config.pools) {
    workerIds(p, asRoot, problems);
    if (p.socket_owner !== null && resolveUser(p.socket_owner) === null) {
      problems.push(noSuch(`pools.${p.name}.socket_owner`, 'user', p.socket_owner));
    }
    if (p.socket_group !== null && resolveGroup(p.socket_group) === null) {
      problems.push(noSuch(`pools.${p.name}.socket_group`, 'group', p.socket_group));
    }
  }
  const group = config.control.group;
  if (group !== null && resolveGroup(group) === null) problems.push(noSuch('control.group', 'group', group));
  return problems;
}
