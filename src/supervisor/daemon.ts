// The daemon: sweeps workers left by a previous run, opens every pool's socket,
// starts the pools, takes commands (restart, scale, stop, start, signal,
// reload), and stops everything on SIGTERM/SIGINT. Signals, child exits and
// control requests arrive as events; each only changes what is wanted, and
// every event ends in the pools' reconcile step.

import { ConfigError, loadConfig, type ConfigIssue } from '../config/load.js';
import type { Config, PoolConfig } from '../config/types.js';
import { formatAddress, type Address } from '../fastcgi/address.js';
import { matchPassed, passedSockets, poolsToCreate, type PassedSocket } from './activation.js';
import type { Host } from './host.js';
import { resolveGroup, resolveIdentities, resolveUser, type Ids } from './identity.js';
import { applySocketPermissions, closeListener, handOver, listenHere, openListeners, prepareTargets, somaxconn, type ListenTarget, type Listener } from './listeners.js';
import type { Log } from './log.js';
import { Logbook } from './logbook.js';
import { Pool, type RestartOptions, type RestartResult } from './pool.js';
import { Registry, registryPath, sweepLeftovers } from './registry.js';
import { planReload, type ReloadPlan } from './reload-plan.js';
import type { Slot, SlotObserver } from './slot.js';
import type { PoolWatcher } from './watch.js';
import { ScanPolicies } from './policies.js';
import { Scoreboard, type PoolActivity } from './scoreboard.js';

export class StartError extends Error {
  override readonly name = 'StartError';
  /** 2 for a config the machine cannot honour, 1 for a runtime failure. */
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** A command that names something that is not there, or cannot be done now. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly code: 'FCGID_UNKNOWN_POOL' | 'FCGID_BAD_REQUEST' | 'FCGID_STOPPING' | 'FCGID_RELOAD_FAILED',
    message: string,
    readonly issues?: ConfigIssue[],
  ) {
    super(message);
  }
}

export type DaemonState = 'starting' | 'running' | 'reloading' | 'stopping' | 'stopped';

export interface ReloadResult {
  plan: ReloadPlan;
}


/** How often the scoreboard looks at the workers (its cost is in docs/benchmarks.md). */
export const SCAN_INTERVAL_MS = 1000;

export interface DaemonHooks {
  /** During start(): the first workers are spawned; the sockets are being handed over. */
  launched(): void;
  changed(): void;
  reloading(): void;
  reloaded(): void;
  stopping(): void;
}

/** One line for systemd's STATUS= and logs: "app 4/4 running, php 7/8 degraded". */
export function summary(daemon: Daemon): string {
  const pools = [...daemon.pools.values()].map((p) => `${p.name} ${p.slots.filter((s) => s.state === 'running').length}/${p.wanted} ${p.state}`);
  return pools.length ? pools.join(', ') : 'no pools';
}

/** True once no pool is still starting its workers (they run, or have failed visibly). */
export function settled(daemon: Daemon): boolean {
  return [...daemon.pools.values()].every((p) => p.state !== 'starting');
}

