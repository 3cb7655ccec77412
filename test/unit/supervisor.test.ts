// The supervisor's loop on a fake port (test/helpers/fake-host.ts): start-up,
// every change class of a reload, stop, restart and scale, and what happens when
// they overlap. Commands run one at a time; one that arrives meanwhile waits its
// turn, or is refused with a clear message. No real process or socket.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import type { PoolConfig } from '../../src/config/types.js';
import { CommandError } from '../../src/supervisor/errors.js';
import { MAX_WAITING } from '../../src/supervisor/commands.js';
import { config, flush, startedSupervisor } from '../helpers/fake-host.js';

type PoolSpec = Partial<PoolConfig> & { name: string };

const app = (over: Partial<PoolConfig> = {}): PoolSpec => ({ name: 'app', workers: 2, start_secs: 1000, ...over });
const api = (over: Partial<PoolConfig> = {}): PoolSpec => ({ name: 'api', workers: 1, start_secs: 1000, socket_fd: 3, ...over });

/** A supervisor running `pools`, its workers counted as started. */
async function running(pools: PoolSpec[]) {
  const s = await startedSupervisor(config(pools));
  await s.advance(1000);
  /** Let start_secs pass and every signalled worker exit, until the loop has nothing left to do. */
  const settle = async (rounds = 5): Promise<void> => {
    for (let i = 0; i < rounds; i++) {
      await s.exitKilled();
      await s.advance(1000);
    }
  };
  /** A reload of `pools`, settled. */
  const reloadTo = async (next: PoolSpec[]) => {
    s.port.next = config(next);
    const done = s.sup.command({ kind: 'reload' });
    await settle();
    return done;
  };
  return { ...s, settle, reloadTo };
}

/** The error a promise rejects with. */
async function rejection(p: Promise<unknown>): Promise<CommandError> {
  try {
    await p;
  } catch (err) {
    return err as CommandError;
  }
  throw new Error('expected a rejection');
}

describe('start-up', () => {
  it('listens on every pool socket, starts each pool\'s workers on it, and hands the socket over and back', async () => {
    const s = await startedSupervisor(config([app(), api()]));
    expect([...s.port.sockets.listening.keys()].sort()).toEqual(['unix:/run/fcgid/api.sock', 'unix:/run/fcgid/app.sock']);
    expect(s.sup.state).toBe('running');
    expect(s.pids('app')).toEqual([100, 101]);
    expect(s.pids('api')).toEqual([102]);
    const fds = s.host.children.map((c) => [c.spec.socketFd, c.spec.targetFd]);
    expect(fds).toEqual([
      [10, 0],
      [10, 0],
      [11, 3],
    ]);
    // Back from the listen helper: the fd is the pool's again; the first scan comes a second later, as every other.
    expect(s.sup.pools.listener('app')!.fd).toBe(10);
    expect(s.port.observer.probes).toHaveLength(0);
    await s.advance(1000);
    expect(s.port.observer.probes.map((p) => p.map((x) => [x.name, x.pids]))).toEqual([
      [
        ['app', [100, 101]],
        ['api', [102]],
      ],
    ]);
    expect([...s.port.records.live].sort()).toEqual([100, 101, 102]);
  });

  it('a socket that is in use refuses the start, with the message the real one gives', async () => {
    const pending = startedSupervisor(config([app()]), (port) => port.sockets.failures.set('unix:/run/fcgid/app.sock', 'EACCES'));
    await expect(pending).rejects.toThrow(/^cannot listen on unix:\/run\/fcgid\/app\.sock: EACCES$/);
  });
});

