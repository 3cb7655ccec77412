// The daemon: sweeps workers left by a previous run, opens every pool's socket,
// starts the pools, and stops everything on SIGTERM/SIGINT. Signals and child
// exits arrive as events; each handler only changes what is wanted and lets the
// pools reconcile.

import { basename, dirname, extname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Config, PoolConfig } from '../config/types.js';
import { formatAddress } from '../fastcgi/address.js';
import type { Host } from './host.js';
import { resolveGroup, resolveUser } from './identity.js';
import { applySocketPermissions, closeListener, openListeners, somaxconn, type Listener } from './listeners.js';
import { Pool } from './pool.js';
import { Registry, processStart, type WorkerRecord } from './registry.js';
import { fmtMs, type Slot, type SlotObserver, type SlotState } from './slot.js';

export class StartError extends Error {
  override readonly name = 'StartError';
  /** 2 for a config the machine cannot honour, 1 for a runtime failure. */
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

export type DaemonState = 'starting' | 'running' | 'stopping' | 'stopped';

/** Where the worker records of a config live: beside its control socket. */
export function registryPath(config: Config): string {
  const ctl = config.control.socket;
  return join(dirname(ctl), `${basename(ctl, extname(ctl))}.workers.json`);
}

export class Daemon {
  state: DaemonState = 'starting';
  readonly pools = new Map<string, Pool>();
  private readonly listeners = new Map<string, Listener>();
  private readonly registry: Registry;
  private stopSignals = 0;
  private resolveStopped!: () => void;
  /** Resolves when every worker is gone and the sockets are closed. */
  readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));

  constructor(
    readonly config: Config,
    private readonly log: Logger,
    private readonly host: Host,
  ) {
    this.registry = new Registry(registryPath(config));
  }

  async start(): Promise<void> {
    const ids = this.resolveIdentities();
    Registry.ensureDir(this.registry.file);
    await this.sweepLeftovers();

    const backlogCap = somaxconn();
    for (const p of this.config.pools) {
      if (backlogCap !== null && p.backlog > backlogCap) {
        this.log.warn(
          { pool: p.name, backlog: p.backlog, somaxconn: backlogCap },
          `pool ${p.name}: backlog ${p.backlog} is above net.core.somaxconn (${backlogCap}); the kernel caps it at ${backlogCap} (raise it with sysctl -w net.core.somaxconn=${p.backlog})`,
        );
      }
    }
    let listeners: Listener[];
    try {
      listeners = await openListeners(this.config.pools.map((p) => ({ address: p.listen, backlog: p.backlog })));
    } catch (err) {
      throw new StartError((err as Error).message);
    }
    this.config.pools.forEach((p, i) => this.listeners.set(p.name, listeners[i]!));

    for (const p of this.config.pools) {
      const listener = this.listeners.get(p.name)!;
      if (p.listen.kind === 'unix') {
        try {
          applySocketPermissions(
            p.listen.path,
            p.socket_mode,
            p.socket_owner === null ? null : resolveUser(p.socket_owner)?.uid ?? null,
            p.socket_group === null ? null : resolveGroup(p.socket_group),
          );
        } catch (err) {
          this.closeSockets();
          throw new StartError(`pool ${p.name}: cannot set the mode or owner of ${p.listen.path}: ${(err as Error).message}`);
        }
      }
      const pool = new Pool(p, listener.fd, this.host, this.observer(p), {
        base: process.env,
        ...ids.get(p.name)!,
      });
      this.pools.set(p.name, pool);
      this.log.info(
        { pool: p.name, listen: formatAddress(p.listen), workers: p.workers },
        `pool ${p.name}: listening on ${formatAddress(p.listen)}, starting ${p.workers} worker${p.workers === 1 ? '' : 's'}: ${p.command.join(' ')}`,
      );
      pool.wanted = p.workers;
      pool.reconcile();
    }
    this.state = 'running';
  }

  /** SIGTERM/SIGINT: stop gracefully; a second one kills at once. */
  stop(signal: string): void {
    this.stopSignals++;
    if (this.stopSignals === 1) {
      this.state = 'stopping';
      this.log.info({ signal }, `received ${signal}: stopping all workers (again to kill them at once)`);
      for (const pool of this.pools.values()) {
        pool.wanted = 0;
        pool.reconcile();
      }
    } else {
      this.log.warn({ signal }, `received ${signal} again: killing every worker now`);
      for (const pool of this.pools.values()) for (const slot of pool.slots) if (slot.pid !== null) this.host.killGroup(slot.pid, 'SIGKILL');
    }
    this.checkStopped();
  }

  private checkStopped(): void {
    if (this.state !== 'stopping') return;
    for (const pool of this.pools.values()) {
      pool.reconcile();
      if (!pool.quiescent) return;
    }
    this.closeSockets();
    this.registry.clear();
    this.state = 'stopped';
    this.log.info('all workers stopped; sockets closed; exiting');
    this.resolveStopped();
  }

  private closeSockets(): void {
    for (const l of this.listeners.values()) closeListener(l);
    this.listeners.clear();
  }

  private observer(p: PoolConfig): SlotObserver {
    const log = this.log.child({ pool: p.name });
    return {
      log: (level, fields, message) => log[level](fields, message),
      line: (slot, stream, line) => log.info({ worker: slot.index, pid: slot.pid, stream }, line),
      changed: (slot: Slot, from: SlotState) => {
        log.debug({ worker: slot.index, pid: slot.pid, from, to: slot.state }, `worker ${slot.label}: ${from} -> ${slot.state}`);
      },
      spawned: (slot) => {
        this.registry.add({ pid: slot.pid!, pool: p.name, stop_signal: p.stop_signal, stop_timeout: p.stop_timeout });
        log.debug({ worker: slot.index, pid: slot.pid }, `worker ${slot.label} started as pid ${slot.pid}`);
      },
      exited: (slot) => {
        if (slot.lastExit?.pid) this.registry.remove(slot.lastExit.pid);
        // Every event ends in a reconcile step, after the slot has decided what
        // comes next (its exit handler runs first): surplus slots go away, and a
        // stopping daemon finishes once the last worker is gone.
        queueMicrotask(() => {
          if (this.state === 'stopping') this.checkStopped();
          else this.pools.get(p.name)?.reconcile();
        });
      },
    };
  }

  private resolveIdentities(): Map<string, { uid: number | null; gid: number | null }> {
    const out = new Map<string, { uid: number | null; gid: number | null }>();
    const root = process.getuid?.() === 0;
    const problems: string[] = [];
    for (const p of this.config.pools) {
      let uid: number | null = null;
      let gid: number | null = null;
      if ((p.user !== null || p.group !== null) && !root) {
        problems.push(
          `pools.${p.name}: running workers as ${p.user ?? ''}${p.group ? `:${p.group}` : ''} needs fcgid to run as root (it runs as uid ${process.getuid?.()}); remove user/group or start fcgid as root`,
        );
        continue;
      }
      if (p.user !== null) {
        const u = resolveUser(p.user);
        if (!u) problems.push(`pools.${p.name}.user: no such user "${p.user}"`);
        else ({ uid, gid } = u);
      }
      if (p.group !== null) {
        const g = resolveGroup(p.group);
        if (g === null) problems.push(`pools.${p.name}.group: no such group "${p.group}"`);
        else gid = g;
      }
      out.set(p.name, { uid, gid });
    }
    if (problems.length > 0) throw new StartError(problems.join('\n'), 2);
    return out;
  }

  /** Stop workers a SIGKILLed predecessor left running (DESIGN.md §5, orphans). */
  private async sweepLeftovers(): Promise<void> {
    const left = Registry.leftovers(this.registry.file);
    if (left.length === 0) return;
    this.log.warn(
      { pids: left.map((r) => r.pid) },
      `found ${left.length} worker${left.length === 1 ? '' : 's'} left running by a previous fcgid (pids ${left.map((r) => r.pid).join(', ')}); stopping them`,
    );
    await Promise.all(left.map((r) => this.stopLeftover(r)));
  }

  private async stopLeftover(r: WorkerRecord): Promise<void> {
    const gone = (): boolean => processStart(r.pid) !== r.start;
    this.host.killGroup(r.pid, r.stop_signal);
    const deadline = this.host.now() + r.stop_timeout;
    for (let delay = 5; !gone(); delay = Math.min(delay * 2, 100)) {
      if (this.host.now() >= deadline) {
        this.log.warn({ pid: r.pid }, `leftover worker pid ${r.pid} still alive ${fmtMs(r.stop_timeout)} after ${r.stop_signal}; sending SIGKILL`);
        this.host.killGroup(r.pid, 'SIGKILL');
        while (!gone()) await new Promise((res) => setTimeout(res, 5));
        return;
      }
      await new Promise((res) => setTimeout(res, delay));
    }
  }
}
