// The supervisor's port (src/supervisor/port.ts) for unit tests: a fake clock
// whose timers fire only when the test advances it, deterministic randomness,
// fake processes whose spawns, exits, output lines and signals the test drives
// and inspects, fake sockets that refuse an address already in use as the real
// ones do, a fake /proc, a fake worker registry and config file. No real
// process is started, no socket is opened, and nothing sleeps.

import { formatAddress } from '../../src/fastcgi/address.js';
import type { ChildEvents, FileWatcher, Host, Ids, Listener, Observer, PoolProbe, PoolReading, Port, PreparedSockets, Sockets, SpawnSpec, Timer, WorkerRecords } from '../../src/supervisor/port.js';
import { StartError } from '../../src/supervisor/errors.js';
import type { Log } from '../../src/supervisor/log.js';
import { Pool } from '../../src/supervisor/pool.js';
import type { Slot, SlotEvent, SlotObserver, SlotState } from '../../src/supervisor/slot.js';
import { POOL_DEFAULTS, type Config, type PoolConfig } from '../../src/config/types.js';

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export interface FakeChild {
  pid: number | null;
  spec: SpawnSpec;
  events: ChildEvents;
  exited: boolean;
}

export class FakeHost implements Host {
  time = 1_000_000;
  /** Values random() returns in turn (cycled); 0.5 means "no jitter" for backoffDelay. */
  randoms: number[] = [0.5];
  private randomIndex = 0;
  private timers: PendingTimer[] = [];
  private seq = 0;
  private nextPid = 100;
  /** Every spawn, in order, including failed ones (pid null). */
  readonly children: FakeChild[] = [];
  readonly kills: Array<{ pid: number; signal: NodeJS.Signals }> = [];
  /** Signals sent to single processes (children of forking workers). */
  readonly processKills: Array<{ pid: number; signal: NodeJS.Signals }> = [];
  /** Start times of the fake processes that exist outside the slots (a master's children), by pid. */
  readonly started = new Map<number, string>();
  /** Errors for the next spawns: each makes spawn return null and report the error on the next tick (as realHost does). */
  readonly failSpawns: Error[] = [];

  now(): number {
    return this.time;
  }

  random(): number {
    const r = this.randoms[this.randomIndex % this.randoms.length]!;
    this.randomIndex++;
    return r;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const t: PendingTimer = { at: this.time + ms, seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }

  every(ms: number, fn: () => void): Timer {
    let current: Timer;
    const arm = (): void => {
      current = this.setTimer(ms, () => {
        arm();
        fn();
      });
    };
    arm();
    return { cancel: () => current.cancel() };
  }

  spawn(spec: SpawnSpec, events: ChildEvents): number | null {
    const failure = this.failSpawns.shift();
    if (failure) {
      const child: FakeChild = { pid: null, spec, events, exited: false };
      this.children.push(child);
      // realHost reports a synchronous spawn failure on process.nextTick: here, a 0 ms timer.
      this.setTimer(0, () => {
        child.exited = true;
        events.onExit(null, null, failure);
      });
      return null;
    }
    const child: FakeChild = { pid: this.nextPid++, spec, events, exited: false };
    this.children.push(child);
    return child.pid;
  }

  killGroup(pid: number, signal: NodeJS.Signals): void {
    this.kills.push({ pid, signal });
    if (signal === 'SIGSTOP' && this.stopsAtOnce) this.stopped.add(pid);
    if (signal === 'SIGCONT') this.stopped.delete(pid);
  }

  /** Connections each worker holds, as /proc would show them; a worker not here: /proc cannot tell (null). */
  readonly held = new Map<number, number>();
  /** Workers stopped by SIGSTOP. */
  readonly stopped = new Set<number>();
  /** SIGSTOP takes effect at once; false: the test adds the pid to `stopped` itself. */
  stopsAtOnce = true;

  signalTree(pid: number, signal: NodeJS.Signals): void {
    this.killGroup(pid, signal);
  }

  canInspect(pid: number): boolean {
    return this.held.has(pid);
  }

  connectionsHeld(pid: number): number | null {
    return this.held.get(pid) ?? null;
  }

  treeStopped(pid: number): boolean {
    return this.stopped.has(pid) || !this.children.some((c) => c.pid === pid && !c.exited);
  }

  /** Process groups that still have members after their leader exited (a master's orphaned children). */
  readonly stragglers = new Set<number>();
  readonly groupSignals: Array<{ pgid: number; signal: NodeJS.Signals }> = [];

  signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
    if (!this.stragglers.has(pgid)) return false;
    this.groupSignals.push({ pgid, signal });
    return true;
  }

