// GET /metrics: the daemon's state in the Prometheus text exposition format
// (version 0.0.4), from the same snapshot that status reads, so the two never
// disagree.

import http from 'node:http';
import { SLOT_STATES } from '../supervisor/slot.js';
import type { PoolView, Snapshot } from '../supervisor/snapshot.js';

type Labels = Record<string, string>;

function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

class Exposition {
  private readonly out: string[] = [];
  family(name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Labels, number]>): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${escape(v)}"`)
        .join(',');
      this.out.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 'NaN'}`);
    }
  }
  text(): string {
    return this.out.join('\n') + '\n';
  }
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function renderMetrics(snap: Snapshot): string {
  const m = new Exposition();
  const pools = snap.pools;
  const per = (value: (p: PoolView) => number): Array<[Labels, number]> => pools.map((p) => [{ pool: p.name }, value(p)]);
  m.family('fcgid_up', 'gauge', 'Always 1 while fcgid answers.', [[{}, 1]]);
  m.family('fcgid_start_time_seconds', 'gauge', 'When this fcgid started, in seconds since the epoch.', [[{}, snap.startedAt / 1000]]);
  m.family(
    'fcgid_workers',
    'gauge',
    'Worker slots by pool and state (starting, running, backoff, stopping, exited, fatal).',
    pools.flatMap((p) => SLOT_STATES.map((state): [Labels, number] => [{ pool: p.name, state }, p.slots.filter((s) => s.state === state).length])),
  );
  m.family('fcgid_workers_wanted', 'gauge', 'Workers the pool is meant to have.', per((p) => p.wanted));
  m.family('fcgid_workers_busy', 'gauge', "Worker processes serving a request (a forking worker's children each count), seen from /proc at the last scan.", per((p) => p.busy));
  m.family('fcgid_workers_idle', 'gauge', 'Worker processes not serving a request (waiting in accept, or on a kept connection), at the last scan.', per((p) => p.idle));
  m.family(
    'fcgid_listen_queue',
    'gauge',
    "Connections waiting to be accepted (a TCP LISTEN row's rx_queue, or the unaccepted connections of a unix listener in /proc/net/unix).",
    pools.flatMap((p): Array<[Labels, number]> => (p.queue === null ? [] : [[{ pool: p.name }, p.queue]])),
  );
  m.family(
    'fcgid_worker_exits_total',
    'counter',
    'Worker exits by pool and reason (crashed, exited, exited early, spawn failed, hung, recycled, stopped by fcgid).',
    pools.flatMap((p) => Object.entries(p.counters.exits).map(([reason, n]): [Labels, number] => [{ pool: p.name, reason }, n])),
  );
  m.family('fcgid_restarts_total', 'counter', 'Workers started again in a slot after an exit.', per((p) => p.counters.restarts));
  m.family('fcgid_spawn_failures_total', 'counter', 'Workers that could not start or died before start_secs.', per((p) => (p.counters.exits['exited early'] ?? 0) + (p.counters.exits['spawn failed'] ?? 0)));
  m.family('fcgid_hung_kills_total', 'counter', 'Workers stopped because they held a request with no progress for idle_timeout.', per((p) => p.counters.hungKills));
  m.family('fcgid_recycles_total', 'counter', 'Workers replaced for max_memory or max_lifetime.', per((p) => p.counters.recycles));
  m.family(
    'fcgid_worker_rss_bytes',
    'gauge',
    'Resident memory of each worker, as the scoreboard last read it.',
    // Labelled by slot and role, not pid, so a respawn does not start a new series;
    // during a rolling restart a slot has a worker and its replacement.
    pools.flatMap((p) =>
      p.slots.flatMap((s): Array<[Labels, number]> => (s.seen?.rss == null ? [] : [[{ pool: p.name, slot: String(s.index), role: s.role }, s.seen.rss]])),
    ),
  );
  if (snap.log) {
    m.family('fcgid_log_lines_dropped_total', 'counter', "Log lines left out because the log's reader (journald, a pipe, log.file) fell behind, by source (worker output, fcgid's own).", [
      [{ source: 'worker' }, snap.log.workerLines],
      [{ source: 'fcgid' }, snap.log.fcgidLines],
    ]);
    m.family('fcgid_log_write_errors_total', 'counter', 'Writes to the log that failed (EPIPE, ENOSPC, EIO); what they held is lost.', [[{}, snap.log.failedWrites]]);
  }
  return m.text();
}

/** The optional `metrics.listen` server for scrapers: GET /metrics and nothing else. */
export function metricsServer(snapshot: () => Snapshot): http.Server {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE }).end(renderMetrics(snapshot()));
  });
  server.requestTimeout = 10_000;
  return server;
}