describe('reload: each change class of the reload plan', () => {
  it('a new pool: its socket opens and its workers start; the others keep their pids', async () => {
    const s = await running([app()]);
    const before = s.pids('app');
    const result = await s.reloadTo([app(), api()]);
    expect(result).toMatchObject({ added: ['api'], removed: [], restarted: [], relistened: [], unchanged: ['app'] });
    expect(s.port.sockets.listening.has('unix:/run/fcgid/api.sock')).toBe(true);
    expect(s.pool('api').state).toBe('running');
    expect(s.pids('app')).toEqual(before);
  });

  it('a pool gone: its workers stop, then its socket closes', async () => {
    const s = await running([app(), api()]);
    const apiPids = s.pids('api');
    s.port.next = config([app()]);
    const done = s.sup.command({ kind: 'reload' });
    await flush();
    expect(s.host.kills.map((k) => k.pid)).toEqual(apiPids);
    // The socket stays while a worker of the pool still runs.
    expect(s.port.sockets.listening.has('unix:/run/fcgid/api.sock')).toBe(true);
    await s.exitKilled();
    expect(s.port.sockets.listening.has('unix:/run/fcgid/api.sock')).toBe(false);
    expect(await done).toMatchObject({ removed: ['api'], unchanged: ['app'] });
    expect(() => s.sup.checkPool('api')).toThrow(/no pool named "api"; known pools: app/);
  });

  it('env changed: a rolling restart, the new workers with the new env, every old one stopped only after its replacement runs', async () => {
    const s = await running([app()]);
    const old = s.pids('app');
    s.port.next = config([app({ env: { GREETING: 'bonjour' } })]);
    const done = s.sup.command({ kind: 'reload' });
    await flush();
    expect(s.host.kills).toEqual([]);
    const fresh = s.host.children.slice(-2);
    expect(fresh.map((c) => c.spec.env.GREETING)).toEqual(['bonjour', 'bonjour']);
    await s.advance(1000);
    expect(s.host.kills.map((k) => k.pid).sort()).toEqual(old);
    await s.exitKilled();
    expect(await done).toMatchObject({ restarted: ['app'] });
    expect(s.pids('app')).toEqual(fresh.map((c) => c.pid));
  });

  it('regression: a reload whose only change is socket_fd is not refused as "something is listening there already"; the workers restart on the same socket', async () => {
    const s = await running([api()]);
    const fd = s.sup.pools.listener('api')!.fd;
    const result = await s.reloadTo([api({ socket_fd: 4 })]);
    expect(result).toMatchObject({ restarted: ['api'], relistened: [] });
    expect(s.log.said(/something is listening there already/)).toEqual([]);
    const last = s.host.children.at(-1)!;
    expect(last.spec).toMatchObject({ socketFd: fd, targetFd: 4 });
    expect(last.spec.env.FCGID_LISTEN_FD).toBe('4');
    expect(s.pids('api')).toEqual([last.pid]);
    expect(s.port.sockets.closed).toEqual([]);
  });

  it('socket_fd from 3 to 0: every old worker stops before a new one starts, on the same socket', async () => {
    const s = await running([api({ workers: 2 })]);
    const old = s.pids('api');
    s.port.next = config([api({ workers: 2, socket_fd: 0 })]);
    const done = s.sup.command({ kind: 'reload' });
    await flush();
    expect(s.host.kills.map((k) => k.pid).sort()).toEqual(old);
    expect(s.host.spawnCount).toBe(2); // nothing new yet
    await s.exitKilled();
    expect(s.host.children.slice(2).map((c) => c.spec.targetFd)).toEqual([0, 0]);
    await s.advance(1000);
    expect(await done).toMatchObject({ restarted: ['api'] });
    expect(s.port.sockets.closed).toEqual([]);
  });

  it('listen changed: a new socket, a rolling restart onto it, then the old socket closes', async () => {
    const s = await running([app()]);
    s.port.next = config([app({ listen: { kind: 'unix', path: '/run/fcgid/moved.sock' } })]);
    const done = s.sup.command({ kind: 'reload' });
    await flush();
    expect(s.port.sockets.listening.has('unix:/run/fcgid/moved.sock')).toBe(true);
    expect(s.port.sockets.listening.has('unix:/run/fcgid/app.sock')).toBe(true);
    expect(s.host.children.slice(-2).map((c) => c.spec.socketFd)).toEqual([11, 11]);
    await s.advance(1000);
    await s.exitKilled();
    expect(await done).toMatchObject({ relistened: ['app'] });
    expect(s.port.sockets.listening.has('unix:/run/fcgid/app.sock')).toBe(false);
    expect(s.sup.addressOf('app')).toEqual({ kind: 'unix', path: '/run/fcgid/moved.sock' });
  });

  it('workers only: scaled; the running workers keep their pids', async () => {
    const s = await running([app()]);
    const before = s.pids('app');
    const result = await s.reloadTo([app({ workers: 3 })]);
    expect(result).toMatchObject({ scaled: [{ pool: 'app', from: 2, to: 3 }], restarted: [] });
    expect(s.pids('app').slice(0, 2)).toEqual(before);
    expect(s.pids('app')).toHaveLength(3);
  });

  it('socket_mode: applied to the socket in place, nothing restarted', async () => {
    const s = await running([app()]);
    const before = s.pids('app');
    await s.reloadTo([app({ socket_mode: 0o660 })]);
    expect(s.port.sockets.permissions.at(-1)).toEqual({ pool: 'app', mode: 0o660 });
    expect(s.pids('app')).toEqual(before);
  });

  it('backlog on the same address: nothing applied, logged as needing a daemon restart', async () => {
    const s = await running([app()]);
    const result = await s.reloadTo([app({ backlog: 1024 })]);
    expect(result).toMatchObject({ needs_daemon_restart: ['pools.app.backlog'], unchanged: ['app'] });
    expect(s.log.said(/^reload: pools\.app\.backlog take effect only when fcgid restarts$/)).toHaveLength(1);
  });

  it('idle_timeout: taken over live, no worker touched', async () => {
    const s = await running([app()]);
    const spawns = s.host.spawnCount;
    await s.reloadTo([app({ idle_timeout: 30_000 })]);
    expect(s.pool('app').config.idle_timeout).toBe(30_000);
    expect(s.host.spawnCount).toBe(spawns);
  });

  it('an invalid file: refused with every problem (FCGID_RELOAD_FAILED, issues), and nothing changes', async () => {
    const s = await running([app()]);
    const issues = [
      { file: '/etc/fcgid/app.yaml', line: 3, path: 'pools.app.wokers', message: 'unknown key; did you mean "workers"?' },
      { file: '/etc/fcgid/app.yaml', line: 4, path: 'pools.app.start_secs', message: 'expected a duration' },
    ];
    s.port.next = new ConfigError(issues);
    const err = await rejection(s.sup.command({ kind: 'reload' }));
    expect(err.code).toBe('FCGID_RELOAD_FAILED');
    expect(err.issues).toHaveLength(2);
    expect(err.message).toBe('app.yaml:3: pools.app.wokers: unknown key; did you mean "workers"?\napp.yaml:4: pools.app.start_secs: expected a duration');
    expect(s.sup.state).toBe('running');
    expect(s.log.said(/^reload refused; still running the previous config:\n/)).toHaveLength(1);
  });

  it('a user that does not exist, or a socket that cannot be opened: refused, nothing opened or changed', async () => {
    const s = await running([app()]);
    s.port.unknownUsers.add('nobody-here');
    s.port.next = config([app({ user: 'nobody-here' })]);
    expect((await rejection(s.sup.command({ kind: 'reload' }))).message).toBe('pools.app.user: no such user "nobody-here"');
    s.port.sockets.failures.set('unix:/run/fcgid/api.sock', 'EACCES');
    s.port.next = config([app(), api()]);
    const err = await rejection(s.sup.command({ kind: 'reload' }));
    expect(err).toMatchObject({ code: 'FCGID_RELOAD_FAILED', message: 'cannot listen on unix:/run/fcgid/api.sock: EACCES' });
    expect(() => s.sup.checkPool('api')).toThrow(/no pool named "api"/);
    expect(s.pool('app').config.user).toBeNull();
  });
});

