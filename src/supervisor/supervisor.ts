// The supervisor's loop: one `step(event)` handles every signal, control
// command, file change, scan tick, child exit and timer, in order, and ends
// in the reconcile step of every pool the event touched (gunicorn's arbiter,
// s6-supervise). Commands run one at a time (commands.ts). Each scan's
// policies propose; the loop decides. The OS is reached only through the port
// (port.ts), so all of this runs on a fake host in tests.

import type { Config, PoolConfig } from '../config/types.js';
import { formatAddress, type Address } from '../fastcgi/address.js';
import { Commands } from './commands.js';
import { StartError } from './errors.js';
import type { Command, CommandResults, Event } from './events.js';
import type { Log } from './log.js';
import { BookingLog, Logbook } from './logbook.js';
import { ScanPolicies, mayAct, type Proposal } from './policies.js';
import { PoolSet } from './pool-set.js';
import type { Pool } from './pool.js';
import type { FileWatcher, Ids, Listener, Port, PreparedSockets, Timer } from './port.js';
import type { ReloadContext } from './reload.js';
import { Counters, slotObserver } from './reports.js';
import { Scoreboard, type PoolActivity } from './scoreboard.js';
import { buildSnapshot, type DaemonState, type Snapshot } from './snapshot.js';

/** How often the scoreboard looks at the workers (its cost is in docs/benchmarks.md). */
export const SCAN_INTERVAL_MS = 1000;

/** Reconciles of one step before the loop gives up on settling (it converges in two or three). */
const MAX_SETTLE_ROUNDS = 100;

export interface SupervisorHooks {
  /** During start(): the first workers are spawned; the sockets are being handed over. */
  launched(): void;
  changed(): void;
  reloading(): void;
  reloaded(): void;
  stopping(): void;
}

export class Supervisor {
  state: DaemonState = 'starting';
  config: Config;
  readonly startedAt: number;
  readonly logbook = new Logbook();
  readonly pools: PoolSet;
  /** Why fcgid must exit non-zero once stopped (a lost socket); null for a normal stop. */
  failure: string | null = null;
  hooks: SupervisorHooks = { launched: () => {}, changed: () => {}, reloading: () => {}, reloaded: () => {}, stopping: () => {} };
  /** Resolves when every worker is gone and the sockets are closed. */
  readonly stopped: Promise<void>;

  private resolveStopped!: () => void;
  private readonly events: Event[] = [];
  private stepping = false;
  /** Pools an event touched: reconciled when the step ends. */
  private readonly dirty = new Set<string>();
  private readonly commands: Commands;
  private stopSignals = 0;
  private scanTimer: Timer | null = null;
  private readonly scoreboard = new Scoreboard();
  private readonly policies = new ScanPolicies();
  /** What the last scan saw, by pool. */
  private activity = new Map<string, PoolActivity>();
  private scannedAt: number | null = null;
  private warnedBlind = false;
  private readonly counters = new Counters();
  /** `watch:` of each pool that has one, with the patterns it was made for. */
  private readonly watchers = new Map<string, { key: string; watcher: Promise<FileWatcher> }>();

  private readonly log: Log;

  constructor(
    config: Config,
    log: Log,
    private readonly port: Port,
  ) {
    // Whatever is logged about a pool also goes to its logbook, for `fcgictl logs`.
    log = this.log = new BookingLog(log, this.logbook, () => port.host.now());
    this.config = config;
    this.startedAt = port.host.now();
    this.stopped = new Promise<void>((r) => (this.resolveStopped = r));
    this.pools = new PoolSet(port, log, (pool) =>
      slotObserver(pool, {
        log,
        ...(port.output ? { output: port.output } : {}),
        logbook: this.logbook,
        records: port.records,
        host: port.host,
        counters: this.counters,
        config: (name) => this.pools.find(name)?.config,
        touched: (name) => this.dirty.add(name),
        deliver: (name, slot, event) => this.step({ type: 'slot', pool: name, slot, event }),
        gone: (pid) => {
          this.scoreboard.forget(pid);
          this.port.observer.forget(pid);
        },
      }),
    );
    this.commands = new Commands({
      pools: this.pools,
      log,
      stopping: () => this.stopping(),
      started: () => this.state !== 'starting',
      resume: (run) => this.step({ type: 'resume', run }),
      reloadContext: () => this.reloadContext(),
    });
  }

