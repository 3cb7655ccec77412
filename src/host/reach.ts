// Whether a web server's worker processes can connect to a pool's unix
// socket: who they run as (read from the installed server's own config, as
// `fcgid web-config` and `fcgid check` need it), and what the socket file and
// each directory above it let that user do. Connecting to a unix socket takes
// write permission on the file and search (x) permission on every directory
// of its path (unix(7)).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config, PoolConfig } from '../config/types.js';
import { formatMode } from '../config/view.js';
import { groupsOf, remembered, resolveGroup, resolveUser, said, type Problem } from './identity.js';

export type WebServer = 'nginx' | 'apache' | 'lighttpd';
export const WEB_SERVERS: readonly WebServer[] = ['nginx', 'apache', 'lighttpd'];

export interface WebUser {
  name: string;
  /** Where the name came from, for the message: "/etc/nginx/nginx.conf", "--web-user". */
  from: string;
}

/** Where each server names its user, and how; what it runs as when the file says nothing. */
const SOURCES: Record<WebServer, { file: string; pattern: RegExp; fallback: string }> = {
  nginx: { file: '/etc/nginx/nginx.conf', pattern: /^\s*user\s+([^\s;]+)/m, fallback: 'nobody' },
  apache: { file: '/etc/apache2/envvars', pattern: /^\s*export\s+APACHE_RUN_USER=["']?([^\s"']+)/m, fallback: 'www-data' },
  lighttpd: { file: '/etc/lighttpd/lighttpd.conf', pattern: /^\s*server\.username\s*=\s*"([^"]+)"/m, fallback: 'www-data' },
};

/** The user a web server's workers run as, from its installed config; www-data (Debian's) when it is not installed. */
export function webServerUser(server: WebServer, root = ''): WebUser {
  const { file, pattern, fallback } = SOURCES[server];
  let text: string;
  try {
    text = readFileSync(root + file, 'utf8').slice(0, 1024 * 1024);
  } catch {
    return { name: 'www-data', from: `Debian's default (${file} not found)` };
  }
  const m = pattern.exec(text);
  return m ? { name: m[1]!, from: file } : { name: fallback, from: `${file} names no user: ${server}'s default` };
}

/** A user as a permission check sees it: its uid and every group it is in (a web server's workers get them all). */
interface Ids {
  uid: number;
  gids: number[];
}

function idsOf(user: string): Ids | null {
  const u = resolveUser(user);
  return u && { uid: u.uid, gids: groupsOf(user) ?? [u.gid] };
}

/**
 * Whether `who` has permission `bit` (4 r, 2 w, 1 x) on a file or directory of
 * this owner, group and mode (path_resolution(7)). Root reads and writes
 * anything and searches any directory, but executes a file only if some x bit
 * is set (capabilities(7)).
 */
export function permitted(who: Pick<Ids, 'uid' | 'gids'>, st: { uid: number; gid: number; mode: number }, bit: number, isDir: boolean): boolean {
  const mode = st.mode & 0o777;
  if (who.uid === 0) return bit !== 1 || isDir || (mode & 0o111) !== 0;
  if (who.uid === st.uid) return (mode & (bit << 6)) !== 0;
  if (who.gids.includes(st.gid)) return (mode & (bit << 3)) !== 0;
  return (mode & bit) !== 0;
}

/** The web servers whose config is on this machine. */
export function installedWebServers(root = ''): WebServer[] {
  return WEB_SERVERS.filter((server) => existsSync(root + SOURCES[server].file));
}

export interface Reach {
  /** What keeps the user out, each with its fix. Empty: it can connect. */
  problems: Problem[];
  /** The socket file as fcgid makes it: "owner root, group www-data, mode 0660". */
  socket: string;
}

/**
 * Whether `user` will be able to connect to the pool's socket once fcgid runs
 * it (as root, under systemd's umask 0022 unless `umask` says otherwise):
 * judged from the config for the file fcgid creates, and from the disk for the
 * directories above it that exist now. A TCP socket is open to every local user.
 */
export function socketReach(pool: PoolConfig, user: string, fcgid: { uid: number; gid: number; umask: number } = { uid: 0, gid: 0, umask: 0o022 }): Reach {
  if (pool.listen.kind !== 'unix') return { problems: [], socket: pool.listen.kind === 'tcp' ? 'a TCP socket: any local user can connect' : 'a socket systemd passes: its unit sets its mode' };
  const who = idsOf(user);
  if (!who) return { problems: [{ what: `the web server's user ${user} does not exist here`, fix: 'name it with --web-user' }], socket: '' };
  const owner = pool.socket_owner === null ? fcgid.uid : (resolveUser(pool.socket_owner)?.uid ?? -1);
  const group = pool.socket_group === null ? fcgid.gid : (resolveGroup(pool.socket_group) ?? -1);
  const mode = pool.socket_mode ?? 0o777 & ~fcgid.umask;
  const name = (id: number, kind: 'user' | 'group'): string => (kind === 'user' ? (pool.socket_owner ?? (id === 0 ? 'root' : String(id))) : (pool.socket_group ?? (id === 0 ? 'root' : String(id))));
  const socket = `owner ${name(owner, 'user')}, group ${name(group, 'group')}, mode ${formatMode(mode)}${pool.socket_mode === null ? ', from the umask' : ''}`;
  const problems: Problem[] = [];
  if (!permitted(who, { uid: owner, gid: group, mode }, 2, false)) {
    problems.push({
      what: `${user} cannot connect to ${pool.listen.path} (${socket}): it needs write permission`,
      fix: `set socket_group: ${primaryGroup(user)} and socket_mode: "0660" in pool ${pool.name} (or socket_owner: ${user})`,
    });
  }
  for (let dir = dirname(pool.listen.path); ; dir = dirname(dir)) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      // fcgid creates a missing directory with mode 0755, which lets everyone through.
      if (dir === '/') break;
      continue;
    }
    if (!permitted(who, st, 1, true)) {
      problems.push({
        what: `${user} cannot enter ${dir} (mode ${formatMode(st.mode & 0o777)}, owner uid ${st.uid}), on the way to ${pool.listen.path}`,
        fix: `chmod o+x ${dir}, or move the socket (listen) to a directory it can enter, like /run/fcgid`,
      });
    }
    if (dir === '/') break;
  }
  return { problems, socket };
}