describe('restart, scale, stop', () => {
  it('restart resolves with the slots replaced once every replacement counts as started', async () => {
    const s = await running([app()]);
    const done = s.sup.command({ kind: 'restart', pools: [] });
    await s.advance(1000);
    await s.exitKilled();
    expect(await done).toEqual({ results: [{ pool: 'app', replaced: 2, failed: [], kept: [], stderr_tail: [] }] });
  });

  it('scale up and down through the loop; a count that makes no sense is refused at once', async () => {
    const s = await running([app()]);
    expect(await s.sup.command({ kind: 'scale', pool: 'app', workers: 4 })).toEqual({ pool: 'app', workers: 4 });
    expect(s.pids('app')).toHaveLength(4);
    await s.sup.command({ kind: 'scale', pool: 'app', workers: 1 });
    await s.exitKilled();
    expect(s.pids('app')).toEqual([100]);
    const err = await rejection(s.sup.command({ kind: 'scale', pool: 'app', workers: -1 }));
    expect(err).toMatchObject({ code: 'FCGID_BAD_REQUEST', message: 'workers must be an integer from 0 to 10,000, got -1' });
  });

  it('SIGTERM: every worker stops, then the sockets close, the record goes, and `stopped` resolves; a second SIGTERM kills at once', async () => {
    const s = await running([app(), api()]);
    let stopped = false;
    void s.sup.stopped.then(() => (stopped = true));
    s.sup.step({ type: 'signal', signal: 'SIGTERM' });
    expect(s.host.kills.map((k) => k.signal)).toEqual(['SIGTERM', 'SIGTERM', 'SIGTERM']);
    s.sup.step({ type: 'signal', signal: 'SIGTERM' });
    expect(s.host.kills.slice(3).map((k) => k.signal)).toEqual(['SIGKILL', 'SIGKILL', 'SIGKILL']);
    await flush();
    expect(stopped).toBe(false);
    await s.exitKilled();
    expect(stopped).toBe(true);
    expect(s.sup.state).toBe('stopped');
    expect(s.port.sockets.listening.size).toBe(0);
    expect(s.port.records.cleared).toBe(1);
  });
});