  // --- the one way in ---

  /** Handle one event (events raised meanwhile wait their turn), then reconcile what it touched. */
  step(event: Event): void {
    this.events.push(event);
    if (this.stepping) return;
    this.stepping = true;
    try {
      for (let e = this.events.shift(); e; e = this.events.shift()) {
        this.handle(e);
        this.settle();
      }
    } finally {
      this.stepping = false;
    }
  }

  /** A command through the event path; resolves with its answer once it is done. */
  command<K extends Command['kind']>(command: Extract<Command, { kind: K }>): Promise<CommandResults[K]> {
    return new Promise((resolve, reject) => {
      this.step({ type: 'command', command, reply: (o) => (o.ok ? resolve(o.value as CommandResults[K]) : reject(o.error)) });
    });
  }

  private handle(e: Event): void {
    switch (e.type) {
      case 'signal':
        if (e.signal !== 'SIGHUP') return this.stop(e.signal);
        return this.commands.accept({ kind: 'reload' }, (o) => {
          if (!o.ok) this.log.error({ err: o.error.message }, 'SIGHUP: reload failed; the previous config stays in force');
        });
      case 'command':
        if (e.command.kind !== 'shutdown') return this.commands.accept(e.command, e.reply);
        this.stop(e.command.why);
        return e.reply({ ok: true, value: { state: 'stopping' } satisfies CommandResults['shutdown'] });
      case 'watch':
        if (this.state !== 'running' || !this.pools.live.has(e.pool)) return;
        this.log.info({ pool: e.pool, paths: e.paths }, `pool ${e.pool}: ${e.paths.slice(0, 3).join(', ')}${e.paths.length > 3 ? ` and ${e.paths.length - 3} more` : ''} changed; rolling restart`);
        return this.commands.accept({ kind: 'restart', pools: [e.pool] }, (o) => {
          if (!o.ok) this.log.error({ pool: e.pool, err: o.error.message }, `pool ${e.pool}: restart after a file change failed`);
        });
      case 'scan':
        return this.scan();
      case 'slot':
        e.slot.handle(e.event);
        return void this.dirty.add(e.pool);
      case 'launch':
        return this.launch(e.prepared, e.ids, e.pools);
      case 'socket':
        return this.socketBack(e.pool, e.listener, e.error);
      case 'resume':
        return e.run();
    }
  }

  /**
   * Every step ends here: touched pools reconcile until nothing changes (one
   * reconcile can start a replacement that counts as started at once, which
   * lets the next old worker go), retired pools close, a stop completes.
   */
  private settle(): void {
    if (this.dirty.size === 0 && this.state !== 'stopping') return;
    let touched = false;
    for (let round = 0; this.dirty.size > 0; round++) {
      if (round === MAX_SETTLE_ROUNDS) {
        this.log.error({ pools: [...this.dirty] }, `reconcile did not settle after ${MAX_SETTLE_ROUNDS} rounds (a bug); the next event reconciles again`);
        this.dirty.clear();
        break;
      }
      const names = [...this.dirty];
      this.dirty.clear();
      for (const name of names) this.pools.live.get(name)?.reconcile();
      touched = true;
    }
    for (const name of this.pools.settleRetired()) {
      // A reload may have added a pool of the same name meanwhile: its history stays.
      if (this.pools.live.has(name)) continue;
      this.logbook.forget(name);
      this.counters.forget(name);
    }
    if (this.state === 'stopping') this.checkStopped();
    if (touched) this.hooks.changed();
  }

