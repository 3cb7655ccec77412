// The daemon's pools and the sockets they serve on: which pool listens where,
// pools a reload removed until their last worker is gone, and the sockets to
// close when they are. The sockets themselves live behind the port (src/host/).

import { formatAddress, type Address } from '../fastcgi/address.js';
import type { PoolConfig } from '../config/types.js';
import { CommandError } from './errors.js';
import type { Log } from './log.js';
import { Pool } from './pool.js';
import type { Ids, Listener, Port } from './port.js';
import type { SlotObserver } from './slot.js';

export class PoolSet {
  /** The pools of the running config, in config order. */
  readonly live = new Map<string, Pool>();
  private readonly listeners = new Map<string, Listener>();
  /** Pools removed by a reload, until their last worker is gone; then their socket closes. */
  private readonly retiring = new Map<string, { pool: Pool; listener: Listener }>();

  constructor(
    private readonly port: Port,
    private readonly log: Log,
    private readonly observerFor: (pool: string) => SlotObserver,
  ) {}

  /** A pool of the running config, or the one-line error that lists the known ones. */
  get(name: string): Pool {
    const pool = this.live.get(name);
    if (!pool) {
      const known = [...this.live.keys()];
      throw new CommandError('FCGID_UNKNOWN_POOL', `no pool named "${name}"; known pools: ${known.length ? known.join(', ') : '(none)'}`);
    }
    return pool;
  }

  /** Every pool with workers to look after: the live ones and the retiring ones. */
  all(): Pool[] {
    return [...this.live.values(), ...[...this.retiring.values()].map((r) => r.pool)];
  }

  find(name: string): Pool | undefined {
    return this.live.get(name) ?? this.retiring.get(name)?.pool;
  }

  listener(name: string): Listener | undefined {
    return this.listeners.get(name);
  }

  /** Where a pool really listens (for a socket systemd passed, the address /proc shows). */
  addressOf(name: string): Address {
    return this.listeners.get(name)?.address ?? this.get(name).config.listen;
  }

  /** A new pool on its socket: its first workers start now. */
  add(p: PoolConfig, listener: Listener, ids: Ids): Pool {
    this.listeners.set(p.name, listener);
    const pool = new Pool(p, listener.fd, this.port.host, this.observerFor(p.name), ids, this.port.env);
    this.live.set(p.name, pool);
    this.log.info(
      { pool: p.name, listen: formatAddress(p.listen), workers: p.workers },
      `pool ${p.name}: listening on ${formatAddress(p.listen)}, starting ${p.workers} worker${p.workers === 1 ? '' : 's'}: ${p.command.join(' ')}`,
    );
    pool.scale(p.workers);
    return pool;
  }

  /** A reload moved the pool to another socket: from now on it spawns there; the old one is returned, to close once the restart is done. */
  move(name: string, listener: Listener): Listener {
    const old = this.listeners.get(name)!;
    this.listeners.set(name, listener);
    return old;
  }

  /** A reload removed the pool: its workers stop; its socket closes once they are gone (settle). */
  retire(name: string): void {
    const pool = this.live.get(name)!;
    const listener = this.listeners.get(name)!;
    this.live.delete(name);
    this.listeners.delete(name);
    this.retiring.set(name, { pool, listener });
    this.log.info({ pool: name }, `pool ${name}: removed from the config; stopping its workers, then closing ${formatAddress(pool.config.listen)}`);
    pool.stop('its pool was removed from the config');
  }

  isRetiring(name: string): boolean {
    return this.retiring.has(name);
  }

  /** Close the sockets of retired pools whose last worker is gone; returns their names. */
  settleRetired(): string[] {
    const done: string[] = [];
    for (const [name, r] of this.retiring) {
      r.pool.reconcile();
      if (!r.pool.quiescent) continue;
      this.port.sockets.close(r.listener);
      this.retiring.delete(name);
      this.log.info({ pool: name }, `pool ${name}: stopped and its socket closed`);
      done.push(name);
    }
    return done;
  }

  get quiescent(): boolean {
    return this.all().every((p) => p.quiescent);
  }

  /** Everything stopped: every socket closes (and fcgid's own socket files go). */
  closeAll(): void {
    for (const l of this.listeners.values()) this.port.sockets.close(l);
    for (const r of this.retiring.values()) this.port.sockets.close(r.listener);
    this.listeners.clear();
    this.retiring.clear();
  }
}
