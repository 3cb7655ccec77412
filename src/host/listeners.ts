// The pools' listening sockets, held by the daemon as bare descriptors that no
// libuv watcher of its own polls (DESIGN.md §5: a polled socket would have its
// connections stolen by the daemon). Two ways to get one:
//  - at start-up, listenHere() listens in this process and the first workers are
//    spawned on it in the same tick, before the event loop could poll it; then
//    handOver() gives it to listen-helper.ts, closes the daemon's handle and gets
//    the socket back, unpolled, over IPC (about 100 ms later). Nothing waits on
//    a second Node process before the first workers start.
//  - on a reload, openListeners() has the helper create the socket and send it.
// Also the unix-socket file chores: refuse a live socket, replace a stale one,
// apply mode and owner, remove the file at exit.

import { fork, type ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { chmodSync, chownSync, closeSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { fileURLToPath } from 'node:url';
import { formatAddress, netOptions, type Address } from '../fastcgi/address.js';
import { clearStaleSocket } from '../fastcgi/unix-socket.js';
import { trustedDir } from './dirs.js';

export class ListenError extends Error {
  override readonly name = 'ListenError';
  readonly code = 'FCGID_LISTEN_FAILED';
}

type Handle = { fd: number; close(): void };

export interface Listener {
  address: Address;
  /** The daemon's descriptor; null while the socket is away with the listen helper (handOver). */
  fd: number | null;
  /** The raw libuv handle that keeps the descriptor open; null for a socket systemd passed. */
  handle: Handle | null;
  /** fcgid created it, so fcgid removes its file at the end; false for systemd's sockets. */
  owned: boolean;
  /** The socket file fcgid created (device and inode): removed at the end only if the path still names it, not a file someone put there since. */
  file?: { dev: number; ino: number } | null;
  /** Closed while away with the helper: the helper is killed, and a handle that comes back anyway is closed. */
  closed?: boolean;
  /** The helper that has the socket meanwhile. */
  helper?: ChildProcess;
}

export interface ListenTarget {
  address: Address;
  backlog: number;
}

/**
 * What listenHere() needs done first, off the tick that listens: unix paths
 * checked (a live socket refused, a stale one removed), host names resolved.
 */
export async function prepareTargets(targets: readonly ListenTarget[]): Promise<ListenTarget[]> {
  const out: ListenTarget[] = [];
  for (const t of targets) {
    if (t.address.kind === 'unix') await prepareUnixPath(t.address.path);
    if (t.address.kind !== 'tcp' || net.isIP(t.address.host) !== 0) {
      out.push(t);
      continue;
    }
    try {
      const { address } = await lookup(t.address.host);
      out.push({ ...t, address: { ...t.address, host: address } });
    } catch (err) {
      throw new ListenError(`cannot listen on ${formatAddress(t.address)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (the host name does not resolve)`);
    }
  }
  return out;
}

/** Node's own synchronous bind (what cluster uses): a handle, or a negative errno. */
const createServerHandle = (net as unknown as { _createServerHandle(address: string, port: number, addressType: number): (Handle & { listen(backlog: number): number }) | number })._createServerHandle;

/**
 * Listen on every (prepared) target in this process, synchronously. The handles
 * listen but are not polled until this tick ends, so the caller must spawn the
 * first workers on them and handOver() them before returning to the event
 * loop. On a failure everything opened here is closed again.
 */
export function listenHere(targets: readonly ListenTarget[]): Listener[] {
  const out: Listener[] = [];
  for (const t of targets) {
    const a = t.address;
    let code: string | null = null;
    const handle = a.kind === 'unix' ? createServerHandle(a.path, -1, -1) : a.kind === 'tcp' ? createServerHandle(a.host, a.port, net.isIP(a.host)) : null;
    if (handle === null) code = 'EINVAL';
    else if (typeof handle === 'number') code = getSystemErrorName(handle);
    else {
      const err = handle.listen(t.backlog);
      if (err < 0) {
        code = getSystemErrorName(err);
        handle.close();
      }
    }
    if (code !== null) {
      for (const l of out) closeListener(l);
      throw new ListenError(`cannot listen on ${formatAddress(a)}: ${code}${listenHint(code)}`);
    }
    const h = handle as Handle;
    out.push({ address: a, fd: h.fd, handle: h, owned: true, file: fileId(a) });
  }
  return out;
}

/**
 * Give a socket from listenHere() to the listen helper and close the daemon's
 * handle, in the tick that opened it; the helper sends it straight back, a
 * descriptor no watcher here polls. Until then `fd` is null (spawns wait).
 * `blocking`: the workers take it on fd 0 (libfcgi programs): the helper's
 * handle sets O_NONBLOCK on the shared description, so it clears it again at
 * once (DESIGN.md §5); Node workers on fd 3 keep it non-blocking.
 * Settles once its fd is set again (or the helper is done after a
 * closeListener): null, or the error if the helper failed (the daemon can
 * then start no more workers on it).
 */
export function handOver(listener: Listener, backlog: number, blocking: boolean): Promise<ListenError | null> {
  const handle = listener.handle!;
  const where = formatAddress(listener.address);
  const back = runHelper({ fd: HELPER_FD, backlog, blocking }, where, handle.fd, (child) => (listener.helper = child)).then(
    (h) => {
      listener.helper = undefined;
      if (listener.closed) h.close();
      else {
        listener.handle = h;
        listener.fd = h.fd;
      }
      return null;
    },
    (err: ListenError) => {
      listener.helper = undefined;
      return listener.closed ? null : err;
    },
  );
  listener.fd = null;
  listener.handle = null;
  closeKeepingPath(listener.address, handle);
  return back;
}

/**
 * Close a handle bound here without losing its unix socket file: libuv unlinks
 * the path it bound when the handle closes, so the file steps aside for those
 * few microseconds (a connect() then would see ENOENT; this runs once, at start-up).
 */
function closeKeepingPath(address: Address, handle: Handle): void {
  if (address.kind !== 'unix') return handle.close();
  const aside = join(dirname(address.path), `.fcgid-${process.pid}-${Date.now()}`);
  try {
    renameSync(address.path, aside);
  } catch {
    // Not there to keep (removed by someone else): close all the same, never
    // throw here with workers already started.
    return handle.close();
  }
  handle.close();
  try {
    renameSync(aside, address.path);
  } catch {
    // The directory changed under us; the socket still serves its workers.
  }
}

// From dist/host/ and from the bundle in dist/bundle/ alike (both two levels below the package).
const HELPER = fileURLToPath(new URL('../host/listen-helper.js', import.meta.url));

/** Create every listener, one helper per socket (see listen-helper.ts); all or nothing. */
export async function openListeners(targets: ListenTarget[]): Promise<Listener[]> {
  for (const t of targets) if (t.address.kind === 'unix') await prepareUnixPath(t.address.path);
  const results = await Promise.allSettled(
    targets.map(async (t): Promise<Listener> => {
      const handle = await runHelper({ ...netOptions(t.address), backlog: t.backlog }, formatAddress(t.address), null);
      return { address: t.address, fd: handle.fd, handle, owned: true, file: fileId(t.address) };
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // Leave nothing behind: close what was opened and remove its socket file.
    for (const r of results) if (r.status === 'fulfilled') closeListener(r.value);
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<Listener>).value);
}

/** Where the helper finds a socket handed over to it. */
const HELPER_FD = 4;

/** Run listen-helper.ts for one socket: it listens (on `wire`'s address, or on the socket given as `give`) and sends the handle back. */
function runHelper(wire: object, where: string, give: number | null, started: (child: ChildProcess) => void = () => {}): Promise<Handle> {
  return new Promise((resolve, reject) => {
    let handle: Handle | undefined;
    let error: ListenError | null = null;
    let stderr = '';
    const stdio: Array<'ignore' | 'pipe' | 'ipc' | number> = ['ignore', 'ignore', 'pipe', 'ipc'];
    if (give !== null) stdio.push(give);
    const child = fork(HELPER, [JSON.stringify(wire)], { stdio, execArgv: [] });
    started(child);
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('message', (msg: { ok: boolean; code?: string }, h: unknown) => {
      if (msg.ok) handle = h as Handle;
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
      resolve(handle!);
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

/**
 * A stale socket file is removed; a live one is refused; anything else in the
 * way is an error. fcgid chmods and chowns the socket by its path, so the
 * directory must be one where no one else can swap the file (src/host/dirs.ts).
 */
export async function prepareUnixPath(path: string): Promise<void> {
  try {
    trustedDir(dirname(path), 'shared', 0o755, `the directory of unix:${path}`);
  } catch (err) {
    throw new ListenError(`cannot listen on unix:${path}: ${(err as Error).message.replace(/^the directory of unix:\S+: /, '')}`);
  }
  const blocked = await clearStaleSocket(path);
  if (blocked === 'not-a-socket') throw new ListenError(`cannot listen on unix:${path}: a file that is not a socket is in the way; remove it or choose another path`);
  if (blocked === 'live') {
    throw new ListenError(`cannot listen on unix:${path}: something is listening there already (another fcgid with this config?); stop it first`);
  }
}

export function applySocketPermissions(path: string, mode: number | null, uid: number | null, gid: number | null): void {
  if (mode !== null) chmodSync(path, mode);
  if (uid !== null || gid !== null) chownSync(path, uid ?? -1, gid ?? -1);
}

export function closeListener(l: Listener): void {
  if (l.handle) l.handle.close();
  else if (l.fd === null) {
    l.closed = true;
    l.helper?.kill('SIGKILL');
  } else {
    try {
      closeSync(l.fd);
    } catch {
      // already closed
    }
  }
  if (l.owned && l.address.kind === 'unix') {
    const now = fileId(l.address);
    if (now === null || (l.file && (now.dev !== l.file.dev || now.ino !== l.file.ino))) return;
    try {
      unlinkSync(l.address.path);
    } catch {
      // already gone
    }
  }
}

/** The device and inode of a unix socket's file; null for other addresses or when there is none. */
function fileId(a: Address): { dev: number; ino: number } | null {
  if (a.kind !== 'unix') return null;
  try {
    const st = statSync(a.path);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
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
