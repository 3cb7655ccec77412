// What each scoreboard scan suggests, pool by pool: stop hung workers
// (idle_timeout), recycle workers past max_memory or max_lifetime, grow or
// shrink dynamic pools. Policies only propose; the supervisor's loop decides
// (it leaves a pool's size alone while a restart turns it over) and acts.

import type { PoolConfig } from '../config/types.js';
import { fmtMs, mib } from './format.js';
import { servers, type PoolActivity, type ProcessActivity } from './scoreboard.js';
import type { PoolView, SlotView } from './snapshot.js';

/** The worker a proposal is about, as the scan saw it: the loop acts only if that slot still has that pid. */
export type Target = Pick<SlotView, 'index' | 'role' | 'pid' | 'label'>;

export type Proposal =
  /** The worker holds a request with no progress for idle_timeout. */
  | { kind: 'hung'; slot: Target; detail: string }
  /** One child of a forking worker is hung, or too big: stop that child alone; its master forks another. */
  | { kind: 'stop-child'; slot: Target; pid: number; why: string; reason: 'hung' | 'recycled' }
  /** An idle worker past max_memory or max_lifetime: replace it, its replacement first. */
  | { kind: 'recycle'; slot: Target; why: string }
  /** A dynamic pool's new size, with the log line that says why. */
  | { kind: 'scale'; to: number; message: string; fields: object };

/** Timer jitter tolerated when comparing a worker's silence with idle_timeout. */
export const SCAN_JITTER_MS = 50;

/** The most workers a dynamic pool starts in one scan while demand lasts. */
export const MAX_SPAWN_RATE = 32;

/**
 * Whether a policy could act on this pool after this scan: the scan builds the
 * pool's view only then. idle_timeout alone can only act on a busy worker.
 */
export function mayAct(c: PoolConfig, seen: PoolActivity): boolean {
  if (c.max_memory > 0 || c.max_lifetime > 0 || c.max_workers !== null) return true;
  if (c.idle_timeout <= 0) return false;
  for (const a of seen.workers.values()) if (a.activity === 'busy') return true;
  return false;
}

export class ScanPolicies {
  /** Workers a dynamic pool starts on its next pass while demand lasts (doubles, php-fpm style). */
  private readonly spawnRate = new Map<string, number>();

  propose(pool: PoolView, now: number): Proposal[] {
    const out: Proposal[] = [];
    this.hung(pool, now, out);
    this.recycle(pool, now, out);
    if (pool.config.max_workers !== null && pool.wanted > 0) this.autoscale(pool, now, out);
    return out;
  }

  forget(pool: string): void {
    this.spawnRate.delete(pool);
  }

  private hung(pool: PoolView, now: number, out: Proposal[]): void {
    const limit = pool.config.idle_timeout;
    if (limit <= 0) return;
    // SCAN_JITTER_MS: two scans 1 s apart can read 1999 ms; without it a hung worker waits a whole extra scan.
    const hung = (a: ProcessActivity): boolean => a.activity === 'busy' && !a.eventLoop && now - a.lastProgress >= limit - SCAN_JITTER_MS;
    const detail = (a: ProcessActivity): string => `busy for ${fmtMs(now - a.since)} with no I/O progress for ${fmtMs(now - a.lastProgress)} (idle_timeout ${fmtMs(limit)})`;
    for (const slot of pool.slots) {
      const a = slot.seen;
      // A master reads busy when any of its servers is: a slot that is not busy has no hung process.
      if (!a || slot.pid === null || a.activity !== 'busy') continue;
      for (const p of servers(slot.pid, a).filter(hung)) {
        if (p.pid === slot.pid) out.push({ kind: 'hung', slot, detail: detail(p) });
        else out.push({ kind: 'stop-child', slot, pid: p.pid, why: `is hung: ${detail(p)}`, reason: 'hung' });
      }
    }
  }