  /** What reload.ts needs of the loop; it changes pools only inside `resume` steps. */
  private reloadContext(): ReloadContext {
    return {
      port: this.port,
      log: this.log,
      pools: this.pools,
      config: () => this.config,
      stopping: () => this.stopping(),
      resume: (run) =>
        new Promise((resolve, reject) =>
          this.step({
            type: 'resume',
            run: () => {
              try {
                resolve(run());
              } catch (err) {
                reject(err);
              }
            },
          }),
        ),
      begin: () => {
        // Commands run only once start-up is done, and never while stopping.
        if (this.state !== 'running') return;
        this.state = 'reloading';
        this.hooks.reloading();
      },
      adopt: (next) => {
        this.config = next;
        this.log.level = next.log.level;
      },
      syncWatchers: () => this.syncWatchers(),
      end: () => {
        if (this.state !== 'reloading') return false;
        this.state = 'running';
        return true;
      },
      reloaded: () => {
        this.hooks.reloaded();
        this.hooks.changed();
      },
    };
  }

  // --- start and stop ---

  /** Start-up: sweep what a predecessor left, prepare the sockets, then listen and spawn in one tick. */
  async start(): Promise<void> {
    let ids: Map<string, Ids>;
    try {
      ids = this.port.identities(this.config.pools);
    } catch (err) {
      throw new StartError((err as Error).message, 2);
    }
    try {
      await this.port.records.sweep();
    } catch (err) {
      throw new StartError((err as Error).message);
    }
    const prepared = await this.port.sockets.prepare(this.config.pools);
    if (this.stopping()) return;
    this.step({ type: 'launch', prepared, ids, pools: this.config.pools });
    const back: Array<Promise<void>> = [];
    for (const p of prepared.create) {
      const listener = this.pools.listener(p.name)!;
      back.push(this.port.sockets.handOver(listener, p).then((error) => this.step({ type: 'socket', pool: p.name, listener, error })));
      // Before the first await: still the tick that listened; spawns wait for the socket to come back.
      this.pools.live.get(p.name)!.setSocket(null);
    }
    this.hooks.launched();
    // Running (and READY for systemd) once the daemon holds every socket again,
    // able to start any worker; the first workers are up meanwhile.
    await Promise.all(back);
    if (this.stopping()) return;
    await this.syncWatchers();
    if (this.stopping()) return;
    // The first scan a second in, as every other: not while the first workers are still booting.
    this.scanTimer = this.port.host.every(SCAN_INTERVAL_MS, () => this.step({ type: 'scan' }));
    this.step({
      type: 'resume',
      run: () => {
        this.state = 'running';
        // Commands that came during start-up (a SIGHUP, an early fcgictl) run now, in order.
        this.commands.startedUp();
      },
    });
  }

  private stopping(): boolean {
    return this.state === 'stopping' || this.state === 'stopped';
  }

  /** From here to the hand-overs, one tick: the sockets listen in this process and must not be polled here. */
  private launch(prepared: PreparedSockets, ids: Map<string, Ids>, pools: readonly PoolConfig[]): void {
    const listeners = this.port.sockets.listenNow(prepared);
    for (const [name, l] of prepared.passed) listeners.set(name, l);
    for (const p of pools) this.pools.add(p, listeners.get(p.name)!, ids.get(p.name)!);
  }

  private socketBack(name: string, listener: Listener, error: Error | null): void {
    if (this.pools.listener(name) !== listener) return; // replaced or retired meanwhile (a reload, a stop)
    if (error) {
      // Cannot happen short of a broken install: the helper just ran as the
      // listener. Without the socket no worker can start again, so stop.
      this.log.error({ pool: name, err: error.message }, `pool ${name}: lost the listening socket (${error.message}); stopping`);
      this.failure = `pool ${name} lost its listening socket`;
      return this.stop('the listening socket is lost');
    }
    this.pools.live.get(name)?.setSocket(listener.fd);
  }

