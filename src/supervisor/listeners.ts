// The pools' listening sockets, created for the daemon by listen-helper.ts so
// that the daemon holds bare descriptors it never polls (DESIGN.md §5). Also
// the unix-socket file chores: refuse a live socket, replace a stale one, apply
// mode and owner, remove the file at exit.

import { fork } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatAddress, netOptions, type Address } from '../fastcgi/address.js';
import { socketFileState } from '../fastcgi/unix-socket.js';

export class ListenError extends Error {
  override readonly name = 'ListenError';
  readonly code = 'FCGID_LISTEN_FAILED';
}

export interface Listener {
  address: Address;
  fd: number;
  /** The raw libuv handle that keeps the descriptor open; null for a socket systemd passed. */
  handle: { fd: number; close(): void } | null;
  /** fcgid created it, so fcgid removes its file at the end; false for systemd's sockets. */
  owned: boolean;
}

const HELPER = fileURLToPath(new URL('./listen-helper.js', import.meta.url));

/** Create every listener, one helper per socket (see listen-helper.ts); all or nothing. */
export async function openListeners(targets: Array<{ address: Address; backlog: number }>): Promise<Listener[]> {
  for (const t of targets) if (t.address.kind === 'unix') await prepareUnixPath(t.address.path);
  const results = await Promise.allSettled(targets.map((t) => openListener(t)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // Leave nothing behind: close what was opened and remove its socket file.
    for (const r of results) if (r.status === 'fulfilled') closeListener(r.value);
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<Listener>).value);
}

function openListener(target: { address: Address; backlog: number }): Promise<Listener> {
  const where = formatAddress(target.address);
  return new Promise((resolve, reject) => {
    const wire = { ...netOptions(target.address), backlog: target.backlog };
    let handle: Listener['handle'] | undefined;
    let error: ListenError | null = null;
    let stderr = '';
    const child = fork(HELPER, [JSON.stringify(wire)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('message', (msg: { ok: boolean; code?: string }, h: unknown) => {
      if (msg.ok) handle = h as Listener['handle'];
      else error = new ListenError(`cannot listen on ${where}: ${msg.code}${listenHint(msg.code)}`);
    });
    child.on('error', (err) => reject(new ListenError(`cannot start the listen helper: ${err.message}`)));
    // 'close' waits for the IPC channel too, so the message has been read.
    child.on('close', (code) => {
      if (!error && (code !== 0 || !handle)) {
        error = new ListenError(`the listen helper for ${where} exited with status ${code} without sending the socket${stderr ? `: ${stderr.trim()}` : ''}`);
      }
      if (error) {
        handle?.close();
        return reject(error);
      }
      resolve({ address: target.address, fd: handle!.fd, handle: handle!, owned: true });
    });
  });
}

function listenHint(code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE':
      return ' (another program listens there; pick another address or stop it)';
    case 'EACCES':
      return ' (permission denied: ports below 1024 need root, socket directories need write access)';
    case 'EADDRNOTAVAIL':
      return ' (that IP address is not on this machine)';
    default:
      return '';
  }
}

/** A stale socket file is removed; a live one is refused; anything else in the way is an error. */
export async function prepareUnixPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const state = await socketFileState(path);
  if (state === 'not-a-socket') throw new ListenError(`cannot listen on unix:${path}: a file that is not a socket is in the way; remove it or choose another path`);
  if (state === 'live') {
    throw new ListenError(`cannot listen on unix:${path}: something is listening there already (another fcgid with this config?); stop it first`);
  }
  if (state === 'stale') unlinkSync(path);
}

export function applySocketPermissions(path: string, mode: number | null, uid: number | null, gid: number | null): void {
  if (mode !== null) chmodSync(path, mode);
  if (uid !== null || gid !== null) chownSync(path, uid ?? -1, gid ?? -1);
}

export function closeListener(l: Listener): void {
  if (l.handle) l.handle.close();
  else {
    try {
      closeSync(l.fd);
    } catch {
      // already closed
    }
  }
  if (l.owned && l.address.kind === 'unix') {
    try {
      unlinkSync(l.address.path);
    } catch {
      // already gone
    }
  }
}

/** The kernel silently caps listen(2)'s backlog at net.core.somaxconn. */
export function somaxconn(): number | null {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    return null;
  }
}
