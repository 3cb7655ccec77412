// GET /metrics: the daemon's state in the Prometheus text exposition format
// (version 0.0.4), from the same scoreboard and slots that status reads, so
// the two never disagree.

import http from 'node:http';
import type { Daemon } from '../supervisor/daemon.js';
import { residentBytes } from '../supervisor/procnet.js';
import { servers } from '../supervisor/scoreboard.js';
import { SLOT_STATES } from '../supervisor/slot.js';

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

export function renderMetrics(daemon: Daemon): string {
  const m = new Exposition();
  const pools = [...daemon.pools.values()];
  m.family('fcgid_up', 'gauge', 'Always 1 while fcgid answers.', [[{}, 1]]);
  m.family('fcgid_start_time_seconds', 'gauge', 'When this fcgid started, in seconds since the epoch.', [[{}, daemon.startedAt / 1000]]);
  m.family(
    'fcgid_workers',
    'gauge',
    'Worker slots by pool and state (starting, running, backoff, stopping, exited, fatal).',
    pools.flatMap((p) => SLOT_STATES.map((state): [Labels, number] => [{ pool: p.name, state }, p.allSlots().filter((s) => s.state === state).length])),
  );
  m.family('fcgid_workers_wanted', 'gauge', 'Workers the pool is meant to have.', pools.map((p) => [{ pool: p.name }, p.wanted]));
  const activity = (p: string, kind: string): number => {
    const seen = daemon.activity.get(p);
    // Serving processes: a forking worker's children, else the worker itself.
    return seen ? [...seen.workers].flatMap(([pid, a]) => servers(pid, a)).filter((a) => a.activity === kind).length : 0;
  };
  m.family('fcgid_workers_busy', 'gauge', 'Worker processes serving a request (a forking worker\'s children each count), seen from /proc at the last scan.', pools.map((p) => [{ pool: p.name }, activity(p.name, 'busy')]));
  m.family(
    'fcgid_workers_idle',
    'gauge',
    'Worker processes not serving a request (waiting in accept, or on a kept connection), at the last scan.',
    pools.map((p) => [{ pool: p.name }, activity(p.name, 'idle') + activity(p.name, 'waiting')]),
  );
  m.family(
    'fcgid_listen_queue',
    'gauge',
    'Connections waiting to be accepted (a TCP LISTEN row\'s rx_queue, or the unaccepted connections of a unix listener in /proc/net/unix).',
    pools.flatMap((p): Array<[Labels, number]> => {
      const q = daemon.activity.get(p.name)?.queue;
      return q === null || q === undefined ? [] : [[{ pool: p.name }, q]];
    }),
  );
  m.family(
    'fcgid_worker_exits_total',
    'counter',
    'Worker exits by pool and reason (crashed, exited, exited early, spawn failed, hung, recycled, stopped by fcgid).',
    pools.flatMap((p) => [...(daemon.exits.get(p.name) ?? new Map<string, number>())].map(([reason, n]): [Labels, number] => [{ pool: p.name, reason }, n])),
  );
  m.family('fcgid_restarts_total', 'counter', 'Workers started again in a slot after an exit.', pools.map((p) => [{ pool: p.name }, daemon.restarts.get(p.name) ?? 0]));
  m.family(
    'fcgid_spawn_failures_total',
    'counter',
    'Workers that could not start or died before start_secs.',
    pools.map((p) => {
      const e = daemon.exits.get(p.name);
      return [{ pool: p.name }, (e?.get('exited early') ?? 0) + (e?.get('spawn failed') ?? 0)];
    }),
  );
  m.family('fcgid_hung_kills_total', 'counter', 'Workers stopped because they held a request with no progress for idle_timeout.', pools.map((p) => [{ pool: p.name }, daemon.hungKills.get(p.name) ?? 0]));
  m.family('fcgid_recycles_total', 'counter', 'Workers replaced for max_memory or max_lifetime.', pools.map((p) => [{ pool: p.name }, daemon.recycles.get(p.name) ?? 0]));
  m.family(
    'fcgid_worker_rss_bytes',
    'gauge',
    'Resident memory of each worker at the last scan.',
    pools.flatMap((p) => {
      const seen = daemon.activity.get(p.name);
      // From the scan when max_memory has it read, else read now (scrapes are rare).
      // Labelled by slot and role, not pid, so a respawn does not start a new series;
      // during a rolling restart a slot has a worker and its replacement.
      const rows = [...p.slots.map((s) => [s, 'worker'] as const), ...[...p.replacements.values()].map((s) => [s, 'replacement'] as const)];
      return rows.flatMap(([s, role]): Array<[Labels, number]> => {
        const rss = s.pid === null ? null : (seen?.workers.get(s.pid)?.rss ?? residentBytes(s.pid));
        return rss === null ? [] : [[{ pool: p.name, slot: String(s.index), role }, rss]];
      });
    }),
  );
  return m.text();
}

/** The optional `metrics.listen` server for scrapers: GET /metrics and nothing else. */
export function metricsServer(daemon: Daemon): http.Server {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE }).end(renderMetrics(daemon));
  });
  server.requestTimeout = 10_000;
  return server;
}