describe('commands that overlap', () => {
  it('a restart that arrives during a reload waits for it, then runs; both answer', async () => {
    const s = await running([app()]);
    s.port.next = config([app({ env: { V: '2' } })]);
    const order: string[] = [];
    const reload = s.sup.command({ kind: 'reload' }).then((r) => (order.push('reload'), r));
    await flush();
    const restart = s.sup.command({ kind: 'restart', pools: ['app'] }).then((r) => (order.push('restart'), r));
    expect(s.log.said(/^restart of app waits for the reload in progress$/)).toHaveLength(1);
    // Only the reload's replacements are running; the restart has not begun.
    expect(s.host.spawnCount).toBe(4);
    await s.settle();
    expect(order).toEqual(['reload', 'restart']);
    expect(await restart).toEqual({ results: [{ pool: 'app', replaced: 2, failed: [], kept: [], stderr_tail: [] }] });
    expect(s.host.spawnCount).toBe(6);
    // The restart's workers got the reloaded env.
    expect(s.host.children.slice(-2).map((c) => c.spec.env.V)).toEqual(['2', '2']);
    await reload;
  });

  it('a scale that arrives during a rolling restart is applied once the restart is done', async () => {
    const s = await running([app()]);
    const restart = s.sup.command({ kind: 'restart', pools: [] });
    const scale = s.sup.command({ kind: 'scale', pool: 'app', workers: 1 });
    await flush();
    expect(s.pool('app').wanted).toBe(2);
    await s.settle();
    await restart;
    expect(await scale).toEqual({ pool: 'app', workers: 1 });
    expect(s.pids('app')).toHaveLength(1);
  });

  it('an unknown pool is refused at once, even behind a running command; signal is answered at once too', async () => {
    const s = await running([app()]);
    const restart = s.sup.command({ kind: 'restart', pools: [] });
    const err = await rejection(s.sup.command({ kind: 'stop', pool: 'nope' }));
    expect(err).toMatchObject({ code: 'FCGID_UNKNOWN_POOL', message: 'no pool named "nope"; known pools: app' });
    const signalled = await s.sup.command({ kind: 'signal', pool: 'app', signal: 'SIGHUP' });
    expect(signalled.pids.slice(0, 2)).toEqual([100, 101]);
    await s.settle();
    await restart;
  });

  it(`more than ${MAX_WAITING} commands waiting: the next is refused with FCGID_BUSY`, async () => {
    const s = await running([app()]);
    const restart = s.sup.command({ kind: 'restart', pools: [] });
    const waiting = Array.from({ length: MAX_WAITING }, () => s.sup.command({ kind: 'start', pool: 'app' }));
    const err = await rejection(s.sup.command({ kind: 'start', pool: 'app' }));
    expect(err.code).toBe('FCGID_BUSY');
    expect(err.message).toBe(`${MAX_WAITING} commands are already waiting for the restart in progress; try again once it is done`);
    await s.settle();
    await restart;
    expect(await Promise.all(waiting)).toHaveLength(MAX_WAITING);
  });

  it('SIGTERM during a restart: the restart answers, the commands waiting behind it are refused, new ones too', async () => {
    const s = await running([app()]);
    const restart = s.sup.command({ kind: 'restart', pools: [] });
    const scale = s.sup.command({ kind: 'scale', pool: 'app', workers: 5 });
    await flush();
    s.sup.step({ type: 'signal', signal: 'SIGTERM' });
    expect((await rejection(scale)).code).toBe('FCGID_STOPPING');
    expect((await rejection(s.sup.command({ kind: 'reload' }))).code).toBe('FCGID_STOPPING');
    await s.exitKilled();
    expect((await restart).results[0]!.pool).toBe('app');
    await s.sup.stopped;
    expect(s.host.spawnCount).toBe(4); // the workers and their replacements; nothing more
  });

  it('SIGTERM while a reload waits for the config file: the reload is not applied and its sockets are closed', async () => {
    const s = await running([app()]);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    s.port.readConfig = async () => {
      await gate;
      return config([app(), api()]);
    };
    const reload = s.sup.command({ kind: 'reload' });
    await flush();
    expect(s.sup.state).toBe('reloading');
    s.sup.step({ type: 'signal', signal: 'SIGTERM' });
    release();
    expect((await rejection(reload)).code).toBe('FCGID_STOPPING');
    expect(s.port.sockets.listening.has('unix:/run/fcgid/api.sock')).toBe(false);
    await s.exitKilled();
    await s.sup.stopped;
  });

  it('SIGHUP is a reload through the same queue; a failed one is logged and changes nothing', async () => {
    const s = await running([app()]);
    s.port.next = new ConfigError([{ file: '/etc/fcgid/app.yaml', line: 1, path: '', message: 'YAML: bad' }]);
    s.sup.step({ type: 'signal', signal: 'SIGHUP' });
    await flush();
    expect(s.log.said(/^SIGHUP: reload failed; the previous config stays in force$/)).toHaveLength(1);
    expect(s.sup.state).toBe('running');
  });

  it('a watched file change is a rolling restart through the same queue', async () => {
    const s = await running([app({ watch: ['/srv/app/*.py'] })]);
    expect(s.port.watchers).toHaveLength(1);
    s.port.watchers[0]!.onChange(['/srv/app/views.py']);
    await flush();
    expect(s.log.said(/^pool app: \/srv\/app\/views\.py changed; rolling restart$/)).toHaveLength(1);
    expect(s.host.spawnCount).toBe(4);
    await s.settle();
    expect(s.pids('app')).toEqual([102, 103]);
  });
});