/**
 * For each pool on a unix socket, what keeps the workers of an installed web
 * server (nginx, Apache, lighttpd: the ones whose config is on this machine)
 * from connecting: `fcgid check` says it, `fcgid start` logs it once. One
 * line per pool and user, naming the servers that run as that user.
 */
export function webServerWarnings(config: Config, fcgid?: { uid: number; gid: number; umask: number }, root = ''): string[] {
  const users = new Map<string, string[]>();
  for (const server of installedWebServers(root)) {
    const { name } = webServerUser(server, root);
    users.set(name, [...(users.get(name) ?? []), server === 'apache' ? 'Apache' : server]);
  }
  const out: string[] = [];
  for (const pool of config.pools) {
    if (pool.listen.kind !== 'unix') continue;
    for (const [user, servers] of users) {
      for (const p of socketReach(pool, user, fcgid).problems) out.push(`warning: pool ${pool.name}: ${servers.length === 1 ? `${servers[0]} runs` : `${servers.slice(0, -1).join(', ')} and ${servers.at(-1)} run`} as ${user}: ${said(p)}`);
    }
  }
  return out;
}

function primaryGroup(user: string): string {
  return remembered(`group-of:${user}`, () => readPrimaryGroup(user));
}

function readPrimaryGroup(user: string): string {
  try {
    return execFileSync('id', ['-gn', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || user;
  } catch {
    return user;
  }
}
