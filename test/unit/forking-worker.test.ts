// A worker that forks its own servers (php-cgi with PHP_FCGI_CHILDREN): the
// scan policies act on its children one by one through Pool.stopChild, with a
// fake clock and fake processes. A hung or bloated child gets stop_signal, and
// SIGKILL after stop_timeout only if that same process (pid and start time)
// still runs; a scan while it stops does not stop or count it again; the
// master is left alone.

import { describe, expect, it } from 'vitest';
import { ScanPolicies } from '../../src/supervisor/policies.js';
import type { PoolActivity, ProcessActivity } from '../../src/supervisor/scoreboard.js';
import { reconcilingPool } from '../helpers/fake-host.js';

const CHILDREN = [501, 502, 503];

function setup(limits: { idle_timeout?: number; max_memory?: number }) {
  const p = reconcilingPool(1, 300);
  p.pool.config = { ...p.pool.config, idle_timeout: 0, max_memory: 0, stop_timeout: 1000, ...limits };
  for (const c of CHILDREN) p.host.started.set(c, `start-${c}`);
  const policies = new ScanPolicies({ info: () => {} });
  const master = p.pool.slots[0]!.pid!;
  /** One scan's view: the master with its children, each idle unless `child` says otherwise. */
  const scan = (now: number, child: Record<number, Partial<ProcessActivity>> = {}): PoolActivity => {
    const processes: ProcessActivity[] = CHILDREN.map((pid) => ({
      pid,
      activity: 'idle',
      since: 0,
      lastProgress: 0,
      eventLoop: false,
      connections: 0,
      rss: 10 << 20,
      ...child[pid],
    }));
    const busy = processes.some((c) => c.activity === 'busy');
    const own = { activity: busy ? ('busy' as const) : ('idle' as const), since: 0, lastProgress: 0, eventLoop: false, connections: 0, rss: 5 << 20 };
    return { queue: 0, blind: 0, workers: new Map([[master, { ...own, processes }]]) };
  };
  return { ...p, policies, master, scan };
}

describe('a forking worker under the scan policies', () => {
  it('a hung child gets stop_signal alone (the master is not signalled), is counted once across scans, and is SIGKILLed after stop_timeout while it still runs', () => {
    const { host, obs, pool, policies, master, scan } = setup({ idle_timeout: 2000 });
    const hung = { 502: { activity: 'busy' as const, since: host.now(), lastProgress: host.now(), connections: 1 } };
    host.advance(2000);
    policies.apply(pool, scan(host.now(), hung), host.now());
    expect(host.processKills).toEqual([{ pid: 502, signal: 'SIGTERM' }]);
    expect(host.kills).toEqual([]);
    const line = obs.logs.find((l) => l.fields.child === 502)!;
    expect(line.level).toBe('warn');
    expect(line.fields).toMatchObject({ slot: 'app/0', pid: master, reason: 'hung' });
    expect(line.message).toMatch(/^worker app\/0 pid \d+: its child pid 502 is hung: busy for 2.0s with no I\/O progress for 2.0s \(idle_timeout 2.0s\); stopping that child with SIGTERM \(SIGKILL after 1.0s\); its master starts another$/);

    // The next scan still sees it busy: not stopped, logged or counted again.
    host.advance(500);
    policies.apply(pool, scan(host.now(), hung), host.now());
    expect(host.processKills).toHaveLength(1);
    expect(policies.hungKills.get('app')).toBe(1);

    host.advance(500);
    expect(host.processKills).toEqual([
      { pid: 502, signal: 'SIGTERM' },
      { pid: 502, signal: 'SIGKILL' },
    ]);
    expect(obs.logs.some((l) => /child pid 502 still alive 1.0s after SIGTERM; sending SIGKILL/.test(l.message))).toBe(true);
    expect(pool.slots[0]!.pid).toBe(master);
    expect(host.kills).toEqual([]);
  });

  it('no SIGKILL for a child that exited in time, nor for a new process that took its pid', () => {
    const { host, pool, policies, scan } = setup({ idle_timeout: 2000 });
    const t0 = host.now();
    const hung = (pid: number) => ({ [pid]: { activity: 'busy' as const, since: t0, lastProgress: t0, connections: 1 } });
    host.advance(2000);
    policies.apply(pool, scan(host.now(), { ...hung(501), ...hung(503) }), host.now());
    expect(host.processKills.map((k) => k.pid)).toEqual([501, 503]);
    host.started.delete(501); // exited on SIGTERM
    host.started.set(503, 'a later start'); // exited, and its pid went to a new process
    host.advance(1000);
    expect(host.processKills.map((k) => k.signal)).toEqual(['SIGTERM', 'SIGTERM']);
  });

  it('max_memory holds each idle child to the limit (logged as recycled), never a busy one, and not the master for its children\'s memory', () => {
    const { host, obs, pool, policies, master, scan } = setup({ max_memory: 64 << 20 });
    const big = { rss: 100 << 20 };
    policies.apply(pool, scan(host.now(), { 501: big, 502: { ...big, activity: 'busy', connections: 1 } }), host.now());
    expect(host.processKills).toEqual([{ pid: 501, signal: 'SIGTERM' }]);
    const line = obs.logs.find((l) => l.fields.child === 501)!;
    expect(line.level).toBe('info');
    expect(line.fields.reason).toBe('recycled');
    expect(line.message).toMatch(/its child pid 501 uses 100M RSS, above max_memory 64M; stopping that child/);
    expect(policies.recycles.get('app')).toBe(1);
    expect(host.spawnCount).toBe(1);
    expect(pool.slots[0]!.pid).toBe(master);
  });

  it('a worker that dies leaving processes in its group (a SIGKILLed master\'s children): they get stop_signal, then SIGKILL after stop_timeout unless a new process holds the old pid; an empty group gets nothing', () => {
    const { host, obs, pool, master } = setup({});
    host.stragglers.add(master);
    host.exit(master, null, 'SIGKILL');
    expect(host.groupSignals).toEqual([{ pgid: master, signal: 'SIGTERM' }]);
    const line = obs.logs.find((l) => l.fields.pgid === master)!;
    expect(line.level).toBe('warn');
    expect(line.message).toBe(`worker app/0: processes of its process group ${master} outlived it; sending them SIGTERM (SIGKILL after 10.0s)`);
    // The slot's worker was started under the default stop_timeout (10 s).
    host.advance(10_000);
    expect(host.groupSignals).toEqual([
      { pgid: master, signal: 'SIGTERM' },
      { pgid: master, signal: 'SIGKILL' },
    ]);

    // The replacement dies too, alone: nothing to signal.
    const next = pool.slots[0]!.pid!;
    expect(next).not.toBe(master);
    host.exit(next, 1, null);
    expect(host.groupSignals).toHaveLength(2);

    // A group whose old pid went to a new process by the time SIGKILL is due is spared.
    const third = pool.slots[0]!.pid ?? (host.advance(5000), pool.slots[0]!.pid!);
    host.stragglers.add(third);
    host.exit(third, null, 'SIGKILL');
    host.started.set(third, 'a new process');
    host.advance(10_000);
    expect(host.groupSignals.filter((g) => g.pgid === third)).toEqual([{ pgid: third, signal: 'SIGTERM' }]);
  });
});