  /** max_memory and max_lifetime: an idle worker past a limit is replaced, its replacement first. */
  private recycle(pool: PoolView, now: number, out: Proposal[]): void {
    const { max_memory: maxMemory, max_lifetime: maxLifetime } = pool.config;
    if (maxMemory <= 0 && maxLifetime <= 0) return;
    const bloated = (a: { rss: number | null }): string | null =>
      maxMemory > 0 && a.rss !== null && a.rss > maxMemory ? `uses ${mib(a.rss)} RSS, above max_memory ${mib(maxMemory)}` : null;
    for (const slot of pool.slots) {
      const a = slot.seen;
      if (!a || slot.role !== 'worker' || slot.state !== 'running') continue;
      // A master's children are held to max_memory one by one, like php-fpm's; the master itself is recycled whole.
      for (const p of a.processes ?? []) {
        const why = p.pid === slot.pid || p.activity === 'busy' ? null : bloated(p);
        if (why) out.push({ kind: 'stop-child', slot, pid: p.pid, why, reason: 'recycled' });
      }
      if (a.activity === 'busy' && !a.processes) continue;
      let why = bloated(a);
      // ±10% per worker, so that workers started together do not all recycle together.
      if (!why && maxLifetime > 0 && now - slot.startedAt > maxLifetime * lifetimeJitter(slot.pid!)) why = `is ${fmtMs(now - slot.startedAt)} old, past max_lifetime ${fmtMs(maxLifetime)}`;
      if (why) out.push({ kind: 'recycle', slot, why });
    }
  }

  /**
   * A dynamic pool grows while every worker is busy (or connections queue),
   * doubling the number it starts each pass while the demand lasts (php-fpm's
   * model), and shrinks by one spare worker idle longer than spare_idle_timeout.
   */
  private autoscale(pool: PoolView, now: number, out: Proposal[]): void {
    const cfg = pool.config;
    const live = pool.slots.filter((s) => s.role === 'worker' && s.pid !== null && (s.state === 'running' || s.state === 'starting'));
    // Capacity is counted in serving processes: a master with 4 children is 4.
    const procs = live.flatMap((s) => (s.seen ? servers(s.pid!, s.seen) : []));
    const busy = procs.filter((p) => p.activity === 'busy').length;
    const queue = pool.queue ?? 0;
    const demand = (procs.length > 0 && busy === procs.length) || queue > 0;
    if (demand && pool.wanted < cfg.max_workers!) {
      const rate = this.spawnRate.get(pool.name) ?? 1;
      // Connections already queued need a worker each now, not after several doublings.
      const add = Math.min(Math.max(rate, queue), cfg.max_workers! - pool.wanted);
      this.spawnRate.set(pool.name, Math.min(rate * 2, MAX_SPAWN_RATE));
      out.push({
        kind: 'scale',
        to: pool.wanted + add,
        fields: { pool: pool.name, busy, workers: pool.wanted, adding: add },
        message: `pool ${pool.name}: all ${procs.length} ${procs.length === live.length ? 'workers' : 'serving processes'} busy${queue ? `, ${queue} queued` : ''}; starting ${add} more (max_workers ${cfg.max_workers})`,
      });
      return;
    }
    if (!demand) this.spawnRate.delete(pool.name);
    if (pool.wanted <= cfg.min_workers!) return;
    const last = pool.slots.find((s) => s.role === 'worker' && s.index === pool.wanted - 1);
    const a = last?.seen;
    if (a && a.activity === 'idle' && now - a.since >= cfg.spare_idle_timeout) {
      out.push({
        kind: 'scale',
        to: pool.wanted - 1,
        fields: { pool: pool.name, slot: last!.label },
        message: `pool ${pool.name}: worker ${last!.label} idle for ${fmtMs(now - a.since)} (spare_idle_timeout ${fmtMs(cfg.spare_idle_timeout)}); stopping it, ${pool.wanted - 1} left (min_workers ${cfg.min_workers})`,
      });
    }
  }
}

/** 0.9 to 1.1, fixed per pid. */
function lifetimeJitter(pid: number): number {
  return 0.9 + (((pid * 2654435761) >>> 0) % 1000) / 5000;
}
