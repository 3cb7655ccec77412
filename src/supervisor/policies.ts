// What the daemon does with each scoreboard scan, pool by pool: stop hung
// workers (idle_timeout), recycle workers past max_memory or max_lifetime, and
// grow or shrink dynamic pools. The counters feed status and metrics.

import type { Pool } from './pool.js';
import { servers, type PoolActivity, type ProcessActivity } from './scoreboard.js';
import { fmtMs } from './slot.js';

export interface PolicyLog {
  info(fields: object, message: string): void;
}

/** Timer jitter tolerated when comparing a worker's silence with idle_timeout. */
export const SCAN_JITTER_MS = 50;

export class ScanPolicies {
  /** Workers stopped as hung, and recycled for a limit, by pool. */
  readonly hungKills = new Map<string, number>();
  readonly recycles = new Map<string, number>();
  /** Workers a dynamic pool starts on its next pass while demand lasts (doubles, php-fpm style). */
  private readonly spawnRate = new Map<string, number>();

  constructor(private readonly log: PolicyLog) {}

  apply(pool: Pool, seen: PoolActivity, now: number): void {
    this.stopHung(pool, seen, now);
    this.recycle(pool, seen, now);
    if (pool.config.max_workers !== null && pool.wanted > 0) this.autoscale(pool, seen, now);
  }

  private stopHung(pool: Pool, seen: PoolActivity, now: number): void {
    const limit = pool.config.idle_timeout;
    if (limit <= 0) return;
    // SCAN_JITTER_MS: two scans 1 s apart can read 1999 ms; without it a hung worker waits a whole extra scan.
    const hung = (a: ProcessActivity): boolean => a.activity === 'busy' && !a.eventLoop && now - a.lastProgress >= limit - SCAN_JITTER_MS;
    const detail = (a: ProcessActivity): string => `busy for ${fmtMs(now - a.since)} with no I/O progress for ${fmtMs(now - a.lastProgress)} (idle_timeout ${fmtMs(limit)})`;
    for (const slot of pool.allSlots()) {
      const a = slot.pid === null ? undefined : seen.workers.get(slot.pid);
      if (!a) continue;
      for (const p of servers(slot.pid!, a).filter(hung)) {
        // A master's child is stopped alone; its master forks another.
        const stopped = p.pid === slot.pid ? (slot.stopHung(detail(p)), true) : pool.stopChild(slot, p.pid, `is hung: ${detail(p)}`, 'warn');
        if (stopped) this.count(this.hungKills, pool.name);
      }
    }
  }

  /** max_memory and max_lifetime: an idle worker past a limit is replaced, its replacement first. */
  private recycle(pool: Pool, seen: PoolActivity, now: number): void {
    const { max_memory: maxMemory, max_lifetime: maxLifetime } = pool.config;
    if (maxMemory <= 0 && maxLifetime <= 0) return;
    const bloated = (a: { rss: number | null }): string | null =>
      maxMemory > 0 && a.rss !== null && a.rss > maxMemory ? `uses ${mib(a.rss)} RSS, above max_memory ${mib(maxMemory)}` : null;
    for (const slot of pool.slots) {
      const a = slot.pid === null ? undefined : seen.workers.get(slot.pid);
      if (!a || slot.state !== 'running') continue;
      // A master's children are held to max_memory one by one, like php-fpm's; the master itself is recycled whole.
      for (const p of a.processes ?? []) {
        const why = p.pid === slot.pid || p.activity === 'busy' ? null : bloated(p);
        if (why && pool.stopChild(slot, p.pid, why, 'info')) this.count(this.recycles, pool.name);
      }
      if (a.activity === 'busy' && !a.processes) continue;
      let why = bloated(a);
      // ±10% per worker, so that workers started together do not all recycle together.
      if (!why && maxLifetime > 0 && now - slot.startedAt > maxLifetime * lifetimeJitter(slot.pid!)) why = `is ${fmtMs(now - slot.startedAt)} old, past max_lifetime ${fmtMs(maxLifetime)}`;
      if (why && pool.recycle(slot, why)) this.count(this.recycles, pool.name);
    }
  }

  /**
   * A dynamic pool grows while every worker is busy (or connections queue),
   * doubling the number it starts each pass while the demand lasts (php-fpm's
   * model), and shrinks by one spare worker idle longer than spare_idle_timeout.
   */
  private autoscale(pool: Pool, seen: PoolActivity, now: number): void {
    const cfg = pool.config;
    const live = pool.slots.filter((s) => s.pid !== null && (s.state === 'running' || s.state === 'starting'));
    // Capacity is counted in serving processes: a master with 4 children is 4.
    const procs = live.flatMap((s) => {
      const a = seen.workers.get(s.pid!);
      return a ? servers(s.pid!, a) : [];
    });
    const busy = procs.filter((p) => p.activity === 'busy').length;
    const demand = (procs.length > 0 && busy === procs.length) || (seen.queue ?? 0) > 0;
    if (demand && pool.wanted < cfg.max_workers!) {
      const rate = this.spawnRate.get(pool.name) ?? 1;
      // Connections already queued need a worker each now, not after several doublings.
      const add = Math.min(Math.max(rate, seen.queue ?? 0), cfg.max_workers! - pool.wanted);
      this.log.info({ pool: pool.name, busy, workers: pool.wanted, adding: add }, `pool ${pool.name}: all ${procs.length} ${procs.length === live.length ? 'workers' : 'serving processes'} busy${seen.queue ? `, ${seen.queue} queued` : ''}; starting ${add} more (max_workers ${cfg.max_workers})`);
      this.spawnRate.set(pool.name, Math.min(rate * 2, 32));
      pool.scale(pool.wanted + add);
      return;
    }
    if (!demand) this.spawnRate.delete(pool.name);
    if (pool.wanted <= cfg.min_workers!) return;
    const last = pool.slots[pool.wanted - 1];
    const a = last?.pid == null ? undefined : seen.workers.get(last.pid);
    if (a && a.activity === 'idle' && now - a.since >= cfg.spare_idle_timeout) {
      this.log.info({ pool: pool.name, slot: last!.label }, `pool ${pool.name}: worker ${last!.label} idle for ${fmtMs(now - a.since)} (spare_idle_timeout ${fmtMs(cfg.spare_idle_timeout)}); stopping it, ${pool.wanted - 1} left (min_workers ${cfg.min_workers})`);
      pool.scale(pool.wanted - 1);
    }
  }

  private count(map: Map<string, number>, pool: string): void {
    map.set(pool, (map.get(pool) ?? 0) + 1);
  }
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)}M`;
}

/** 0.9 to 1.1, fixed per pid. */
function lifetimeJitter(pid: number): number {
  return 0.9 + (((pid * 2654435761) >>> 0) % 1000) / 5000;
}
