// The one door between the supervisor core (this folder: no `node:` import, no
// global clock) and the operating system. src/host/ implements it on Linux;
// test/helpers/fake-host.ts implements it with a fake clock, fake processes,
// fake sockets and a fake /proc, so that every command, reload and stop can be
// driven in unit tests. Everything the core needs from outside is here.

import type { Address } from '../fastcgi/address.js';
import type { Config, PoolConfig } from '../config/types.js';

export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): number;
  random(): number;
  setTimer(ms: number, fn: () => void): Timer;
  /** `fn` every `ms` until cancelled (the scan). */
  every(ms: number, fn: () => void): Timer;
}

export interface SpawnSpec {
  command: string[];
  cwd: string | null;
  env: Record<string, string>;
  uid: number | null;
  gid: number | null;
  /** Every group the worker gets when it runs as `uid` (src/host/identity.ts, Ids); absent or null: `gid` alone. */
  groups?: readonly number[] | null;
  umask: number | null;
  /** The listening socket, and the descriptor it goes to in the worker. */
  socketFd: number;
  targetFd: number;
}

export interface ChildEvents {
  /** The process ended (or could not start: `error` set, code and signal null). */
  onExit(code: number | null, signal: NodeJS.Signals | null, error?: Error): void;
  /** One line (without the newline) from the worker's stdout or stderr. */
  onLine(stream: 'stdout' | 'stderr', line: string): void;
}

export interface Processes {
  /** Start a process in a new process group. Returns its pid, or null when it could not start (onExit follows). */
  spawn(spec: SpawnSpec, events: ChildEvents): number | null;
  /** Signal a whole process group (the worker leads its own). */
  killGroup(pid: number, signal: NodeJS.Signals): void;
  /** Signal what is left of a process group whose leader is gone; false when nothing is left. */
  signalGroup(pgid: number, signal: NodeJS.Signals): boolean;
  /** Signal one process (a child of a forking worker); a process already gone is no error. */
  kill(pid: number, signal: NodeJS.Signals): void;
  /** The process's start time, which with its pid names it for good; null once it is gone. */
  processStart(pid: number): string | null;
  /**
   * Connections from the pool's listener (the daemon's descriptor `listenerFd`)
   * that the worker `pid` or a process it forked holds open; null when /proc cannot tell.
   */
  connectionsHeld(pid: number, listenerFd: number): number | null;
  /** fcgid can read the worker's descriptors in /proc (not another user's process without CAP_SYS_PTRACE). */
  canInspect(pid: number): boolean;
  /** The worker `pid` and every process it forked are stopped (SIGSTOP took effect), or gone. */
  treeStopped(pid: number): boolean;
  /** Signal the worker's process group and every process it forked, in its group or not (flup's forking server gives each child a group of its own). */
  signalTree(pid: number, signal: NodeJS.Signals): void;
}

/** What the core, the slots and the pools need: a clock and processes. */
export interface Host extends Clock, Processes {}

/** A listening socket the daemon holds as a bare descriptor (DESIGN.md §5). */
export interface Listener {
  /** Where it really listens (for a socket systemd passed, what /proc shows). */
  readonly address: Address;
  /** The daemon's descriptor; null while the socket is away with the listen helper. */
  readonly fd: number | null;
  /** The unix socket file fcgid created (device and inode); absent for one it did not (systemd's). */
  readonly file?: { dev: number; ino: number } | null;
}

/** Sockets made ready off the listening tick (paths checked, names resolved), in pool order. */
export interface PreparedSockets {
  /** Pools that use a socket systemd passed, already open. */
  readonly passed: ReadonlyMap<string, Listener>;
  /** Pools whose socket fcgid creates. */
  readonly create: readonly PoolConfig[];
}

export interface Sockets {
  /**
   * Before anything listens: match the sockets systemd passed, check unix paths
   * (a live socket refused, a stale one removed), resolve host names. Throws
   * StartError (exit status 2 for a config the machine cannot honour).
   */
  prepare(pools: readonly PoolConfig[]): Promise<PreparedSockets>;
  /**
   * Listen on the prepared sockets now, synchronously. The caller must spawn
   * the first workers on them and hand them over before its tick ends, or the
   * daemon's event loop would poll them (DESIGN.md §5). Throws StartError.
   */
  listenNow(prepared: PreparedSockets): Map<string, Listener>;
  /** Give a socket from listenNow() to the listen helper and back; its fd is null meanwhile. Resolves with null, or why it failed. */
  handOver(listener: Listener, pool: PoolConfig): Promise<Error | null>;
  /** A reload: sockets for new or moved pools, ready to use (passed ones as they are). All or nothing; throws StartError. */
  open(pools: readonly PoolConfig[]): Promise<Map<string, Listener>>;
  /** socket_mode, socket_owner, socket_group on a unix socket fcgid created. Throws StartError. */
  applyPermissions(listener: Listener, pool: PoolConfig): void;
  close(listener: Listener): void;
}