describe('the scan: policies propose, the loop decides', () => {
  it('a dynamic pool does not grow while a restart turns it over; it does once the restart is done', async () => {
    const s = await running([app({ workers: 1, min_workers: 1, max_workers: 4 })]);
    // Every worker busy, and connections queue.
    const busy = (pid: number) => ({ own: { pid, connections: 1, reading: false, eventLoop: false, io: 1, rss: 1, cpuMs: 0 }, servers: null });
    s.port.observer.readings.set('app', { queue: 3, blind: 0, hijackers: [], workers: new Map(s.host.children.map((c) => [c.pid!, busy(c.pid!)])) });
    const restart = s.sup.command({ kind: 'restart', pools: [] });
    await s.advance(500);
    expect(s.pool('app').wanted).toBe(1);
    expect(s.log.said(/starting \d+ more/)).toEqual([]);
    await s.advance(500);
    await s.exitKilled();
    await restart;
    await s.advance(1000);
    expect(s.log.said(/^pool app: all 1 workers busy, 3 queued; starting 3 more \(max_workers 4\)$/)).toHaveLength(1);
    expect(s.pool('app').wanted).toBe(4);
  });

  it('status and metrics read one snapshot: RSS and activity from the last scan, states as they are now', async () => {
    const s = await running([app()]);
    const snap = s.sup.snapshot();
    expect(snap.scannedAt).not.toBeNull();
    const view = snap.pools[0]!;
    expect(view).toMatchObject({ name: 'app', state: 'running', wanted: 2, running: 2, busy: 0, idle: 2, queue: 0 });
    expect(view.slots.map((v) => v.seen?.rss)).toEqual([1 << 20, 1 << 20]);
    // A worker killed since the last scan: its slot already says so; nothing is observed of the new one yet.
    s.host.exit(100, null, 'SIGKILL');
    const now = s.sup.snapshot().pools[0]!;
    expect(now.slots[0]).toMatchObject({ pid: 102, state: 'starting', seen: null });
    expect(now.counters.exits).toEqual({ crashed: 1 });
  });
});

