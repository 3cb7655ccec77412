// user/group names to ids, through the system's own `id` and `getent` so that
// NSS sources (LDAP, systemd-userdb) work as they do for every other tool.

import { execFileSync } from 'node:child_process';
import type { PoolConfig } from '../config/types.js';

function lookup(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function resolveUser(name: string): { uid: number; gid: number } | null {
  if (/^\d+$/.test(name)) return { uid: Number(name), gid: Number(lookup('id', ['-g', name]) ?? name) };
  const uid = lookup('id', ['-u', name]);
  const gid = lookup('id', ['-g', name]);
  return uid === null || gid === null ? null : { uid: Number(uid), gid: Number(gid) };
}

export function resolveGroup(name: string): number | null {
  if (/^\d+$/.test(name)) return Number(name);
  const line = lookup('getent', ['group', name]);
  const gid = line?.split(':')[2];
  return gid === undefined ? null : Number(gid);
}

export type Ids = { uid: number | null; gid: number | null };

/** Users or groups that do not exist, or that this process may not switch to. */
export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

/** user/group names to ids; every problem at once (exit status 2 at start-up). */
export function resolveIdentities(pools: readonly PoolConfig[]): Map<string, Ids> {
  const out = new Map<string, Ids>();
  const root = process.getuid?.() === 0;
  const problems: string[] = [];
  for (const p of pools) {
    let uid: number | null = null;
    let gid: number | null = null;
    if ((p.user !== null || p.group !== null) && !root) {
      problems.push(
        `pools.${p.name}: running workers as ${p.user ?? ''}${p.group ? `:${p.group}` : ''} needs fcgid to run as root (it runs as uid ${process.getuid?.()}); remove user/group or start fcgid as root`,
      );
      continue;
    }
    if (p.user !== null) {
      const u = resolveUser(p.user);
      if (!u) problems.push(`pools.${p.name}.user: no such user "${p.user}"`);
      else ({ uid, gid } = u);
    }
    if (p.group !== null) {
      const g = resolveGroup(p.group);
      if (g === null) problems.push(`pools.${p.name}.group: no such group "${p.group}"`);
      else gid = g;
    }
    out.set(p.name, { uid, gid });
  }
  if (problems.length > 0) throw new IdentityError(problems.join('\n'));
  return out;
}