export class Daemon {
  state: DaemonState = 'starting';
  config: Config;
  readonly startedAt: number;
  readonly pools = new Map<string, Pool>();
  readonly logbook = new Logbook();
  private readonly listeners = new Map<string, Listener>();
  /** Pools removed by a reload, until their last worker is gone. */
  private readonly retiring = new Map<string, { pool: Pool; listener: Listener }>();
  /** Sockets replaced by a reload, closed once the pool's restart onto the new one is done. */
  private readonly registry: Registry;
  private readonly scheduled = new Set<string>();
  private stopSignals = 0;
  private resolveStopped!: () => void;
  /** Resolves when every worker is gone and the sockets are closed. */
  readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));
  /** `watch:` of each pool that has one, with the patterns it was made for. */
  private readonly watchers = new Map<string, { key: string; watcher: PoolWatcher }>();
  /** What each worker was doing at the last scan (DESIGN.md §5: busy, idle, progress), by pool. */
  activity = new Map<string, PoolActivity>();
  private readonly scoreboard = new Scoreboard();
  private warnedBlind = false;
  private scanTimer: NodeJS.Timeout | null = null;
  /** Workers stopped as hung, and recycled for a limit, by pool, for status and metrics. */
  /** idle_timeout, max_memory/max_lifetime and dynamic pools: what each scan decides. */
  private readonly policies: ScanPolicies;

  get hungKills(): ReadonlyMap<string, number> {
    return this.policies.hungKills;
  }

  get recycles(): ReadonlyMap<string, number> {
    return this.policies.recycles;
  }
  /** Worker exits by pool and reason (crashed, exited, hung...), for metrics. */
  readonly exits = new Map<string, Map<string, number>>();
  /**
   * Workers started again after an exit, by pool. Counted here, not summed over
   * the slots: a rolling restart, a recycle or a scale-down drops the slot objects
   * that counted them, and a Prometheus counter must never go down.
   */
  readonly restarts = new Map<string, number>();
  private readonly restartsSeen = new WeakMap<Slot, number>();
  /** Sockets systemd passed (socket activation), read once at start-up. */
  private readonly passed: PassedSocket[] = passedSockets();
  /** Told about every change of pool or worker state, and the steps of a reload or stop (systemd notify). */
  hooks: DaemonHooks = { launched: () => {}, changed: () => {}, reloading: () => {}, reloaded: () => {}, stopping: () => {} };

  constructor(
    config: Config,
    private readonly log: Log,
    private readonly host: Host,
  ) {
    this.config = config;
    this.startedAt = host.now();
    this.policies = new ScanPolicies(log);
    this.registry = new Registry(registryPath(config));
  }

  async start(): Promise<void> {
    let ids: Map<string, Ids>;
    try {
      ids = resolveIdentities(this.config.pools);
    } catch (err) {
      throw new StartError((err as Error).message, 2);
    }
    Registry.ensureDir(this.registry.file);
    try {
      await sweepLeftovers(this.registry.file, this.host, this.log);
    } catch (err) {
      throw new StartError((err as Error).message);
    }
    const listeners = this.passedFor(this.config.pools);
    const create = poolsToCreate(this.config.pools, this.passed);
    this.warnBacklog(create);
    let targets: ListenTarget[];
    try {
      targets = await prepareTargets(create.map((p) => ({ address: p.listen, backlog: p.backlog })));
    } catch (err) {
      throw new StartError((err as Error).message);
    }
    // A stop meanwhile (SIGTERM while the sweep waited for leftovers): start nothing.
    if (this.state !== 'starting') return;
    // From here to the hand-overs, one tick: the sockets listen in this process
    // and must not be polled here (listeners.ts).
    let here: Listener[];
    try {
      here = listenHere(targets);
      create.forEach((p, i) => listeners.set(p.name, here[i]!));
    } catch (err) {
      throw new StartError((err as Error).message);
    }
    try {
      for (const p of create) this.applyPermissions(p);
    } catch (err) {
      for (const l of here) closeListener(l);
      throw err;
    }
    for (const p of this.config.pools) this.addPool(p, listeners.get(p.name)!, ids.get(p.name)!);
    const back = create.map((p) => this.handOver(p, listeners.get(p.name)!));
    this.hooks.launched();
    // Running (and READY for systemd) once the daemon holds every socket again,
    // able to start any worker; the first workers are up meanwhile.
    await Promise.all(back);
    if (this.state !== 'starting') return; // stopped meanwhile
    this.state = 'running';
    await this.syncWatchers();
    this.scanTimer = setInterval(() => this.scan(), SCAN_INTERVAL_MS);
    this.scanTimer.unref();
  }

  /** A socket from listenHere(), its first workers spawned: to the helper and back (listeners.ts). */
  private async handOver(p: PoolConfig, listener: Listener): Promise<void> {
    const pool = this.pools.get(p.name)!;
    const back = handOver(listener, p.backlog, p.socket_fd === 0);
    pool.setSocket(null); // before the first await: still the tick that listened
    const err = await back;
    if (this.listeners.get(p.name) !== listener) return; // replaced or retired meanwhile (a reload, a stop)
    if (err) {
      // Cannot happen short of a broken install: the helper just ran as the
      // listener. Without the socket no worker can start again, so stop.
      this.log.error({ pool: p.name, err: err.message }, `pool ${p.name}: lost the listening socket (${err.message}); stopping`);
      process.exitCode = 1;
      this.stop('the listening socket is lost');
      return;
    }
    pool.setSocket(listener.fd);
  }

  /** One pass of the scoreboard, then idle_timeout: a busy worker silent that long is hung. */
  scan(): void {
    const now = this.host.now();
    const probes = [...this.pools.values()].flatMap((pool) => {
      const listener = this.listeners.get(pool.name);
      const pids = pool.allSlots().flatMap((s) => (s.pid !== null && (s.state === 'running' || s.state === 'starting') ? [s.pid] : []));
      return listener && listener.fd !== null ? [{ name: pool.name, listenerFd: listener.fd, workerFd: pool.config.socket_fd, pids, memory: pool.config.max_memory > 0 }] : [];
    });
    this.activity = this.scoreboard.scan(now, probes);
    for (const pool of this.pools.values()) {
      const seen = this.activity.get(pool.name);
      if (!seen) continue;
      if (seen.blind > 0 && !this.warnedBlind) {
        this.warnedBlind = true;
        this.log.warn(
          { pool: pool.name },
          `pool ${pool.name}: cannot read /proc/<pid>/fd of its workers (they run as another user and fcgid lacks CAP_SYS_PTRACE, as in many containers): busy/idle, idle_timeout and dynamic scaling are blind for them; give fcgid CAP_SYS_PTRACE or run the workers as fcgid's user`,
        );
      }
      this.policies.apply(pool, seen, now);
    }
  }

  /** One file watcher per pool with `watch:` globs; a change means a debounced rolling restart. */
  private async syncWatchers(): Promise<void> {
    const ready: Array<Promise<void>> = [];
    for (const [name, w] of this.watchers) {
      const p = this.pools.get(name)?.config;
      if (!p || JSON.stringify([p.watch, p.cwd]) !== w.key) {
        this.watchers.delete(name);
        void w.watcher.close();
      }
    }
    // chokidar is loaded only when a pool watches files.
    const wanted = [...this.pools.values()].filter((pool) => pool.config.watch.length > 0 && !this.watchers.has(pool.name));
    const { PoolWatcher: Watcher } = wanted.length > 0 ? await import('./watch.js') : { PoolWatcher: null };
    for (const pool of wanted) {
      const p = pool.config;
      const watcher = new Watcher!(p.watch, p.cwd, (paths) => {
        if (this.state !== 'running' || !this.pools.has(p.name)) return;
        this.log.info({ pool: p.name, paths }, `pool ${p.name}: ${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ` and ${paths.length - 3} more` : ''} changed; rolling restart`);
        this.restart([p.name]).catch((err: Error) => this.log.error({ pool: p.name, err: err.message }, `pool ${p.name}: restart after a file change failed`));
      });
      this.watchers.set(p.name, { key: JSON.stringify([p.watch, p.cwd]), watcher });
      ready.push(watcher.ready());
    }
    await Promise.all(ready);
  }

  // --- commands (the control socket and signals call these) ---

  pool(name: string): Pool {
    const pool = this.pools.get(name);
    if (!pool) {
      const known = [...this.pools.keys()];
      throw new CommandError('FCGID_UNKNOWN_POOL', `no pool named "${name}"; known pools: ${known.length ? known.join(', ') : '(none)'}`);
    }
    return pool;
  }

  private pick(names: readonly string[]): Pool[] {
    this.refuseWhileStopping();
    return names.length === 0 ? [...this.pools.values()] : names.map((n) => this.pool(n));
  }

  /** Rolling restart (or --hard); resolves when every named pool is done. */
  restart(names: readonly string[], options: RestartOptions = {}): Promise<RestartResult[]> {
    const pools = this.pick(names);
    for (const p of pools) this.log.info({ pool: p.name, ...options }, `pool ${p.name}: ${options.hard ? 'hard' : 'rolling'} restart`);
    return Promise.all(pools.map((p) => p.restart(options)));
  }

  scale(name: string, workers: number): void {
    if (!Number.isInteger(workers) || workers < 0) throw new CommandError('FCGID_BAD_REQUEST', `workers must be an integer of 0 or more, got ${workers}`);
    const pool = this.pick([name])[0]!;
    this.log.info({ pool: name, from: pool.wanted, to: workers }, `pool ${name}: scaling from ${pool.wanted} to ${workers} workers`);
    pool.scale(workers);
  }

  stopPool(name: string): void {
    const pool = this.pick([name])[0]!;
    this.log.info({ pool: name }, `pool ${name}: stopping its workers (the socket stays open; connections wait in the backlog)`);
    pool.stop();
  }

  startPool(name: string): void {
    const pool = this.pick([name])[0]!;
    this.log.info({ pool: name }, `pool ${name}: starting ${pool.configured} workers`);
    pool.start();
  }

  signalPool(name: string, signal: NodeJS.Signals): number[] {
    const pids = this.pick([name])[0]!.signal(signal);
    this.log.info({ pool: name, signal, pids }, `pool ${name}: sent ${signal} to ${pids.length} worker${pids.length === 1 ? '' : 's'}`);
    return pids;
  }

  /**
   * Re-read the config file. Invalid: nothing changes, and every problem is
   * reported. Valid: only the difference is applied.
   */
  async reload(): Promise<ReloadResult> {
    this.refuseWhileStopping();
    let next: Config;
    try {
      next = loadConfig(this.config.file);
    } catch (err) {
      if (err instanceof ConfigError) {
        this.log.error({ issues: err.issues }, `reload refused; still running the previous config:\n${err.message}`);
        throw new CommandError('FCGID_RELOAD_FAILED', err.message, err.issues);
      }
      throw err;
    }
    const plan = planReload(this.config, next);
    let ids: Map<string, Ids>;
    let opened: Map<string, Listener>;
    try {
      ids = resolveIdentities(next.pools);
      opened = await this.openFor([...plan.add, ...plan.relisten]);
    } catch (err) {
      this.log.error(`reload refused; still running the previous config: ${(err as Error).message}`);
      throw new CommandError('FCGID_RELOAD_FAILED', (err as Error).message);
    }
    this.state = 'reloading';
    this.hooks.reloading();
    this.config = next;
    this.log.level = next.log.level;
    for (const name of plan.remove) this.retirePool(name);
    for (const p of plan.add) this.addPool(p, opened.get(p.name)!, ids.get(p.name)!);
    for (const p of next.pools) if (!plan.add.includes(p)) this.pools.get(p.name)!.config = p;
    const restarts: Array<Promise<unknown>> = [];
    for (const p of plan.relisten) {
      const pool = this.pools.get(p.name)!;
      const old = this.listeners.get(p.name)!;
      const listener = opened.get(p.name)!;
      this.listeners.set(p.name, listener);
      pool.adopt(p, listener.fd);
      this.log.info({ pool: p.name, listen: formatAddress(p.listen) }, `pool ${p.name}: moving to ${formatAddress(p.listen)} (rolling restart onto the new socket)`);
      restarts.push(pool.restart({ batch: p.workers }).then(() => closeListener(old)));
    }
    for (const p of plan.restart) {
      const pool = this.pools.get(p.name)!;
      pool.adopt(p, this.listeners.get(p.name)!.fd);
      this.log.info({ pool: p.name }, `pool ${p.name}: config changed; rolling restart`);
      restarts.push(pool.restart());
    }
    for (const { pool, to } of plan.scale) this.pools.get(pool)!.scale(to);
    for (const p of plan.permissions) this.applyPermissions(p);
    await this.syncWatchers();
    if (plan.needsDaemonRestart.length > 0) {
      this.log.warn({ keys: plan.needsDaemonRestart }, `reload: ${plan.needsDaemonRestart.join(', ')} take effect only when fcgid restarts`);
    }
    this.log.info({ plan: summarize(plan) }, `reloaded ${next.file}`);
    await Promise.all(restarts);
    if (this.state === 'reloading') this.state = 'running';
    this.hooks.reloaded();
    this.hooks.changed();
    return { plan };
  }

  /** SIGTERM/SIGINT (or another reason, said as it should be logged): stop gracefully; a second one kills at once. */
  stop(signal: string): void {
    const why = /^SIG[A-Z0-9]+$/.test(signal) ? `received ${signal}` : signal;
    this.stopSignals++;
    if (this.stopSignals === 1) {
      this.state = 'stopping';
      this.hooks.stopping();
      if (this.scanTimer) clearInterval(this.scanTimer);
      for (const { watcher } of this.watchers.values()) void watcher.close();
      this.watchers.clear();
      this.log.info({ signal }, `${why}: stopping all workers (again to kill them at once)`);
      for (const pool of this.allPools()) {
        pool.wanted = 0;
        pool.reconcile();
      }
    } else {
      this.log.warn({ signal }, `${why} again: killing every worker now`);
      for (const pool of this.allPools()) for (const slot of pool.allSlots()) if (slot.pid !== null) this.host.killGroup(slot.pid, 'SIGKILL');
    }
    this.checkStopped();
  }

  // --- internals ---

  private refuseWhileStopping(): void {
    if (this.state === 'stopping' || this.state === 'stopped') throw new CommandError('FCGID_STOPPING', 'fcgid is stopping; no new commands');
  }

  private allPools(): Pool[] {
    return [...this.pools.values(), ...[...this.retiring.values()].map((r) => r.pool)];
  }

  /** The sockets systemd passed for these pools (socket activation); an error for a systemd:NAME it did not pass. */
  private passedFor(pools: readonly PoolConfig[]): Map<string, Listener> {
    const out = new Map<string, Listener>();
    for (const p of pools) {
      const given = matchPassed(p.listen, this.passed);
      if (given) {
        out.set(p.name, { address: given.address ?? p.listen, fd: given.fd, handle: null, owned: false });
        this.log.info({ pool: p.name, fd: given.fd, name: given.name }, `pool ${p.name}: using the socket systemd passed as fd ${given.fd} (${given.name})`);
      } else if (p.listen.kind === 'systemd') {
        const names = this.passed.map((s) => s.name);
        throw new StartError(
          `pools.${p.name}.listen: systemd:${p.listen.name}, but systemd passed no socket of that name (${names.length ? `passed: ${names.join(', ')}` : 'none passed'}); check FileDescriptorName= in the .socket unit`,
          2,
        );
      }
    }
    return out;
  }

  private warnBacklog(pools: readonly PoolConfig[]): void {
    const cap = somaxconn();
    for (const p of pools) {
      if (cap !== null && p.backlog > cap) {
        this.log.warn(
          { pool: p.name, backlog: p.backlog, somaxconn: cap },
          `pool ${p.name}: backlog ${p.backlog} is above net.core.somaxconn (${cap}); the kernel caps it at ${cap} (raise it with sysctl -w net.core.somaxconn=${p.backlog})`,
        );
      }
    }
  }

  /** Listeners for pools added or moved by a reload, created by the listen helper. */
  private async openFor(pools: readonly PoolConfig[]): Promise<Map<string, Listener>> {
    const out = this.passedFor(pools);
    const create = poolsToCreate(pools, this.passed);
    this.warnBacklog(create);
    let listeners: Listener[];
    try {
      listeners = await openListeners(create.map((p) => ({ address: p.listen, backlog: p.backlog })));
    } catch (err) {
      throw new StartError((err as Error).message);
    }
    create.forEach((p, i) => out.set(p.name, listeners[i]!));
    try {
      for (const p of create) this.applyPermissions(p);
    } catch (err) {
      for (const l of listeners) closeListener(l);
      throw err;
    }
    return out;
  }

  /** Where a pool really listens (for a socket systemd passed, the address /proc shows). */
  addressOf(name: string): Address {
    return this.listeners.get(name)?.address ?? this.pool(name).config.listen;
  }

  private applyPermissions(p: PoolConfig): void {
    if (p.listen.kind !== 'unix') return;
    try {
      applySocketPermissions(
        p.listen.path,
        p.socket_mode,
        p.socket_owner === null ? null : (resolveUser(p.socket_owner)?.uid ?? null),
        p.socket_group === null ? null : resolveGroup(p.socket_group),
      );
    } catch (err) {
      throw new StartError(`pool ${p.name}: cannot set the mode or owner of ${p.listen.path}: ${(err as Error).message}`);
    }
  }

  private addPool(p: PoolConfig, listener: Listener, ids: Ids): void {
    this.listeners.set(p.name, listener);
    const pool = new Pool(p, listener.fd, this.host, this.observer(p.name), { base: process.env, ...ids });
    this.pools.set(p.name, pool);
    this.log.info(
      { pool: p.name, listen: formatAddress(p.listen), workers: p.workers },
      `pool ${p.name}: listening on ${formatAddress(p.listen)}, starting ${p.workers} worker${p.workers === 1 ? '' : 's'}: ${p.command.join(' ')}`,
    );
    pool.scale(p.workers);
  }

  private retirePool(name: string): void {
    const pool = this.pools.get(name)!;
    const listener = this.listeners.get(name)!;
    this.pools.delete(name);
    this.listeners.delete(name);
    this.retiring.set(name, { pool, listener });
    this.log.info({ pool: name }, `pool ${name}: removed from the config; stopping its workers, then closing ${formatAddress(pool.config.listen)}`);
    pool.stop();
    this.checkRetired(name);
  }

  private checkRetired(name: string): void {
    const r = this.retiring.get(name);
    if (!r || !r.pool.quiescent) return;
    closeListener(r.listener);
    this.retiring.delete(name);
    this.logbook.forget(name);
    this.log.info({ pool: name }, `pool ${name}: stopped and its socket closed`);
  }

  /** Every event ends in one reconcile of the pool it touched, coalesced per tick. */
  private schedule(name: string): void {
    if (this.scheduled.has(name)) return;
    this.scheduled.add(name);
    queueMicrotask(() => {
      this.scheduled.delete(name);
      if (this.state === 'stopping') return this.checkStopped();
      if (this.retiring.has(name)) return this.checkRetired(name);
      this.pools.get(name)?.reconcile();
      this.hooks.changed();
    });
  }

  private checkStopped(): void {
    if (this.state !== 'stopping') return;
    for (const pool of this.allPools()) {
      pool.reconcile();
      if (!pool.quiescent) return;
    }
    for (const l of this.listeners.values()) closeListener(l);
    for (const r of this.retiring.values()) closeListener(r.listener);
    this.listeners.clear();
    this.retiring.clear();
    this.registry.clear();
    this.state = 'stopped';
    this.log.info('all workers stopped; sockets closed; exiting');
    this.resolveStopped();
  }

  private observer(pool: string): SlotObserver {
    const log = this.log.child({ pool });
    const book = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra: { worker?: number; pid?: number | null; stream?: 'stdout' | 'stderr' } = {}): void =>
      this.logbook.add({ time: new Date(this.host.now()).toISOString(), pool, level, msg, ...extra });
    return {
      log: (level, fields, message) => {
        log[level](fields, message);
        if (level !== 'debug') book(level, message);
      },
      line: (slot, stream, line) => {
        log.info({ worker: slot.index, pid: slot.pid, stream }, line);
        book('info', line, { worker: slot.index, pid: slot.pid, stream });
      },
      changed: (slot, from) => {
        log.debug({ worker: slot.index, pid: slot.pid, from, to: slot.state }, `worker ${slot.label}: ${from} -> ${slot.state}`);
        this.schedule(pool);
      },
      spawned: (slot) => {
        const p = this.pools.get(pool)?.config ?? this.retiring.get(pool)?.pool.config;
        this.registry.add({ pid: slot.pid!, pool, stop_signal: p?.stop_signal ?? 'SIGTERM', stop_timeout: p?.stop_timeout ?? 10_000 });
        log.debug({ worker: slot.index, pid: slot.pid }, `worker ${slot.label} started as pid ${slot.pid}`);
        const seen = this.restartsSeen.get(slot) ?? 0;
        if (slot.restarts > seen) this.restarts.set(pool, (this.restarts.get(pool) ?? 0) + slot.restarts - seen);
        this.restartsSeen.set(slot, slot.restarts);
      },
      exited: (slot) => {
        if (slot.lastExit?.pid) this.registry.remove(slot.lastExit.pid);
        if (slot.lastExit) {
          const byReason = this.exits.get(pool) ?? new Map<string, number>();
          byReason.set(slot.lastExit.reason, (byReason.get(slot.lastExit.reason) ?? 0) + 1);
          this.exits.set(pool, byReason);
        }
        this.schedule(pool);
      },
    };
  }
}

function summarize(plan: ReloadPlan): Record<string, string[]> {
  return {
    added: plan.add.map((p) => p.name),
    removed: plan.remove,
    restarted: plan.restart.map((p) => p.name),
    relistened: plan.relisten.map((p) => p.name),
    scaled: plan.scale.map((s) => `${s.pool} ${s.from}->${s.to}`),
  };
}