  kill(pid: number, signal: NodeJS.Signals): void {
    this.processKills.push({ pid, signal });
    // Nothing survives SIGKILL: a process outside the slots is gone at once.
    if (signal === 'SIGKILL') this.started.delete(pid);
  }

  processStart(pid: number): string | null {
    return this.started.get(pid) ?? null;
  }

  /** Move the clock forward, firing due timers in time order (and timers they set that fall due). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => !t.cancelled && t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.fn();
    }
    this.time = target;
  }

  /** Advance exactly to the earliest pending timer and fire it (and any due at the same time). */
  runNext(): void {
    const next = this.timers.filter((t) => !t.cancelled).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
    if (!next) throw new Error('no pending timer');
    this.advance(next.at - this.time);
  }

  /** Timers set and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  get spawnCount(): number {
    return this.children.length;
  }

  child(pid: number): FakeChild {
    const c = this.children.find((ch) => ch.pid === pid);
    if (!c) throw new Error(`no fake child with pid ${pid}`);
    return c;
  }

  /** The process `pid` ends. */
  exit(pid: number, code: number | null = 0, signal: NodeJS.Signals | null = null): void {
    const c = this.child(pid);
    if (c.exited) throw new Error(`fake child ${pid} already exited`);
    c.exited = true;
    c.events.onExit(code, signal);
  }

  /** The process `pid` writes one line. */
  line(pid: number, stream: 'stdout' | 'stderr', text: string): void {
    this.child(pid).events.onLine(stream, text);
  }
}

export interface LogEntry {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

/** A SlotObserver that records everything it is told. */
export class RecordingObserver implements SlotObserver {
  readonly logs: LogEntry[] = [];
  readonly lines: Array<{ slot: number; stream: string; line: string }> = [];
  readonly changes: Array<{ slot: number; from: SlotState; to: SlotState }> = [];
  readonly spawns: Array<{ slot: number; pid: number | null }> = [];
  readonly exits: Array<{ slot: number; pid: number | null }> = [];

  log(level: 'info' | 'warn' | 'error' | 'debug', fields: object, message: string): void {
    this.logs.push({ level, fields: fields as Record<string, unknown>, message });
  }
  line(slot: Slot, stream: 'stdout' | 'stderr', line: string): void {
    this.lines.push({ slot: slot.index, stream, line });
  }
  changed(slot: Slot, from: SlotState): void {
    this.changes.push({ slot: slot.index, from, to: slot.state });
  }
  spawned(slot: Slot): void {
    this.spawns.push({ slot: slot.index, pid: slot.pid });
  }
  exited(slot: Slot): void {
    this.exits.push({ slot: slot.index, pid: slot.lastExit?.pid ?? null });
  }
  deliver(slot: Slot, event: SlotEvent): void {
    slot.handle(event);
  }
}

/** A fully defaulted pool config, as parseConfig would produce, with overrides. */
export function poolConfig(overrides: Partial<PoolConfig> = {}): PoolConfig {
  return {
    ...structuredClone(POOL_DEFAULTS),
    name: 'app',
    command: ['/usr/bin/php-cgi'],
    cwd: '/var/www/app',
    listen: { kind: 'unix', path: '/run/fcgid/app.sock' },
    ...overrides,
  } as PoolConfig;
}

/** A RecordingObserver that notes when a reconcile is due: after any state change or exit, as the daemon does. */
class ReconcilingObserver extends RecordingObserver {
  pending = false;
  override changed(slot: Slot, from: SlotState): void {
    super.changed(slot, from);
    this.pending = true;
  }
  override exited(slot: Slot): void {
    super.exited(slot);
    this.pending = true;
  }
}

/**
 * A pool of `workers` wired like the daemon wires it: every state change or exit
 * ends in a reconcile (coalesced). It is started and its workers have counted as
 * started (`startSecs` have passed) by the time it is returned.
 *  - settle(): reconcile until nothing more is due (throws if that never happens)
 *  - step(ms): advance the clock, then settle
 *  - exitKilled(): every process signalled so far exits of that signal, then settle
 */
export function reconcilingPool(workers: number, startSecs: number) {
  const host = new FakeHost();
  const obs = new ReconcilingObserver();
  const pool = new Pool(poolConfig({ workers, start_secs: startSecs }), 7, host, obs, { uid: null, gid: null }, {});
  const settle = (): void => {
    for (let i = 0; obs.pending && i < 100; i++) {
      obs.pending = false;
      pool.reconcile();
    }
    if (obs.pending) throw new Error('reconcile does not settle');
  };
  const step = (ms: number): void => {
    host.advance(ms);
    settle();
  };
  const exitKilled = (): void => {
    for (const k of host.kills.splice(0)) {
      const c = host.children.find((ch) => ch.pid === k.pid);
      if (c && !c.exited) host.exit(k.pid, null, k.signal);
    }
    settle();
  };
  pool.scale(workers);
  settle();
  step(startSecs);
  return { host, obs: obs as RecordingObserver, pool, settle, step, exitKilled };
}

// ---------------------------------------------------------------------------
// The rest of the port, for Supervisor tests.

export interface FakeListener extends Listener {
  address: PoolConfig['listen'];
  fd: number | null;
  closed: boolean;
}

/** Sockets that exist only here: an address in use is refused with the real message, as src/host/listeners.ts does. */
export class FakeSockets implements Sockets {
  private nextFd = 10;
  /** Listening sockets by address. */
  readonly listening = new Map<string, FakeListener>();
  readonly closed: FakeListener[] = [];
  readonly permissions: Array<{ pool: string; mode: number | null }> = [];
  /** Addresses whose next open fails with this message. */
  readonly failures = new Map<string, string>();

