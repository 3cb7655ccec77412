// user/group names to ids, through the system's own `id` and `getent` so that
// NSS sources (LDAP, systemd-userdb) work as they do for every other tool.

import { execFileSync } from 'node:child_process';

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
