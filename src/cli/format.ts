// How fcgictl prints status: a line per pool and a line per worker, aligned in
// columns like `supervisorctl status` or `pm2 list`, with colour only on a TTY.

import type { DaemonStatus, SlotStatus } from '../control/wire.js';

const COLORS: Record<string, string> = {
  running: '\x1b[32m',
  starting: '\x1b[33m',
  backoff: '\x1b[33m',
  stopping: '\x1b[33m',
  reloading: '\x1b[33m',
  degraded: '\x1b[33m',
  fatal: '\x1b[31m',
  failed: '\x1b[31m',
  exited: '\x1b[2m',
  stopped: '\x1b[2m',
};

export function duration(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

function bytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024 * 1024) return `${Math.round(n / 1024)}K`;
  return `${(n / 1024 / 1024).toFixed(1)}M`;
}

function lastExit(s: SlotStatus): string {
  const e = s.last_exit;
  if (!e) return '-';
  return `${e.signal ?? `status ${e.code}`} (${e.reason}) after ${duration(e.uptime_ms)}`;
}

/** Columns padded to the widest cell; `paint` colours a cell without changing its width. */
function table(rows: string[][], paint: (row: number, col: number, cell: string) => string): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r, ri) =>
      r
        .map((c, ci) => (ci === r.length - 1 ? paint(ri, ci, c) : paint(ri, ci, c) + ' '.repeat(widths[ci]! - c.length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function renderStatus(status: DaemonStatus, color: boolean): string {
  const out: string[] = [`fcgid ${status.version}  pid ${status.pid}  ${status.state}  up ${duration(status.uptime_ms)}  ${status.config}`];
  for (const p of status.pools) {
    out.push('');
    const head = [
      p.name,
      p.listen,
      p.state,
      `${p.workers.running}/${p.workers.wanted} up`,
      `${p.workers.busy} busy`,
      `${p.workers.idle} idle`,
      ...(p.queue === null ? [] : [`queue ${p.queue}`]),
      `${p.restarts} restarts`,
      ...(p.hung_kills ? [`${p.hung_kills} hung killed`] : []),
    ];
    const rows: string[][] = [['  SLOT', 'PID', 'STATE', 'ACTIVITY', 'UPTIME', 'RESTARTS', 'RSS', 'CPU%', 'LAST EXIT']];
    for (const s of p.slots) {
      rows.push([
        `  ${p.name}/${s.slot}${s.role === 'replacement' ? '+' : ''}`,
        s.pid === null ? '-' : String(s.pid),
        s.state,
        s.activity === null ? '-' : s.processes ? `master, ${s.processes.filter((c) => c.activity === 'busy').length}/${s.processes.length} busy` : `${s.activity} ${duration(s.activity_ms)}`,
        duration(s.uptime_ms),
        String(s.restarts),
        bytes(s.rss_bytes),
        s.cpu_percent === null ? '-' : s.cpu_percent.toFixed(1),
        lastExit(s),
      ]);
      // A forking worker's children, each on its own line, as php-fpm's full status lists them.
      for (const c of s.processes ?? []) {
        rows.push(['    child', String(c.pid), '', `${c.activity} ${duration(c.activity_ms)}`, '', '', bytes(c.rss_bytes), c.cpu_percent === null ? '-' : c.cpu_percent.toFixed(1), '']);
      }
    }
    const paint = (state: string, cell: string): string => (color && COLORS[state] ? `${COLORS[state]}${cell}\x1b[0m` : cell);
    out.push(head.map((c, i) => (i === 2 ? paint(p.state, c) : c)).join('  '));
    out.push(table(rows, (ri, ci, cell) => (ri > 0 && ci === 2 ? paint(cell, cell) : cell)));
    for (const s of p.slots) {
      if (s.state === 'fatal' && s.stderr_tail && s.stderr_tail.length > 0) {
        out.push(`  ${p.name}/${s.slot} is fatal after ${s.failures} failed starts; last stderr lines:`);
        for (const line of s.stderr_tail.slice(-10)) out.push(`    | ${line}`);
        const retry = s.retry_in_ms === undefined ? '' : `; fcgid tries again in ${duration(s.retry_in_ms)}`;
        out.push(`    (fix the cause, then: fcgictl restart ${p.name}${retry})`);
      }
    }
  }
  return out.join('\n');
}
