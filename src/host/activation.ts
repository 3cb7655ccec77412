// systemd socket activation (sd_listen_fds(3)): sockets passed as fds 3.. with
// LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES. A pool whose `listen` is
// `systemd:NAME`, or whose address is the address of a passed socket, uses
// that socket instead of creating one, so a restart of fcgid itself refuses no
// connection: systemd holds the socket meanwhile and connections wait in its
// backlog.

import type { Address } from '../fastcgi/address.js';
import type { PoolConfig } from '../config/types.js';
import { formatAddress } from '../fastcgi/address.js';
import { addressOfInode, socketInode, tcpListeners, unixSocketPaths } from './procnet.js';

export const SD_LISTEN_FDS_START = 3;

export interface PassedSocket {
  fd: number;
  name: string;
  /** Where it is bound, from /proc; null when /proc does not show it. */
  address: Address | null;
}

/** The sockets passed to this process, or none when LISTEN_PID names another process. */
export function passedSockets(env: NodeJS.ProcessEnv = process.env, pid = process.pid): PassedSocket[] {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return [];
  const count = Number(env.LISTEN_FDS ?? 0);
  if (!Number.isInteger(count) || count <= 0) return [];
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  const unix = unixSocketPaths();
  const tcp = tcpListeners();
  const out: PassedSocket[] = [];
  for (let i = 0; i < count; i++) {
    const fd = SD_LISTEN_FDS_START + i;
    const inode = socketInode(fd);
    out.push({ fd, name: names[i] || 'unknown', address: inode === null ? null : addressOfInode(inode, unix, tcp) });
  }
  return out;
}

/** The passed socket a pool should use: by name for systemd:NAME, else by equal address. */
export function matchPassed(listen: Address, passed: readonly PassedSocket[]): PassedSocket | undefined {
  if (listen.kind === 'systemd') return passed.find((p) => p.name === listen.name);
  const want = formatAddress(listen);
  return passed.find((p) => p.address !== null && formatAddress(p.address) === want);
}

/** The pools whose socket fcgid creates itself: all but those systemd passed one for. */
export function poolsToCreate(pools: readonly PoolConfig[], passed: readonly PassedSocket[]): PoolConfig[] {
  return pools.filter((p) => p.listen.kind !== 'systemd' && !matchPassed(p.listen, passed));
}