  /** SIGTERM/SIGINT (or another reason, said as it should be logged): stop gracefully; a second one kills at once. */
  private stop(signal: string): void {
    const why = /^SIG[A-Z0-9]+$/.test(signal) ? `received ${signal}` : signal;
    this.stopSignals++;
    if (this.stopSignals > 1) {
      this.log.warn({ signal }, `${why} again: killing every worker now`);
      for (const pool of this.pools.all()) for (const slot of pool.allSlots()) if (slot.pid !== null) this.port.host.killGroup(slot.pid, 'SIGKILL');
      return;
    }
    this.state = 'stopping';
    this.hooks.stopping();
    this.scanTimer?.cancel();
    for (const { watcher } of this.watchers.values()) void watcher.then((w) => w.close());
    this.watchers.clear();
    this.log.info({ signal }, `${why}: stopping all workers (again to kill them at once)`);
    this.commands.refuseWaiting();
    for (const pool of this.pools.all()) pool.stop('fcgid is stopping');
  }

  private checkStopped(): void {
    for (const pool of this.pools.all()) pool.reconcile();
    if (!this.pools.quiescent) return;
    this.pools.closeAll();
    this.port.records.clear();
    this.state = 'stopped';
    this.log.info('all workers stopped; sockets closed; exiting');
    this.resolveStopped();
  }

  // --- the scoreboard ---


  /** One pass of the scoreboard; the policies propose from its snapshot, and the loop decides. */
  private scan(): void {
    if (this.state !== 'running' && this.state !== 'reloading') return;
    const now = this.port.host.now();
    const probes = [...this.pools.live.values()].flatMap((pool) => {
      const listener = this.pools.listener(pool.name);
      // A loop, not flatMap: at 1000 workers, an array per slot a second was most of an idle scan's garbage.
      const pids: number[] = [];
      for (const s of pool.allSlots()) if (s.pid !== null && (s.state === 'running' || s.state === 'starting')) pids.push(s.pid);
      return listener && listener.fd !== null ? [{ name: pool.name, listener, workerFd: pool.config.socket_fd, pids, memory: pool.config.max_memory > 0 }] : [];
    });
    this.activity = this.scoreboard.update(now, this.port.observer.observe(probes));
    this.scannedAt = now;
    for (const [name, seen] of this.activity) if (seen.hijackers.length > 0) this.hijacked(name, seen.hijackers);
    for (const [name, seen] of this.activity) {
      if (seen.blind === 0 || this.warnedBlind) continue;
      this.warnedBlind = true;
      this.log.warn(
        { pool: name },
        `pool ${name}: cannot read /proc/<pid>/fd of its workers (they run as another user and fcgid lacks CAP_SYS_PTRACE, as in many containers): busy/idle, idle_timeout and dynamic scaling are blind for them; give fcgid CAP_SYS_PTRACE or run the workers as fcgid's user`,
      );
    }
    // The policies read the snapshot of the pools they may act on.
    const watched = [...this.pools.live.values()].filter((p) => {
      const seen = this.activity.get(p.name);
      return seen !== undefined && mayAct(p.config, seen);
    });
    if (watched.length === 0) return;
    for (const view of this.snapshot(watched).pools) {
      const pool = this.pools.live.get(view.name)!;
      for (const p of this.policies.propose(view, now)) this.decide(pool, p);
    }
  }

