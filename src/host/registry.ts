// A record of the daemon's workers on disk (pid + process start time), so that
// after the daemon was SIGKILLed the next start can find and stop the workers
// it left behind, and never signal an unrelated process that reused a pid.
// The daemon records itself there too: workers whose daemon still runs are not
// leftovers, and a second fcgid on the same config must not touch them (its
// control socket may not be open yet, or its file may have been removed).
//
// fcgid runs as root and signals what this file names, so it is read as
// hostile input (docs/security.md): it lives in a directory only fcgid can
// write (claim.ts, dirs.ts), is written without following symlinks, and a
// record is acted on only when it is well formed, names a pool of the running
// config, and its process still has the start time recorded and holds a
// listening socket at that pool's address. pid 0, 1 and fcgid's own are never
// signalled (processes.ts).

import { closeSync, constants, lstatSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { formatAddress, parseAddress, type Address } from '../fastcgi/address.js';
import type { Config } from '../config/types.js';
import { parseSignal } from '../config/units.js';
import type { Host } from '../supervisor/port.js';
import { fmtMs } from '../supervisor/format.js';
import { signallable } from './processes.js';
import { fullyExited, processStart, socketFds, tcpListeners, unixSocketPaths } from './procnet.js';

export interface SweepLog {
  warn(fields: object, message: string): void;
}

export interface WorkerRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  start: string;
  pool: string;
  /** The pool's listen address when the worker started (formatted): a leftover still holds a socket there. */
  listen: string;
  stop_signal: NodeJS.Signals;
  stop_timeout: number;
}

/** A process as the registry names it: pid and start time, so a reused pid is never taken for it. */
export interface ProcessRecord {
  pid: number;
  start: string;
}

/** The file: the daemon that wrote it and its workers. */
interface RegistryFile {
  daemon: ProcessRecord | null;
  workers: WorkerRecord[];
}

/** The most records a file may hold (LIMITS.workers per pool would be far more than any daemon runs at once). */
const MAX_RECORDS = 100_000;
/** A registry file larger than this is not one fcgid wrote. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** After SIGKILL, how long the sweep waits for a leftover to be gone before it says so and goes on. */
const KILL_WAIT_MS = 5000;

export class Registry {
  private readonly records = new Map<number, WorkerRecord>();
  private pending: NodeJS.Immediate | null = null;
  private readonly daemon: ProcessRecord | null;
  constructor(readonly file: string) {
    const start = processStart(process.pid);
    this.daemon = start === null ? null : { pid: process.pid, start };
  }

  add(record: Omit<WorkerRecord, 'start'>): void {
    const start = processStart(record.pid);
    if (start === null) return;
    this.records.set(record.pid, { ...record, start });
    this.scheduleSave();
  }

  remove(pid: number): void {
    if (this.records.delete(pid)) this.scheduleSave();
  }

  /**
   * Saved once per turn of the event loop, after the current event is handled:
   * a recycled worker's exit and the spawn of its replacement (or a pool's N
   * first spawns) cost one write, made after the spawn instead of delaying it.
   * A write plus rename-over costs 0.25 ms on ext4 and several ms under I/O
   * load, and php-cgi recycles many times a second under load.
   */
  private scheduleSave(): void {
    this.pending ??= setImmediate(() => {
      this.pending = null;
      this.save();
    });
  }