  async prepare(pools: readonly PoolConfig[]): Promise<PreparedSockets> {
    for (const p of pools) this.check(p);
    return { passed: new Map(), create: pools };
  }

  listenNow(prepared: PreparedSockets): Map<string, Listener> {
    const out = new Map<string, Listener>();
    for (const p of prepared.create) out.set(p.name, this.create(p));
    return out;
  }

  handOver(listener: Listener): Promise<Error | null> {
    const l = listener as FakeListener;
    const fd = l.fd;
    l.fd = null;
    return Promise.resolve().then(() => {
      if (!l.closed) l.fd = fd;
      return null;
    });
  }

  async open(pools: readonly PoolConfig[]): Promise<Map<string, Listener>> {
    for (const p of pools) this.check(p);
    const out = new Map<string, Listener>();
    for (const p of pools) out.set(p.name, this.create(p));
    return out;
  }

  applyPermissions(_listener: Listener, pool: PoolConfig): void {
    this.permissions.push({ pool: pool.name, mode: pool.socket_mode });
  }

  close(listener: Listener): void {
    const l = listener as FakeListener;
    if (l.closed) return;
    l.closed = true;
    this.listening.delete(formatAddress(l.address));
    this.closed.push(l);
  }

  private check(p: PoolConfig): void {
    const where = formatAddress(p.listen);
    const failure = this.failures.get(where);
    if (failure) throw new StartError(`cannot listen on ${where}: ${failure}`);
    if (this.listening.has(where)) {
      throw new StartError(`cannot listen on ${where}: something is listening there already (another fcgid with this config?); stop it first`);
    }
  }

  private create(p: PoolConfig): FakeListener {
    this.check(p);
    const l: FakeListener = { address: p.listen, fd: this.nextFd++, closed: false };
    this.listening.set(formatAddress(p.listen), l);
    return l;
  }
}

/** /proc as the test says it is: every worker idle unless `readings` says otherwise. */
export class FakeObserver implements Observer {
  readonly probes: PoolProbe[][] = [];
  /** What each pool's workers look like, by pool; workers not listed read idle. */
  readings = new Map<string, PoolReading>();

  readonly forgotten: number[] = [];
  forget(pid: number): void {
    this.forgotten.push(pid);
  }