describe('found in review', () => {
  it('regression: a rolling restart with --batch 1 and start_secs 0 never finished (what one reconcile changed was not reconciled again)', async () => {
    const s = await running([app({ workers: 3, start_secs: 0 })]);
    const done = s.sup.command({ kind: 'restart', pools: [], batch: 1 });
    await s.settle();
    expect(await done).toEqual({ results: [{ pool: 'app', replaced: 3, failed: [], kept: [], stderr_tail: [] }] });
    expect(s.pids('app')).toEqual([103, 104, 105]);
  });

  it('regression: a replacement its restart policy lets go at once (restart: on-failure, a clean exit) left the restart, and every command behind it, waiting for ever', async () => {
    const s = await running([app({ workers: 1, restart: 'on-failure' })]);
    const restart = s.sup.command({ kind: 'restart', pools: [] });
    await flush();
    s.host.advance(100);
    s.host.exit(101, 0); // the replacement recycles itself cleanly before taking over
    const scale = s.sup.command({ kind: 'scale', pool: 'app', workers: 1 });
    await s.settle();
    expect(await restart).toEqual({ results: [{ pool: 'app', replaced: 0, failed: [0], kept: [0], stderr_tail: [] }] });
    expect(await scale).toEqual({ pool: 'app', workers: 1 });
    expect(s.pids('app')).toEqual([100]);
  });

  it('a fatal slot is started again by a batched rolling restart', async () => {
    const s = await running([app({ workers: 2, start_retries: 1 })]);
    s.host.exit(101, null, 'SIGKILL'); // late: restarted at once
    await flush();
    s.host.exit(102, 1); // early: with start_retries 1, fatal
    await flush();
    expect(s.pool('app').slots[1]!.state).toBe('fatal');
    const done = s.sup.command({ kind: 'restart', pools: [], batch: 1 });
    await s.settle();
    expect((await done).results[0]!.replaced).toBe(2);
    expect(s.pool('app').slots.map((x) => x.state)).toEqual(['running', 'running']);
  });

  it('regression: a SIGHUP while start-up waited for the sweep left fcgid "running" with no pools; now the reload waits for start-up', async () => {
    const { Supervisor } = await import('../../src/supervisor/supervisor.js');
    const { FakePort, MemoryLog } = await import('../helpers/fake-host.js');
    const port = new FakePort();
    let release!: () => void;
    const swept = new Promise<void>((r) => (release = r));
    port.records.sweep = () => swept;
    port.next = config([app({ env: { V: '2' } })]);
    const sup = new Supervisor(config([app()]), new MemoryLog(), port);
    const starting = sup.start();
    sup.step({ type: 'signal', signal: 'SIGHUP' });
    expect(sup.state).toBe('starting');
    release();
    await starting;
    await flush();
    expect(sup.pools.live.size).toBe(1);
    // The reload ran after start-up: the workers, still within start_secs, restart in place onto the new env.
    for (const k of port.host.kills.splice(0)) port.host.exit(k.pid, null, k.signal);
    await flush();
    expect(port.host.children.slice(2).map((c) => c.spec.env.V)).toEqual(['2', '2']);
    // The reload is done once they count as started.
    expect(sup.state).toBe('reloading');
    port.host.advance(1000);
    await flush();
    expect(sup.state).toBe('running');
  });

  it('regression: a reload during the hand-over left the daemon without its scan', async () => {
    const { Supervisor } = await import('../../src/supervisor/supervisor.js');
    const { FakePort, MemoryLog } = await import('../helpers/fake-host.js');
    const port = new FakePort();
    port.next = config([app()]);
    const sup = new Supervisor(config([app()]), new MemoryLog(), port);
    sup.hooks.launched = () => void sup.command({ kind: 'reload' });
    await sup.start();
    await flush();
    port.host.advance(1000);
    await flush();
    expect(sup.state).toBe('running');
    expect(port.observer.probes).toHaveLength(1);
  });

  it("a pool removed by one reload and added back by the next keeps the new pool's counters when the old one's last worker goes", async () => {
    const s = await running([app(), api()]);
    s.host.exit(102, null, 'SIGKILL'); // api: one crash, counted
    await flush();
    s.port.next = config([app()]);
    const removed = s.sup.command({ kind: 'reload' });
    await flush();
    s.port.next = config([app(), api({ listen: { kind: 'unix', path: '/run/fcgid/api2.sock' } })]);
    await removed;
    const added = s.sup.command({ kind: 'reload' });
    await flush();
    s.host.exit(s.pids('api')[0]!, null, 'SIGKILL'); // the new api: a crash of its own
    await s.exitKilled(); // the old api's worker goes
    await added;
    expect(s.sup.snapshot().pools.find((p) => p.name === 'api')!.counters.exits.crashed).toBeGreaterThanOrEqual(1);
  });

  it('an exited worker is forgotten by the scoreboard and the /proc observer (its pid may be reused)', async () => {
    const s = await running([app()]);
    s.host.exit(100, null, 'SIGKILL');
    await flush();
    expect(s.port.observer.forgotten).toEqual([100]);
  });
});
