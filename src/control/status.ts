// The status document (wire.ts, schema 1) drawn from the supervisor's snapshot:
// slot states as they are now, activity, RSS and CPU from the last scan.

import { formatAddress } from '../fastcgi/address.js';
import type { Snapshot, SlotView } from '../supervisor/snapshot.js';
import { STATUS_SCHEMA_VERSION, type DaemonStatus, type PoolStatus, type SlotStatus } from './wire.js';

export function buildStatus(snap: Snapshot, version: string, pid: number, only?: string): DaemonStatus {
  const now = snap.at;
  const iso = (t: number): string => new Date(t).toISOString();
  const slotStatus = (slot: SlotView): SlotStatus => {
    const a = slot.seen;
    const out: SlotStatus = {
      slot: slot.index,
      role: slot.role,
      pid: slot.pid,
      state: slot.state,
      since: iso(slot.since),
      uptime_ms: slot.pid === null ? null : now - slot.startedAt,
      restarts: slot.restarts,
      failures: slot.failures,
      last_exit: slot.lastExit && {
        pid: slot.lastExit.pid,
        code: slot.lastExit.code,
        signal: slot.lastExit.signal,
        reason: slot.lastExit.reason,
        uptime_ms: slot.lastExit.uptimeMs,
        at: iso(slot.lastExit.at),
      },
      rss_bytes: a?.rss ?? null,
      cpu_percent: a?.cpuPercent ?? null,
      activity: a?.activity ?? null,
      activity_ms: a ? now - a.since : null,
      progress_ms: a ? now - a.lastProgress : null,
    };
    if (slot.stderrTail) out.stderr_tail = slot.stderrTail;
    if (slot.retryAt !== null) out.retry_in_ms = Math.max(0, slot.retryAt - now);
    if (a?.processes) {
      out.processes = a.processes.map((p) => ({
        pid: p.pid,
        activity: p.activity,
        activity_ms: now - p.since,
        progress_ms: now - p.lastProgress,
        rss_bytes: p.rss,
        cpu_percent: p.cpuPercent,
      }));
    }
    return out;
  };
  const pools: PoolStatus[] = snap.pools
    .filter((p) => only === undefined || p.name === only)
    .map((p) => ({
      name: p.name,
      // For a socket systemd passed, where it really is (systemd:NAME tells nobody where to point nginx).
      listen: formatAddress(p.listen),
      state: p.state,
      workers: { wanted: p.wanted, running: p.running, busy: p.busy, idle: p.idle },
      queue: p.queue,
      // The daemon's own count, which a rolling restart or a scale-down does not reset (as fcgid_restarts_total).
      restarts: p.counters.restarts,
      hung_kills: p.counters.hungKills,
      slots: p.slots.map(slotStatus),
    }));
  return {
    schema: STATUS_SCHEMA_VERSION,
    version,
    pid,
    config: snap.config,
    state: snap.state,
    started_at: iso(snap.startedAt),
    uptime_ms: now - snap.startedAt,
    pools,
    ...(snap.log && {
      log: {
        dropped_worker_lines: snap.log.workerLines,
        dropped_fcgid_lines: snap.log.fcgidLines,
        dropped_bytes: snap.log.bytes,
        failed_writes: snap.log.failedWrites,
        last_error: snap.log.lastError,
      },
    }),
  };
}
