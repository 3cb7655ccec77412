// Reading /proc: which socket inode a descriptor holds, the address a socket
// inode is bound to (/proc/net/unix, /proc/net/tcp, tcp6), what a process
// holds, is blocked in, has read and written, its memory and CPU, its children
// and its start time. One reader per file format, for the scoreboard
// (observe.ts), socket activation (activation.ts) and the worker registry.

import { closeSync, openSync, readFileSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import type { Address } from '../fastcgi/address.js';

/**
 * Where readProc reads: one buffer kept for every /proc read, grown (doubled)
 * when a file does not fit, as /proc/net/unix with 1000 workers (250 KB); one
 * grown past PROC_KEPT_MAX is let go after the read.
 */
const PROC_INITIAL = 16 * 1024;
const PROC_KEPT_MAX = 4 * 1024 * 1024;
let procBuffer = Buffer.allocUnsafe(PROC_INITIAL);

/**
 * A /proc file's text, as readFileSync(path, 'utf8') gives it (and throwing as
 * it does), read into one buffer kept for all such reads: readFileSync
 * allocates a buffer per call, and a scan of 1000 workers makes hundreds of
 * reads a second, garbage the young generation then has to collect.
 */
export function readProc(path: string): string {
  return readProcBytes(path).toString('utf8');
}

/** A /proc file's bytes, in the kept buffer: valid until the next read. */
function readProcBytes(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    for (let got = -1; got !== 0; n += got) {
      if (n === procBuffer.length) {
        const bigger = Buffer.allocUnsafe(procBuffer.length * 2);
        procBuffer.copy(bigger);
        procBuffer = bigger;
      }
      got = readSync(fd, procBuffer, n, procBuffer.length - n, null);
    }
    return procBuffer.subarray(0, n);
  } finally {
    closeSync(fd);
    // The view returned keeps a big buffer alive for as long as it is used.
    if (procBuffer.length > PROC_KEPT_MAX) procBuffer = Buffer.allocUnsafe(PROC_INITIAL);
  }
}

