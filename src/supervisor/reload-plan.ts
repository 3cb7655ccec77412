// What a reload must do, worked out from the old and the new config alone
// (pure, so it can be tested without processes): pools to add, to remove, to
// restart (rolling) because their workers would start differently, to move to
// a new socket, and to scale.

import { formatAddress } from '../fastcgi/address.js';
import type { Config, PoolConfig } from '../config/types.js';

export interface ReloadPlan {
  add: PoolConfig[];
  remove: string[];
  /** Same socket, workers start differently: rolling restart with the new config. */
  restart: PoolConfig[];
  /** New listen address (or descriptor number): new socket, then a rolling restart onto it. */
  relisten: PoolConfig[];
  /** Only the worker count changed (possibly along with one of the above). */
  scale: Array<{ pool: string; from: number; to: number }>;
  /** Socket file mode/owner changed: applied in place. */
  permissions: PoolConfig[];
  /** Settings that only take effect when fcgid itself restarts. */
  needsDaemonRestart: string[];
  unchanged: string[];
}

/** Keys that only affect the listening socket, never how a worker starts. */
const SOCKET_KEYS = ['listen', 'socket_fd', 'backlog', 'socket_mode', 'socket_owner', 'socket_group'] as const;
/** Keys read by fcgid about a running worker; a change applies without restarting it. */
const LIVE_KEYS = ['workers', 'min_workers', 'max_workers', 'spare_idle_timeout', 'idle_timeout', 'max_memory', 'max_lifetime', 'watch'] as const;

function workerShape(p: PoolConfig): string {
  const copy: Record<string, unknown> = { ...p };
  for (const k of [...SOCKET_KEYS, ...LIVE_KEYS]) delete copy[k];
  return JSON.stringify(copy);
}

export function planReload(from: Config, to: Config): ReloadPlan {
  const plan: ReloadPlan = { add: [], remove: [], restart: [], relisten: [], scale: [], permissions: [], needsDaemonRestart: [], unchanged: [] };
  const old = new Map(from.pools.map((p) => [p.name, p]));
  const next = new Map(to.pools.map((p) => [p.name, p]));
  for (const name of old.keys()) if (!next.has(name)) plan.remove.push(name);
  for (const [name, p] of next) {
    const before = old.get(name);
    if (!before) {
      plan.add.push(p);
      continue;
    }
    let changed = false;
    if (formatAddress(before.listen) !== formatAddress(p.listen) || before.socket_fd !== p.socket_fd) {
      plan.relisten.push(p);
      changed = true;
    } else if (workerShape(before) !== workerShape(p)) {
      plan.restart.push(p);
      changed = true;
    }
    if (before.workers !== p.workers) {
      plan.scale.push({ pool: name, from: before.workers, to: p.workers });
      changed = true;
    }
    if (before.socket_mode !== p.socket_mode || before.socket_owner !== p.socket_owner || before.socket_group !== p.socket_group) {
      plan.permissions.push(p);
      changed = true;
    }
    if (before.backlog !== p.backlog && !plan.relisten.includes(p)) plan.needsDaemonRestart.push(`pools.${name}.backlog`);
    // Live settings (timeouts, recycling limits) are adopted in place.
    if (!changed) plan.unchanged.push(name);
  }
  if (from.control.socket !== to.control.socket) plan.needsDaemonRestart.push('control.socket');
  if (from.control.mode !== to.control.mode) plan.needsDaemonRestart.push('control.mode');
  if (from.control.group !== to.control.group) plan.needsDaemonRestart.push('control.group');
  if (from.log.file !== to.log.file) plan.needsDaemonRestart.push('log.file');
  const metrics = (c: Config): string | null => (c.metrics.listen === null ? null : formatAddress(c.metrics.listen));
  if (metrics(from) !== metrics(to)) plan.needsDaemonRestart.push('metrics.listen');
  return plan;
}
