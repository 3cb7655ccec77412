// What a reload must do, worked out from the old and the new config alone
// (pure, so it can be tested without processes): pools to add, to remove, to
// restart (rolling) because their workers would start differently, to move to
// a new socket, and to scale; and the one summary of a plan that the log and
// the control API both give.

import { formatAddress } from '../fastcgi/address.js';
import type { Config, PoolConfig } from '../config/types.js';

export interface ReloadPlan {
  add: PoolConfig[];
  remove: string[];
  /** Same socket, workers start differently: rolling restart with the new config. */
  restart: PoolConfig[];
  /**
   * Same socket, but socket_fd moves between 0 (FastCGI programs) and 3 or more
   * (Node workers): every worker stops, then the new ones start. The two kinds
   * need the shared socket in different blocking modes (DESIGN.md §5), so they
   * never serve side by side; connections wait in the backlog meanwhile.
   */
  hardRestart: PoolConfig[];
  /** New listen address: new socket, then a rolling restart onto it, then the old one is closed. */
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
/** Keys about the web server in front (web.mount, …): a change is adopted without touching a worker. */
const FRONT_KEYS = ['web'] as const;

function workerShape(p: PoolConfig): string {
  const copy: Record<string, unknown> = { ...p };
  for (const k of [...SOCKET_KEYS, ...LIVE_KEYS, ...FRONT_KEYS]) delete copy[k];
  return JSON.stringify(copy);
}

export function planReload(from: Config, to: Config): ReloadPlan {
  const plan: ReloadPlan = { add: [], remove: [], restart: [], hardRestart: [], relisten: [], scale: [], permissions: [], needsDaemonRestart: [], unchanged: [] };
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
    if (formatAddress(before.listen) !== formatAddress(p.listen)) {
      plan.relisten.push(p);
      changed = true;
    } else if ((before.socket_fd === 0) !== (p.socket_fd === 0)) {
      plan.hardRestart.push(p);
      changed = true;
    } else if (before.socket_fd !== p.socket_fd || workerShape(before) !== workerShape(p)) {
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

/** What a reload did, by pool name: the log line's fields and the control API's answer (docs/control-api.md). */
export interface ReloadSummary {
  added: string[];
  removed: string[];
  restarted: string[];
  relistened: string[];
  scaled: ReloadPlan['scale'];
  unchanged: string[];
  needs_daemon_restart: string[];
}

export function summarizeReload(plan: ReloadPlan): ReloadSummary {
  const names = (pools: readonly PoolConfig[]): string[] => pools.map((p) => p.name);
  return {
    added: names(plan.add),
    removed: plan.remove,
    restarted: names([...plan.restart, ...plan.hardRestart]),
    relistened: names(plan.relisten),
    scaled: plan.scale,
    unchanged: plan.unchanged,
    needs_daemon_restart: plan.needsDaemonRestart,
  };
}

/** The summary in words, for the log line and `fcgictl reload`: "restarted app; scaled api 2 -> 4; unchanged: web". */
export function reloadText(s: ReloadSummary): string {
  const list = (label: string, names: string[]): string => (names.length ? `${label} ${names.join(', ')}` : '');
  const parts = [
    list('added', s.added),
    list('removed', s.removed),
    list('restarted', s.restarted),
    list('moved to a new socket', s.relistened),
    list('scaled', s.scaled.map((x) => `${x.pool} ${x.from} -> ${x.to}`)),
    list('unchanged:', s.unchanged),
    s.needs_daemon_restart.length ? `${s.needs_daemon_restart.join(', ')} take effect only when fcgid restarts` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'no pools';
}

/** The summary as the log line carries it: scaled pools read "app 2->4". */
export function reloadLogFields(summary: ReloadSummary): Record<string, string[]> {
  return {
    added: summary.added,
    removed: summary.removed,
    restarted: summary.restarted,
    relistened: summary.relistened,
    scaled: summary.scaled.map((s) => `${s.pool} ${s.from}->${s.to}`),
  };
}