  /**
   * Written whole to a new file, then renamed into place, so a crash never
   * leaves half a file; the new file is created exclusively and never through
   * a symlink (one planted at that name is removed, not followed).
   */
  private save(): void {
    const tmp = `${this.file}.tmp`;
    const fd = createNew(tmp);
    try {
      // writeFileSync on a descriptor writes until everything is written.
      writeFileSync(fd, JSON.stringify({ daemon: this.daemon, workers: [...this.records.values()] } satisfies RegistryFile));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  clear(): void {
    if (this.pending) clearImmediate(this.pending);
    this.pending = null;
    this.records.clear();
    rmSync(this.file, { force: true });
  }

  /** What the file says: only well-formed records; nothing if it is missing, unreadable, a symlink or not fcgid's. */
  static read(file: string): { daemon: ProcessRecord | null; workers: WorkerRecord[]; ignored: number } {
    const none = { daemon: null, workers: [], ignored: 0 };
    let data: unknown;
    try {
      const st = lstatSync(file);
      if (!st.isFile() || st.size > MAX_FILE_BYTES) return none;
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return none;
    }
    // An older fcgid wrote the records alone, as an array: they are read, and fail the checks below.
    if (Array.isArray(data)) data = { daemon: null, workers: data };
    if (typeof data !== 'object' || data === null) return none;
    const f = data as { daemon?: unknown; workers?: unknown };
    const list = Array.isArray(f.workers) ? f.workers.slice(0, MAX_RECORDS) : [];
    const workers = list.filter(isWorkerRecord);
    return { daemon: isProcessRecord(f.daemon) ? f.daemon : null, workers, ignored: list.length - workers.length };
  }
}

/** The longest a sweep waits for one leftover after its stop signal, whatever its record says. */
const LEFTOVER_WAIT_MAX_MS = 600_000;

function isProcessRecord(v: unknown): v is ProcessRecord {
  const r = v as ProcessRecord | null;
  return typeof r === 'object' && r !== null && typeof r.pid === 'number' && Number.isInteger(r.pid) && r.pid > 0 && typeof r.start === 'string' && /^\d{1,20}$/.test(r.start);
}

function isWorkerRecord(v: unknown): v is WorkerRecord {
  const r = v as WorkerRecord;
  return (
    isProcessRecord(v) &&
    signallable(r.pid) &&
    typeof r.pool === 'string' &&
    typeof r.listen === 'string' &&
    // Any signal the config accepts; a stop_timeout is waited at most LEFTOVER_WAIT_MAX_MS (stopLeftover).
    parseSignal(r.stop_signal).ok &&
    typeof r.stop_timeout === 'number' &&
    Number.isFinite(r.stop_timeout) &&
    r.stop_timeout >= 0
  );
}

function alive(p: ProcessRecord): boolean {
  return processStart(p.pid) === p.start;
}

/** The process holds a listening socket at `listen` (a unix path, or a TCP port on that address). */
function holdsSocket(pid: number, listen: string, sockets: { unix: Map<number, string>; tcp: ReturnType<typeof tcpListeners> }): boolean {
  let address: Address;
  let inodes: Map<number, number>;
  try {
    address = parseAddress(listen);
    inodes = socketFds(pid);
  } catch {
    return false;
  }
  for (const inode of inodes.values()) {
    if (address.kind === 'unix' && sockets.unix.get(inode) === address.path) return true;
    // By port: the record keeps the host as configured (localhost), /proc shows what it resolved to.
    if (address.kind === 'tcp' && sockets.tcp.get(inode)?.port === address.port) return true;
  }
  return false;
}

/**
 * Stop workers a SIGKILLed predecessor left running (DESIGN.md §5, orphans).
 * Throws, touching nothing, if the fcgid that recorded them still runs. Only
 * records of the running config's pools whose process still holds the pool's
 * socket are acted on; the others are reported and left alone.
 */
export async function sweepLeftovers(file: string, config: Config, host: Host, log: SweepLog): Promise<void> {
  const { daemon, workers, ignored } = Registry.read(file);
  if (daemon !== null && daemon.pid !== process.pid && alive(daemon)) {
    throw new Error(`another fcgid (pid ${daemon.pid}) is running this config; its workers are recorded in ${file}; stop it first (kill -TERM ${daemon.pid})`);
  }
  const listens = new Map(config.pools.map((p) => [p.name, formatAddress(p.listen)]));
  const left: WorkerRecord[] = [];
  let spared = ignored;
  let sockets: Parameters<typeof holdsSocket>[2] | null = null;
  for (const r of workers) {
    // Gone, or its pid now names another process: nothing to do.
    if (!alive(r)) continue;
    if (listens.get(r.pool) !== r.listen) spared++;
    else if (holdsSocket(r.pid, r.listen, (sockets ??= { unix: unixSocketPaths(), tcp: tcpListeners() }))) left.push(r);
    else spared++;
  }
  if (spared > 0) {
    log.warn({ file, spared }, `${file}: ${spared} record${spared === 1 ? '' : 's'} not acted on (malformed, of a pool not in this config, or naming a process that holds no socket of it)`);
  }
  if (left.length === 0) return;
  log.warn(
    { pids: left.map((r) => r.pid) },
    `found ${left.length} worker${left.length === 1 ? '' : 's'} left running by a previous fcgid (pids ${left.map((r) => r.pid).join(', ')}); stopping them`,
  );
  await Promise.all(left.map((r) => stopLeftover(r, host, log)));
}

async function stopLeftover(r: WorkerRecord, host: Host, log: SweepLog): Promise<void> {
  // Gone for good: the process is another, or fully exited (its socket closed with its last thread).
  const gone = (): boolean => {
    const start = processStart(r.pid);
    return start !== null ? start !== r.start : fullyExited(r.pid);
  };
  const wait = async (ms: number): Promise<boolean> => {
    const deadline = host.now() + ms;
    for (let delay = 5; !gone(); delay = Math.min(delay * 2, 100)) {
      if (host.now() >= deadline) return false;
      await new Promise((res) => setTimeout(res, delay));
    }
    return true;
  };
  const timeout = Math.min(r.stop_timeout, LEFTOVER_WAIT_MAX_MS);
  host.killGroup(r.pid, r.stop_signal);
  // A worker its fcgid had frozen for a lossless stop handles the signal only once resumed.
  host.killGroup(r.pid, 'SIGCONT');
  if (await wait(timeout)) return;
  log.warn({ pid: r.pid }, `leftover worker pid ${r.pid} still alive ${fmtMs(timeout)} after ${r.stop_signal}; sending SIGKILL`);
  host.killGroup(r.pid, 'SIGKILL');
  if (await wait(KILL_WAIT_MS)) return;
  log.warn({ pid: r.pid }, `leftover worker pid ${r.pid} still there ${fmtMs(KILL_WAIT_MS)} after SIGKILL (a zombie, or stuck in the kernel); going on without it`);
}

/** Where the worker records of a config live: beside its control socket. */
export function registryPath(config: Config): string {
  const ctl = config.control.socket;
  return join(dirname(ctl), `${basename(ctl, extname(ctl))}.workers.json`);
}

/**
 * A new file at `path`, created exclusively and never through a symlink;
 * whatever is there already (a crash's leftover, a planted symlink) is removed
 * first. Removed only when it is there: an rmSync before every save of the
 * registry cost an lstat and an error object each time.
 */
function createNew(path: string): number {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  try {
    return openSync(path, flags, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    rmSync(path, { force: true });
    return openSync(path, flags, 0o600);
  }
}