  /**
   * A worker listens at the pool's path on a socket of its own (flup's
   * bindAddress, php-cgi -b): it took the path from fcgid's socket, the web
   * server reaches only it, and the next one would do the same. The pool stops
   * as failed; `fcgictl start` gives it a new socket at its path.
   */
  private hijacked(name: string, pids: number[]): void {
    const pool = this.pools.live.get(name);
    if (!pool || pool.failure !== null) return;
    const slot = pool.allSlots().find((s) => s.pid !== null && pids.includes(s.pid));
    const why = `worker ${slot?.label ?? name} pid ${pids[0]} listens at ${formatAddress(pool.config.listen)} on a socket of its own instead of the one fcgid hands it on fd ${pool.config.socket_fd} (flup's bindAddress, php-cgi -b, spawn-fcgi in the command), so the web server reaches only that worker`;
    this.log.error({ pool: name, pids }, `pool ${name}: ${why}; stopping the pool. Remove that option from the command (flup: WSGIServer(app) with no bindAddress), then fcgictl start ${name}`);
    pool.fail(why);
    this.dirty.add(name);
  }

  /** A policy's proposal, acted on unless the worker moved on or a command owns the pool's size. */
  private decide(pool: Pool, p: Proposal): void {
    const counters = this.counters.of(pool.name);
    this.dirty.add(pool.name);
    if (p.kind === 'scale') {
      // A restart or a reload turns the pool over: its size is left alone meanwhile.
      if (pool.rollout !== null || this.commands.current?.kind === 'reload') return;
      this.log.info(p.fields, p.message);
      return pool.scale(p.to, p.to < pool.wanted ? `a spare worker, idle past spare_idle_timeout (min_workers ${pool.config.min_workers})` : undefined);
    }
    const slot = p.slot.role === 'worker' ? pool.slots[p.slot.index] : pool.replacements.get(p.slot.index);
    if (!slot || slot.pid !== p.slot.pid) return;
    switch (p.kind) {
      case 'hung':
        slot.handle({ type: 'hung', detail: p.detail });
        if (slot.state === 'stopping') counters.hungKills++;
        return;
      case 'stop-child':
        if (!pool.stopChild(slot, p.pid, p.why, p.reason === 'hung' ? 'warn' : 'info')) return;
        if (p.reason === 'hung') counters.hungKills++;
        else counters.recycles++;
        return;
      case 'recycle':
        if (pool.rollout === null && pool.recycle(slot, p.why)) counters.recycles++;
        return;
    }
  }

  // --- what is observed ---

  /** The daemon as status, metrics and systemd see it: slot states now, activity from the last scan. */
  snapshot(pools: Iterable<Pool> = this.pools.live.values()): Snapshot {
    return buildSnapshot({
      now: this.port.host.now(),
      state: this.state,
      startedAt: this.startedAt,
      config: this.config.file,
      scannedAt: this.scannedAt,
      pools,
      addressOf: (name) => this.pools.addressOf(name),
      activity: (name) => this.activity.get(name),
      counters: (name) => this.counters.of(name),
      logDrops: this.port.output?.dropped() ?? null,
    });
  }

  addressOf(name: string): Address {
    return this.pools.addressOf(name);
  }

  /** Throws the one-line unknown-pool error (FCGID_UNKNOWN_POOL) for a name the running config does not have. */
  checkPool(name: string): void {
    this.pools.get(name);
  }

  // --- file watchers ---

  /** One file watcher per pool with `watch:` globs; a change means a debounced rolling restart. */
  private async syncWatchers(): Promise<void> {
    for (const [name, w] of this.watchers) {
      const p = this.pools.live.get(name)?.config;
      if (!p || JSON.stringify([p.watch, p.cwd]) !== w.key) {
        this.watchers.delete(name);
        void w.watcher.then((x) => x.close());
      }
    }
    const ready: Array<Promise<void>> = [];
    for (const pool of this.pools.live.values()) {
      const p = pool.config;
      if (p.watch.length === 0 || this.watchers.has(p.name)) continue;
      const watcher = this.port.watch(p.watch, p.cwd, (paths) => this.step({ type: 'watch', pool: p.name, paths }));
      this.watchers.set(p.name, { key: JSON.stringify([p.watch, p.cwd]), watcher });
      ready.push(watcher.then((w) => w.ready()));
    }
    await Promise.all(ready);
  }
}