/** The workers of each pool, as `/proc` shows them at one moment (see src/host/observe.ts). */
export interface PoolProbe {
  name: string;
  listener: Listener;
  /** Where the workers have the socket (socket_fd): a child holding it there is a server its worker forked. */
  workerFd: number;
  pids: readonly number[];
  /** RSS is needed at every scan (max_memory is set), not only now and then. */
  memory: boolean;
}

/** One process as one scan saw it; nothing remembered from earlier scans. */
export interface ProcessReading {
  pid: number;
  /** Connections from the pool's listener this process holds. */
  connections: number;
  /** Blocked reading one of those connections (a kept connection, a slow upload): waiting for the web server. */
  reading: boolean;
  /** In an event loop's wait (epoll): alive even when silent. */
  eventLoop: boolean;
  /** An I/O counter that grows while the process reads or writes; read only while it holds a connection. */
  io: number | null;
  /** Resident bytes and CPU time used so far; null when not read at this scan (see src/host/observe.ts). */
  rss: number | null;
  cpuMs: number | null;
  /**
   * Idle now, but its I/O counter moved since it was last looked at (idle
   * processes are looked at in turn, as for RSS and CPU): it served requests
   * too short for a scan to see in between.
   */
  served?: boolean;
}

export interface WorkerReading {
  own: ProcessReading;
  /** A worker that forks its servers (php-cgi with PHP_FCGI_CHILDREN): those, and the master while it holds a connection. */
  servers: ProcessReading[] | null;
}

export interface PoolReading {
  /** Connections waiting to be accepted; null where /proc does not show it. */
  queue: number | null;
  workers: Map<number, WorkerReading>;
  /** Workers whose /proc this process may not read (another user, no CAP_SYS_PTRACE). */
  blind: number;
  /** Workers (or a process they forked) listening at the pool's unix path themselves, on a socket of their own. */
  hijackers: number[];
}

export interface Observer {
  /** One pass over /proc for every pool. */
  observe(pools: readonly PoolProbe[]): Map<string, PoolReading>;
  /** A worker exited: what was kept about its pid is dropped (a new process may get the pid before the next scan). */
  forget(pid: number): void;
}

/** Workers recorded on disk, so that a successor can stop them after fcgid was SIGKILLed. */
export interface WorkerRecords {
  /** Stop what a predecessor left running; throws if that fcgid still runs. */
  sweep(): Promise<void>;
  add(pid: number, pool: PoolConfig): void;
  remove(pid: number): void;
  /** Everything is stopped: the record goes. */
  clear(): void;
}

export interface FileWatcher {
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The user and group ids a pool's workers run as, and when it has a user, every group it gets
 * (`groups`: its group and the ones that list the user as a member, as php-fpm
 * and supervisord give them with initgroups(3)).
 */
export type Ids = { uid: number | null; gid: number | null; groups?: readonly number[] };

/** What the daemon's log had to leave out so far, because its reader fell behind (src/host/log-sink.ts). */
export interface LogDrops {
  /** Workers' lines dropped. */
  workerLines: number;
  /** fcgid's own entries dropped. */
  fcgidLines: number;
  /** Bytes dropped or lost, both kinds and failed writes together. */
  bytes: number;
  /** Writes that failed (EPIPE, ENOSPC, EIO): what they held is lost. */
  failedWrites: number;
  /** The error of the last failed write. */
  lastError: string | null;
}

/** Where workers' stdout and stderr lines go (the daemon's log); without it they are logged at info through `Log`. */
export interface WorkerOutput {
  line(pool: string, worker: number, pid: number | null, stream: 'stdout' | 'stderr', text: string): void;
  dropped(): LogDrops;
}

export interface Port {
  host: Host;
  sockets: Sockets;
  observer: Observer;
  records: WorkerRecords;
  /** The daemon's environment, for pass_env and when clear_env is false. */
  env: Readonly<Record<string, string | undefined>>;
  /** user/group names of every pool to ids; throws with every problem at once. */
  identities(pools: readonly PoolConfig[]): Map<string, Ids>;
  /** Read and validate the config file (a reload); rejects with ConfigError. */
  readConfig(file: string): Promise<Config>;
  /** Debounced file changes of a pool's `watch:` globs. */
  watch(patterns: readonly string[], cwd: string, onChange: (paths: string[]) => void): Promise<FileWatcher>;
  /** Workers' output; absent: through `Log`. */
  output?: WorkerOutput;
}
