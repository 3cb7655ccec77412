// A worker that forks its own servers (php-cgi with PHP_FCGI_CHILDREN): the
// supervisor acts on its children one by one, through a fake /proc that shows
// the master and its children. A hung or bloated child gets stop_signal, and
// SIGKILL after stop_timeout only if that same process (pid and start time)
// still runs; a scan while it stops does not stop or count it again; the
// master is left alone.

import { describe, expect, it } from 'vitest';
import type { ProcessReading } from '../../src/supervisor/port.js';
import { config, startedSupervisor } from '../helpers/fake-host.js';

const CHILDREN = [501, 502, 503];

async function setup(limits: { idle_timeout?: number; max_memory?: number }) {
  const s = await startedSupervisor(config([{ name: 'app', workers: 1, start_secs: 300, stop_timeout: 1000, ...limits }]));
  for (const c of CHILDREN) s.host.started.set(c, `start-${c}`);
  const master = s.pids('app')[0]!;
  /** What /proc shows from now on: the master with its children, each idle unless `child` says otherwise. */
  const show = (child: Record<number, Partial<ProcessReading>> = {}): void => {
    const reading = (pid: number, over: Partial<ProcessReading> = {}): ProcessReading => ({ pid, connections: 0, reading: false, eventLoop: false, io: null, rss: 10 << 20, cpuMs: 0, ...over });
    s.port.observer.readings.set('app', { queue: 0, blind: 0, hijackers: [], workers: new Map([[master, { own: reading(master, { rss: 5 << 20 }), servers: CHILDREN.map((pid) => reading(pid, child[pid])) }]]) });
  };
  const counters = () => s.sup.snapshot().pools[0]!.counters;
  return { ...s, master, show, counters };
}

const logLine = (entries: Array<{ fields: Record<string, unknown> }>, child: number) => entries.find((l) => l.fields.child === child) as { level: string; fields: Record<string, unknown>; message: string };

describe('a forking worker under the scan policies', () => {
  it('a hung child gets stop_signal alone (the master is not signalled), is counted once across scans, and is SIGKILLed after stop_timeout while it still runs', async () => {
    const { host, log, pool, master, show, advance, counters } = await setup({ idle_timeout: 2000 });
    show({ 502: { connections: 1, io: 7 } });
    await advance(1000); // the first scan that sees it busy
    await advance(2000);
    expect(host.processKills).toEqual([{ pid: 502, signal: 'SIGTERM' }]);
    expect(host.kills).toEqual([]);
    const line = logLine(log.entries, 502);
    expect(line.level).toBe('warn');
    expect(line.fields).toMatchObject({ slot: 'app/0', pid: master, reason: 'hung' });
    expect(line.message).toMatch(/^worker app\/0 pid \d+: its child pid 502 is hung: busy for 2.0s with no I\/O progress for 2.0s \(idle_timeout 2.0s\); stopping that child with SIGTERM \(SIGKILL after 1.0s\); its master starts another$/);

    // The next scan still sees it busy: not stopped, logged or counted again.
    await advance(500);
    expect(host.processKills).toHaveLength(1);
    expect(counters().hungKills).toBe(1);

    await advance(500);
    expect(host.processKills).toEqual([
      { pid: 502, signal: 'SIGTERM' },
      { pid: 502, signal: 'SIGKILL' },
    ]);
    expect(log.said(/child pid 502 still alive 1.0s after SIGTERM; sending SIGKILL/)).toHaveLength(1);
    expect(pool('app').slots[0]!.pid).toBe(master);
    expect(host.kills).toEqual([]);
  });

  it('no SIGKILL for a child that exited in time, nor for a new process that took its pid', async () => {
    const { host, show, advance } = await setup({ idle_timeout: 2000 });
    show({ 501: { connections: 1, io: 1 }, 503: { connections: 1, io: 1 } });
    await advance(1000);
    await advance(2000);
    expect(host.processKills.map((k) => k.pid)).toEqual([501, 503]);
    host.started.delete(501); // exited on SIGTERM
    host.started.set(503, 'a later start'); // exited, and its pid went to a new process
    show();
    await advance(1000);
    expect(host.processKills.map((k) => k.signal)).toEqual(['SIGTERM', 'SIGTERM']);
  });

  it("max_memory holds each idle child to the limit (logged as recycled), never a busy one, and not the master for its children's memory", async () => {
    const { host, log, pool, master, show, advance, counters } = await setup({ max_memory: 64 << 20 });
    show({ 501: { rss: 100 << 20 }, 502: { rss: 100 << 20, connections: 1, io: 1 } });
    await advance(1000);
    expect(host.processKills).toEqual([{ pid: 501, signal: 'SIGTERM' }]);
    const line = logLine(log.entries, 501);
    expect(line.level).toBe('info');
    expect(line.fields.reason).toBe('recycled');
    expect(line.message).toMatch(/its child pid 501 uses 100M RSS, above max_memory 64M; stopping that child/);
    expect(counters().recycles).toBe(1);
    expect(host.spawnCount).toBe(1);
    expect(pool('app').slots[0]!.pid).toBe(master);
  });

  it("a worker that dies leaving processes in its group (a SIGKILLed master's children): they get stop_signal, then SIGKILL after stop_timeout unless a new process holds the old pid; an empty group gets nothing", async () => {
    const { host, log, pool, master, advance } = await setup({});
    host.stragglers.add(master);
    host.exit(master, null, 'SIGKILL');
    expect(host.groupSignals).toEqual([{ pgid: master, signal: 'SIGTERM' }]);
    const line = log.entries.find((l) => l.fields.pgid === master)!;
    expect(line.level).toBe('warn');
    expect(line.message).toBe(`worker app/0: processes of its process group ${master} outlived it; sending them SIGTERM (SIGKILL after 1.0s)`);
    await advance(1000);
    expect(host.groupSignals).toEqual([
      { pgid: master, signal: 'SIGTERM' },
      { pgid: master, signal: 'SIGKILL' },
    ]);

    // The replacement dies too, alone: nothing to signal.
    const next = pool('app').slots[0]!.pid!;
    expect(next).not.toBe(master);
    host.exit(next, 1, null);
    expect(host.groupSignals).toHaveLength(2);

    // A group whose old pid went to a new process by the time SIGKILL is due is spared.
    await advance(5000);
    const third = pool('app').slots[0]!.pid!;
    host.stragglers.add(third);
    host.exit(third, null, 'SIGKILL');
    host.started.set(third, 'a new process');
    await advance(1000);
    expect(host.groupSignals.filter((g) => g.pgid === third)).toEqual([{ pgid: third, signal: 'SIGTERM' }]);
  });
});