/** readProcBytes, or no bytes when the file cannot be read. */
function readProcBytesOrNone(path: string): Buffer {
  try {
    return readProcBytes(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/** The socket inode behind a descriptor of this process, or null when it is not a socket. */
export function socketInode(fd: number, pid: number | 'self' = 'self'): number | null {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** inode → path of every bound unix socket. */
export function unixSocketPaths(text = readOrEmpty('/proc/net/unix')): Map<number, string> {
  return new Map(unixRows(text).map((r) => [r.inode, r.path!]));
}

/** inode → local address of every TCP socket in LISTEN state (st 0A). */
export function tcpListeners(v4 = readOrEmpty('/proc/net/tcp'), v6 = readOrEmpty('/proc/net/tcp6')): Map<number, { host: string; port: number }> {
  return new Map(tcpRows(v4, v6).filter((r) => r.state === '0A').map((r) => [r.inode, { host: r.host!, port: r.port! }]));
}

/** /proc/net/tcp prints the address as a little-endian 32-bit word (on the machines Node runs on here). */
function decodeIpv4(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
}

function decodeIpv6(hex: string): string {
  const groups: string[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    // Each 32-bit word is little-endian: reverse its bytes.
    const bytes = word.match(/../g)!.reverse().join('');
    groups.push(bytes.slice(0, 4), bytes.slice(4, 8));
  }
  const full = groups.map((g) => parseInt(g, 16).toString(16)).join(':');
  // ::ffff:a.b.c.d and :: are what people write; compress the longest zero run.
  const v4mapped = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(full);
  if (v4mapped) {
    const hi = parseInt(v4mapped[1]!, 16);
    const lo = parseInt(v4mapped[2]!, 16);
    return `::ffff:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return compressIpv6(full);
}

function compressIpv6(full: string): string {
  const parts = full.split(':');
  let best = { start: -1, len: 0 };
  for (let i = 0; i < parts.length; ) {
    if (parts[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < parts.length && parts[j] === '0') j++;
    if (j - i > best.len) best = { start: i, len: j - i };
    i = j;
  }
  if (best.len < 2) return full;
  const head = parts.slice(0, best.start).join(':');
  const tail = parts.slice(best.start + best.len).join(':');
  return `${head}::${tail}`;
}

function readOrEmpty(path: string): string {
  try {
    return readProc(path);
  } catch {
    return '';
  }
}

/** The address a listening socket inode is bound to, if /proc shows it. */
export function addressOfInode(inode: number, unix = unixSocketPaths(), tcp = tcpListeners()): Address | null {
  const path = unix.get(inode);
  if (path !== undefined) return { kind: 'unix', path };
  const t = tcp.get(inode);
  return t ? { kind: 'tcp', host: t.host, port: t.port } : null;
}

/** One row of /proc/net/unix or /proc/net/tcp{,6}, as the scoreboard needs it. */
export interface SocketRow {
  inode: number;
  /** unix: the bound path (accepted sockets show their listener's); tcp: host and port. */
  path?: string;
  host?: string;
  port?: number;
  /** tcp state (0A = LISTEN) or unix state (01 = unconnected/listening, 03 = connected). */
  state: string;
  /** unix only: listen() was called on it. */
  listening?: boolean;
  /** unix only: a listening row whose inode is on another row too, so one of them is forged (unixRowsOf). */
  forged?: boolean;
  /** tcp only: for a LISTEN row, the accept queue length. */
  rxQueue?: number;
}

export function unixRows(text = readOrEmpty('/proc/net/unix')): SocketRow[] {
  const out: SocketRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const m = UNIX_ROW.exec(line);
    if (m) out.push({ inode: Number(m[3]), path: m[4]!, state: m[2]!, listening: (parseInt(m[1]!, 16) & SO_ACCEPTCON) !== 0 });
  }
  return out;
}

/**
 * The rows of /proc/net/unix that matter to these listening sockets (by inode):
 * each listener's own row and every row at its path (its connections, and any
 * other socket listening there). Found by searching the table's bytes, not by
 * parsing every row nor making it a string: it lists every unix socket of the
 * host, among them two per worker for its output (250 KB at 1000 workers, read
 * every scan), and only a handful of rows matter. The search is in latin1, one
 * character per byte, so a path that is not UTF-8 is found as the kernel
 * printed it; the paths returned are decoded as UTF-8.
 */
export function unixRowsOf(listeners: Iterable<number>, table: string | Buffer = readProcBytesOrNone('/proc/net/unix')): SocketRow[] {
  let bytes = typeof table === 'string' ? Buffer.from(table) : table;
  if (bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a) bytes = Buffer.concat([bytes, NEWLINE]);
  const out: SocketRow[] = [];
  // The row around byte `at`, its path still in latin1.
  const rowAt = (at: number): SocketRow | null => {
    const start = bytes.lastIndexOf(0x0a, at) + 1;
    const m = UNIX_ROW.exec(bytes.toString('latin1', start, bytes.indexOf(0x0a, at)));
    return m ? { inode: Number(m[3]), path: m[4]!, state: m[2]!, listening: (parseInt(m[1]!, 16) & SO_ACCEPTCON) !== 0 } : null;
  };
  // Every row that carries a listener's inode gives a path, not only the first:
  // the kernel prints a path verbatim, newlines included, so anyone may bind a
  // socket whose path reads as more rows, and one forged before the real row
  // must not hide the real path (connections missed there would let a stop
  // kill a worker in the middle of a request).
  const paths = new Set<string>();
  const own = new Set(listeners);
  for (const inode of own) {
    const needle = ` ${inode} /`;
    for (let at = bytes.indexOf(needle); at !== -1; at = bytes.indexOf(needle, at + 1)) {
      const row = rowAt(at);
      if (row?.inode === inode) paths.add(row.path!);
    }
  }
  for (const path of paths) {
    // A path ends its row.
    const needle = ` ${path}\n`;
    for (let at = bytes.indexOf(needle, 0, 'latin1'); at !== -1; at = bytes.indexOf(needle, at + 1, 'latin1')) {
      const row = rowAt(at);
      if (row?.path !== path) continue;
      // A socket has one row: an inode on more than one is forged on some.
      // (A listener's own row needs no count: it is never taken for another.)
      if (row.listening && !own.has(row.inode) && rowsWithInode(bytes, row.inode) > 1) row.forged = true;
      row.path = Buffer.from(path, 'latin1').toString('utf8');
      out.push(row);
    }
  }
  return out;
}

const NEWLINE = Buffer.from('\n');

/** How many rows of the table carry this inode (only asked about the few listening at a pool's path). */
function rowsWithInode(bytes: Buffer, inode: number): number {
  let n = 0;
  for (let at = bytes.indexOf(` ${inode}`); at !== -1; at = bytes.indexOf(` ${inode}`, at + 1)) {
    const start = bytes.lastIndexOf(0x0a, at) + 1;
    const m = /^\s*\S+:\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)(?: |$)/.exec(bytes.toString('latin1', start, bytes.indexOf(0x0a, at)));
    if (m && Number(m[1]) === inode && m[0].length >= at - start) n++;
  }
  return n;
}

/**
 * Num: RefCount Protocol Flags Type St Inode, then one space and the path
 * verbatim (unix_seq_show in net/unix/af_unix.c), so a path keeps its runs of
 * spaces. Abstract names ('@…') and unbound sockets are left out.
 */
const UNIX_ROW = /^\s*\S+:\s+\S+\s+\S+\s+(\S+)\s+\S+\s+(\S+)\s+(\d+) (\/.*)$/;
/** The Flags bit of a socket that listen() was called on. */
const SO_ACCEPTCON = 0x10000;

export function tcpRows(v4 = readOrEmpty('/proc/net/tcp'), v6 = readOrEmpty('/proc/net/tcp6')): SocketRow[] {
  const out: SocketRow[] = [];
  for (const [text, decode] of [
    [v4, decodeIpv4],
    [v6, decodeIpv6],
  ] as const) {
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [hexHost, hexPort] = f[1]!.split(':');
      const [, rx] = f[4]!.split(':');
      out.push({ inode: Number(f[9]), host: decode(hexHost!), port: parseInt(hexPort!, 16), state: f[3]!, rxQueue: parseInt(rx!, 16) });
    }
  }
  return out;
}

/** Every socket inode a process holds, by descriptor. */
export function socketFds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    // Another user's process, and no CAP_SYS_PTRACE: say so rather than see nothing.
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new ProcAccessError(pid);
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.set(Number(fd), Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** rchar + wchar from /proc/<pid>/io: grows while the process reads or writes anything. */
export function ioCounter(pid: number): number | null {
  try {
    const text = readProc(`/proc/${pid}/io`);
    const r = /^rchar:\s+(\d+)/m.exec(text);
    const w = /^wchar:\s+(\d+)/m.exec(text);
    return r && w ? Number(r[1]) + Number(w[1]) : null;
  } catch {
    return null;
  }
}

/** The system call a process (its main thread) is blocked in and its first argument, from /proc/<pid>/syscall; null when running or unknown. */
export function blockedIn(pid: number, file = `/proc/${pid}/syscall`): { nr: number; arg0: number } | null {
  try {
    const f = readProc(file).trim().split(' ');
    if (f[0] === 'running' || f.length < 2) return null;
    return { nr: Number(f[0]), arg0: Number(f[1]) };
  } catch {
    return null;
  }
}

export interface ThreadReading {
  tid: number;
  /** The system call it is blocked in; null while it runs. */
  sys: { nr: number; arg0: number } | null;
  /** Times it gave up the CPU of its own accord so far (it slept, waited or did blocking I/O), from voluntary_ctxt_switches. */
  wakeups: number;
}

/** Threads of a process and the voluntary context switches of its main thread, from /proc/<pid>/status; null when gone. */
export function taskStatus(pid: number, file = `/proc/${pid}/status`): { threads: number; wakeups: number } | null {
  let status: string;
  try {
    status = readProc(file);
  } catch {
    return null;
  }
  return {
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1),
    wakeups: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
  };
}

/** Every thread of a process: /proc/<pid>/task/<tid>/syscall and status. Empty when the process is gone. */
export function threads(pid: number): ThreadReading[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: ThreadReading[] = [];
  for (const tid of tids) {
    const status = taskStatus(pid, `/proc/${pid}/task/${tid}/status`);
    if (status) out.push({ tid: Number(tid), sys: blockedIn(pid, `/proc/${pid}/task/${tid}/syscall`), wakeups: status.wakeups }); // else: exited meanwhile
  }
  return out;
}

/**
 * Bytes per page of /proc/<pid>/stat's rss field: this process's VmRSS (in kB,
 * /proc/self/status) over its rss in pages, read once; 4096 if unreadable.
 */
let pageSize: number | null = null;
export function pageBytes(): number {
  if (pageSize !== null) return pageSize;
  pageSize = 4096;
  try {
    const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
    const pages = Number(statFields(process.pid)?.[21]);
    // Both move between the two reads; the page size is a power of two, near the ratio.
    if (kb > 0 && pages > 0) pageSize = 2 ** Math.round(Math.log2((kb * 1024) / pages));
  } catch {
    // keep 4096
  }
  return pageSize;
}

/** /proc/<pid>/stat's CPU times count USER_HZ ticks, 100 a second in the kernel's ABI on every architecture Node runs on. */
const USER_HZ = 100;

/** Resident bytes and CPU time used so far (utime + stime), from /proc/<pid>/stat; null once it is gone. */
export function cpuAndRss(pid: number): { rss: number; cpuMs: number } | null {
  const f = statFields(pid);
  if (!f) return null;
  // Fields 14, 15 (utime, stime) and 24 (rss) of proc(5); index 0 here is field 3.
  const ticks = Number(f[11]) + Number(f[12]);
  const pages = Number(f[21]);
  if (!Number.isFinite(ticks) || !Number.isFinite(pages)) return null;
  return { rss: pages * pageBytes(), cpuMs: (ticks * 1000) / USER_HZ };
}

/**
 * The children of a process, from /proc/<pid>/task/<pid>/children (Linux 3.5+).
 * Only children forked by its main thread are listed, which is where php-cgi,
 * uwsgi and flup fork their workers; empty when the process is gone.
 */
export function childPids(pid: number): number[] {
  try {
    const text = readProc(`/proc/${pid}/task/${pid}/children`).trim();
    return text === '' ? [] : text.split(' ').map(Number);
  } catch {
    return [];
  }
}

/** /proc/<pid>/fd of a worker running as another user needs CAP_SYS_PTRACE (absent in many containers). */
export class ProcAccessError extends Error {
  override readonly name = 'ProcAccessError';
  constructor(readonly pid: number) {
    super(`cannot read /proc/${pid}/fd (EACCES)`);
  }
}

/**
 * The fields of /proc/<pid>/stat after the command name, so that index 0 is
 * field 3 (state) of proc(5); null when the process is gone. The command name
 * may hold spaces and parentheses, hence the split after the last ')'.
 */
export function statFields(pid: number): string[] | null {
  try {
    const stat = readProc(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * True once nothing of the process runs any more: no /proc entry, or a zombie
 * whose every thread has exited. A multi-threaded program (Node, php-fpm)
 * killed with SIGKILL shows its main thread as a zombie while other threads
 * still exit, holding its descriptors (a listening socket) a moment longer.
 */
export function fullyExited(pid: number): boolean {
  let status: string;
  try {
    status = readProc(`/proc/${pid}/status`);
  } catch {
    return true;
  }
  const state = /^State:\s+(\S)/m.exec(status)?.[1];
  return (state === 'Z' || state === 'X') && Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0) <= 1;
}

/** The process's start time, or null when it is gone (or a zombie). */
export function processStart(pid: number): string | null {
  const fields = statFields(pid);
  // A dead process nobody reaped (Z, X: an orphan under a PID 1 that does not
  // reap, as in many containers) keeps its /proc entry but runs no more.
  if (!fields || fields[0] === 'Z' || fields[0] === 'X') return null;
  return fields[19] ?? null;
}