  observe(pools: readonly PoolProbe[]): Map<string, PoolReading> {
    this.probes.push([...pools]);
    const out = new Map<string, PoolReading>();
    for (const p of pools) {
      const given = this.readings.get(p.name);
      const workers = new Map(p.pids.map((pid) => [pid, given?.workers.get(pid) ?? { own: { pid, connections: 0, reading: false, eventLoop: false, io: null, rss: 1 << 20, cpuMs: 0 }, servers: null }]));
      out.set(p.name, { queue: given?.queue ?? 0, workers, blind: given?.blind ?? 0, hijackers: given?.hijackers ?? [] });
    }
    return out;
  }
}

export class FakeRecords implements WorkerRecords {
  readonly live = new Set<number>();
  cleared = 0;
  async sweep(): Promise<void> {}
  add(pid: number): void {
    this.live.add(pid);
  }
  remove(pid: number): void {
    this.live.delete(pid);
  }
  clear(): void {
    this.live.clear();
    this.cleared++;
  }
}

/** A Log that keeps every entry. */
export class MemoryLog implements Log {
  level = 'debug';
  constructor(
    readonly entries: LogEntry[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  private write(level: string, a: object | string, b?: string): void {
    const [fields, message] = typeof a === 'string' ? [{}, a] : [a, b ?? ''];
    this.entries.push({ level, fields: { ...this.bindings, ...(fields as Record<string, unknown>) }, message });
  }
  debug = (a: object | string, b?: string): void => this.write('debug', a, b);
  info = (a: object | string, b?: string): void => this.write('info', a, b);
  warn = (a: object | string, b?: string): void => this.write('warn', a, b);
  error = (a: object | string, b?: string): void => this.write('error', a, b);
  child(bindings: Record<string, unknown>): Log {
    return new MemoryLog(this.entries, { ...this.bindings, ...bindings });
  }
  /** Messages at info or above that match. */
  said(pattern: RegExp): string[] {
    return this.entries.filter((e) => e.level !== 'debug' && pattern.test(e.message)).map((e) => e.message);
  }
}

export class FakePort implements Port {
  readonly host = new FakeHost();
  readonly sockets = new FakeSockets();
  readonly observer = new FakeObserver();
  readonly records = new FakeRecords();
  env: Record<string, string | undefined> = { PATH: '/usr/bin:/bin' };
  /** What the next readConfig returns (or throws). */
  next: Config | Error | null = null;
  /** Users identities() does not know. */
  readonly unknownUsers = new Set<string>();
  readonly watchers: Array<{ patterns: readonly string[]; onChange: (paths: string[]) => void; closed: boolean }> = [];

  identities(pools: readonly PoolConfig[]): Map<string, Ids> {
    const bad = pools.filter((p) => p.user !== null && this.unknownUsers.has(p.user));
    if (bad.length > 0) throw new Error(bad.map((p) => `pools.${p.name}.user: no such user "${p.user}"`).join('\n'));
    return new Map(pools.map((p) => [p.name, { uid: null, gid: null }]));
  }

  async readConfig(): Promise<Config> {
    const next = this.next;
    if (next === null) throw new Error('the test set no next config');
    if (next instanceof Error) throw next;
    return next;
  }

  async watch(patterns: readonly string[], _cwd: string, onChange: (paths: string[]) => void): Promise<FileWatcher> {
    const w = { patterns, onChange, closed: false };
    this.watchers.push(w);
    return { ready: async () => {}, close: async () => void (w.closed = true) };
  }
}

/** A whole config of pools, as loadConfig would give it. */
export function config(pools: Array<Partial<PoolConfig> & { name: string }>, file = '/etc/fcgid/app.yaml'): Config {
  return {
    file,
    control: { socket: '/run/fcgid/app.ctl', mode: 0o600, group: null },
    log: { level: 'info', file: null },
    metrics: { listen: null },
    pools: pools.map((p) => poolConfig({ listen: { kind: 'unix', path: `/run/fcgid/${p.name}.sock` }, ...p })),
  };
}

/** Let every promise the fake port resolved run its continuations. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/**
 * A Supervisor on a FakePort, started: its first workers spawned, its sockets
 * back from the (fake) listen helper, its first scan done. Then:
 *  - advance(ms): the fake clock moves (timers fire through the loop), then promises settle
 *  - exitKilled(): every process signalled so far exits of that signal
 *  - pids(pool): the pids of a pool's slots, in slot order
 */
export async function startedSupervisor(cfg: Config, prepare: (port: FakePort) => void = () => {}) {
  const { Supervisor } = await import('../../src/supervisor/supervisor.js');
  const port = new FakePort();
  prepare(port);
  const log = new MemoryLog();
  const sup = new Supervisor(cfg, log, port);
  await sup.start();
  const { host } = port;
  const advance = async (ms: number): Promise<void> => {
    host.advance(ms);
    await flush();
  };
  await advance(0);
  const exitKilled = async (): Promise<void> => {
    for (const k of host.kills.splice(0)) {
      const c = host.children.find((ch) => ch.pid === k.pid);
      if (c && !c.exited) host.exit(k.pid, null, k.signal);
    }
    for (const k of host.processKills.splice(0)) host.started.delete(k.pid);
    await flush();
  };
  const pool = (name: string) => sup.pools.get(name);
  const pids = (name: string): Array<number | null> => pool(name).slots.map((s) => s.pid);
  const live = (): number[] => host.children.filter((c) => !c.exited && c.pid !== null).map((c) => c.pid!);
  return { sup, port, host, log, advance, exitKilled, pool, pids, live };
}
