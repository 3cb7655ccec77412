// A pool with the fake host: reconcile makes the slots match `wanted` (start,
// scale down from the top, scale up), the pool state follows its slots, workers
// get the environment DESIGN.md §2 promises; and the output helpers that bound
// what a worker's output can cost the daemon.

import { describe, expect, it } from 'vitest';
import type { PoolConfig } from '../../src/config/types.js';
import { LineSplitter, MAX_LINE, Ring } from '../../src/supervisor/output.js';
import { Pool, buildEnv } from '../../src/supervisor/pool.js';
import { FakeHost, RecordingObserver, poolConfig } from '../helpers/fake-host.js';

const BASE_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/bin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  SECRET: 'hunter2',
  LISTEN_FDS: '1',
  LISTEN_PID: '1',
  LISTEN_FDNAMES: 'x',
  NOTIFY_SOCKET: '/run/systemd/notify',
  WATCHDOG_USEC: '1000',
  WATCHDOG_PID: '1',
  FCGID_CONTROL: '/run/fcgid/app.ctl',
};

function setup(overrides: Partial<PoolConfig> = {}, wanted = 3) {
  const host = new FakeHost();
  const obs = new RecordingObserver();
  const config = poolConfig(overrides);
  const pool = new Pool(config, 7, host, obs, { uid: 33, gid: 34 }, BASE_ENV);
  pool.scale(wanted);
  return { host, obs, config, pool };
}

const pids = (pool: Pool): Array<number | null> => pool.slots.map((s) => s.pid);
const states = (pool: Pool): string[] => pool.slots.map((s) => s.state);

describe('Pool.reconcile', () => {
  it('starts `wanted` slots, each with its own FCGID_WORKER', () => {
    const { host, pool, config } = setup({ socket_fd: 0 });
    expect(pool.state).toBe('starting'); // wanted but nothing yet
    pool.reconcile();
    expect(states(pool)).toEqual(['starting', 'starting', 'starting']);
    expect(pids(pool)).toEqual([100, 101, 102]);
    expect(pool.slots.map((s) => s.index)).toEqual([0, 1, 2]);
    expect(host.children.map((c) => c.spec.env.FCGID_WORKER)).toEqual(['0', '1', '2']);
    expect(host.children[0]!.spec).toMatchObject({
      command: config.command,
      cwd: config.cwd,
      uid: 33,
      gid: 34,
      umask: null,
      socketFd: 7,
      targetFd: 0,
    });
    expect(host.children[0]!.spec.env.FCGID_POOL).toBe('app');
    // Reconciling again changes nothing.
    pool.reconcile();
    expect(host.spawnCount).toBe(3);
    expect(pids(pool)).toEqual([100, 101, 102]);
  });

  it('lowering wanted stops the highest slots and removes them once exited; the others keep their pids', () => {
    const { host, pool, config } = setup({}, 4);
    pool.reconcile();
    host.advance(config.start_secs);
    expect(pool.state).toBe('running');

    pool.scale(2);
    expect(states(pool)).toEqual(['running', 'running', 'stopping', 'stopping']);
    expect(pool.slots.map((s) => s.want)).toEqual(['up', 'up', 'down', 'down']);
    expect(host.kills).toEqual([
      { pid: 102, signal: 'SIGTERM' },
      { pid: 103, signal: 'SIGTERM' },
    ]);
    // Still there while their processes live.
    expect(pool.slots).toHaveLength(4);

    host.exit(103, 0);
    pool.reconcile();
    // Slots go from the end only: slot 3 (exited) is removed, slot 2 (still stopping) stays.
    expect(pool.slots.map((s) => s.index)).toEqual([0, 1, 2]);
    host.exit(102, 0);
    pool.reconcile();
    expect(pool.slots.map((s) => s.index)).toEqual([0, 1]);
    expect(pids(pool)).toEqual([100, 101]);
    expect(states(pool)).toEqual(['running', 'running']);
    expect(host.spawnCount).toBe(4);
    expect(pool.state).toBe('running');
  });

  it('a surplus slot that will not stop gets SIGKILL after stop_timeout', () => {
    const { host, pool } = setup({ stop_timeout: 5000 }, 2);
    pool.reconcile();
    pool.scale(1);
    host.advance(5000);
    expect(host.kills).toEqual([
      { pid: 101, signal: 'SIGTERM' },
      { pid: 101, signal: 'SIGKILL' },
    ]);
    expect(pids(pool)).toEqual([100, 101]);
  });

  it('raising wanted adds slots and leaves the running ones alone', () => {
    const { host, pool, config } = setup({}, 1);
    pool.reconcile();
    host.advance(config.start_secs);
    pool.scale(4);
    expect(pids(pool)).toEqual([100, 101, 102, 103]);
    expect(states(pool)).toEqual(['running', 'starting', 'starting', 'starting']);
    expect(host.kills).toEqual([]);
    expect(pool.state).toBe('starting');
    host.advance(config.start_secs);
    expect(pool.state).toBe('running');
  });

  it('raising wanted while surplus slots are stopping replaces them when they exit', () => {
    const { host, pool, config } = setup({}, 3);
    pool.reconcile();
    host.advance(config.start_secs);
    pool.scale(1);
    pool.scale(3);
    // They are stopping already: the signal is not taken back, no second process is started.
    expect(states(pool)).toEqual(['running', 'stopping', 'stopping']);
    expect(host.spawnCount).toBe(3);
    host.exit(101, 0);
    expect(states(pool)).toEqual(['running', 'starting', 'stopping']);
    expect(pids(pool)).toEqual([100, 103, 102]);
  });

  it('wanted 0 stops every slot: stopping, then stopped once all are gone', () => {
    const { host, pool, config } = setup({}, 2);
    pool.reconcile();
    host.advance(config.start_secs);
    pool.stop();
    expect(pool.state).toBe('stopping');
    expect(pool.quiescent).toBe(false);
    host.exit(100, 0);
    expect(pool.state).toBe('stopping');
    host.exit(101, null, 'SIGTERM');
    expect(pool.quiescent).toBe(true);
    expect(pool.state).toBe('stopped');
    pool.reconcile();
    expect(pool.slots).toHaveLength(0);
    expect(host.spawnCount).toBe(2);
  });
});

describe('Pool.state', () => {
  it('is stopped when nothing is wanted and nothing runs', () => {
    const { pool } = setup({}, 0);
    pool.reconcile();
    expect(pool.state).toBe('stopped');
    expect(pool.slots).toHaveLength(0);
  });

  it('is degraded while a slot backs off, running again once it is back', () => {
    const { host, pool, config } = setup({}, 3);
    pool.reconcile();
    host.advance(config.start_secs);
    host.exit(101, 9); // a late crash: respawned at once as pid 103, through start_secs again
    expect(pool.state).toBe('starting');
    host.advance(10);
    host.exit(103, 1); // early: backoff
    expect(states(pool)).toEqual(['running', 'backoff', 'running']);
    expect(pool.state).toBe('degraded');
    expect(states(pool).filter((x) => x === 'backoff')).toHaveLength(1);
    expect(states(pool).filter((x) => x === 'running')).toHaveLength(2);
    host.runNext(); // retry
    expect(pool.state).toBe('starting');
    host.advance(config.start_secs);
    expect(pool.state).toBe('running');
  });

  it('is degraded with some slots fatal, failed when all are', () => {
    const { host, pool } = setup({ start_retries: 1 }, 2);
    pool.reconcile();
    host.exit(100, 1);
    expect(states(pool)).toEqual(['fatal', 'starting']);
    expect(pool.state).toBe('degraded');
    host.exit(101, 1);
    expect(pool.state).toBe('failed');
    // Fatal slots hold no process: stopping the pool is immediate.
    pool.stop();
    expect(pool.state).toBe('stopped');
    expect(pool.slots).toHaveLength(0);
    expect(host.kills).toEqual([]);
  });

  it('a reset of fatal slots lets reconcile start them again', () => {
    const { host, pool } = setup({ start_retries: 1 }, 2);
    pool.reconcile();
    host.exit(100, 1);
    host.exit(101, 1);
    expect(pool.state).toBe('failed');
    pool.reconcile();
    expect(host.spawnCount).toBe(2); // fatal stays fatal until reset
    for (const s of pool.slots) s.handle({ type: 'reset' });
    pool.reconcile();
    expect(states(pool)).toEqual(['starting', 'starting']);
    expect(pids(pool)).toEqual([102, 103]);
    expect(pool.state).toBe('starting');
  });

  it('counts only the wanted slots: a surplus slot still stopping does not hide a running pool', () => {
    const { host, pool, config } = setup({}, 2);
    pool.reconcile();
    host.advance(config.start_secs);
    pool.scale(1);
    expect(states(pool)).toEqual(['running', 'stopping']);
    expect(pool.state).toBe('running');
  });
});

describe('buildEnv', () => {
  it('without clear_env: the daemon environment, minus its systemd and control variables, plus env and FCGID_POOL', () => {
    const env = buildEnv(poolConfig({ env: { APP_ENV: 'prod', LANG: 'de_DE.UTF-8' } }), BASE_ENV);
    expect(env).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/root',
      LANG: 'de_DE.UTF-8',
      SECRET: 'hunter2',
      APP_ENV: 'prod',
      FCGID_POOL: 'app',
    });
  });

  it('with clear_env: only env, pass_env and fcgid variables', () => {
    const env = buildEnv(
      poolConfig({ clear_env: true, pass_env: ['LANG', 'TZ', 'NOTIFY_SOCKET', 'LISTEN_FDS'], env: { APP_ENV: 'prod' } }),
      BASE_ENV,
    );
    // TZ is not set in the daemon: it is left out, not set empty.
    expect(env).toEqual({ LANG: 'C.UTF-8', APP_ENV: 'prod', FCGID_POOL: 'app' });
  });

  it('allowed_clients become FCGI_WEB_SERVER_ADDRS; without them the daemon’s own value is not passed on', () => {
    const cfg = poolConfig({ clear_env: true, allowed_clients: ['127.0.0.1', '::1'] });
    expect(buildEnv(cfg, BASE_ENV)).toEqual({ FCGID_POOL: 'app', FCGI_WEB_SERVER_ADDRS: '127.0.0.1,::1' });
    const inherited = buildEnv(poolConfig(), { ...BASE_ENV, FCGI_WEB_SERVER_ADDRS: '10.0.0.1' });
    expect(inherited).not.toHaveProperty('FCGI_WEB_SERVER_ADDRS');
  });

  it('socket_fd above 2 is named in FCGID_LISTEN_FD; fd 0 sets nothing, even when the daemon has it', () => {
    expect(buildEnv(poolConfig({ clear_env: true, socket_fd: 3 }), BASE_ENV)).toEqual({ FCGID_POOL: 'app', FCGID_LISTEN_FD: '3' });
    expect(buildEnv(poolConfig({ socket_fd: 0 }), BASE_ENV)).not.toHaveProperty('FCGID_LISTEN_FD');
    // fcgid started from a worker of another fcgid must not tell its fd-0 workers to look elsewhere.
    expect(buildEnv(poolConfig({ socket_fd: 0 }), { ...BASE_ENV, FCGID_LISTEN_FD: '3' })).not.toHaveProperty('FCGID_LISTEN_FD');
  });

  it('FCGID_POOL cannot be overridden by env; the pool gives FCGID_WORKER per slot', () => {
    const { host, pool } = setup({ env: { FCGID_POOL: 'other', FCGID_WORKER: '9' } }, 2);
    pool.reconcile();
    expect(host.children.map((c) => [c.spec.env.FCGID_POOL, c.spec.env.FCGID_WORKER])).toEqual([
      ['app', '0'],
      ['app', '1'],
    ]);
  });
});

describe('LineSplitter', () => {
  const collect = (): { lines: string[]; s: LineSplitter } => {
    const lines: string[] = [];
    return { lines, s: new LineSplitter((l) => lines.push(l)) };
  };

  it('splits lines, strips \\r before \\n, keeps empty lines, flushes the rest on end()', () => {
    const { lines, s } = collect();
    s.push('a\nb\r\n\nc');
    expect(lines).toEqual(['a', 'b', '']);
    s.push('d\n');
    expect(lines).toEqual(['a', 'b', '', 'cd']);
    s.push('tail');
    s.end();
    expect(lines).toEqual(['a', 'b', '', 'cd', 'tail']);
    s.end();
    expect(lines).toHaveLength(5);
  });

  it('gives the same lines however the text is cut into chunks', () => {
    const text = 'first line\r\nsecond\n\nthird has a \r inside\nlast';
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        const { lines, s } = collect();
        s.push(text.slice(0, i));
        s.push(text.slice(i, j));
        s.push(text.slice(j));
        s.end();
        expect(lines).toEqual(['first line', 'second', '', 'third has a \r inside', 'last']);
      }
    }
  });

  it('cuts a line longer than MAX_LINE into pieces', () => {
    const { lines, s } = collect();
    s.push('x'.repeat(MAX_LINE * 2 + 5) + '\nnext\n');
    expect(lines.map((l) => l.length)).toEqual([MAX_LINE, MAX_LINE, 5, 4]);
    expect(lines[3]).toBe('next');
  });

  it('never holds more than MAX_LINE of a flood without newlines', () => {
    const { lines, s } = collect();
    let pushed = 0;
    for (let i = 0; i < 100; i++) {
      s.push('y'.repeat(1000));
      pushed += 1000;
      const emitted = lines.reduce((n, l) => n + l.length, 0);
      expect(pushed - emitted).toBeLessThanOrEqual(MAX_LINE);
      expect(lines.every((l) => l.length === MAX_LINE)).toBe(true);
    }
    s.push('z\n');
    s.end();
    const all = lines.join('');
    expect(all).toBe('y'.repeat(100_000) + 'z');
    expect(lines.every((l) => l.length <= MAX_LINE)).toBe(true);
  });

  it('a single huge chunk is cut, not kept', () => {
    const { lines, s } = collect();
    s.push('q'.repeat(MAX_LINE * 10 + 1));
    expect(lines).toHaveLength(10);
    s.end();
    expect(lines).toHaveLength(11);
    expect(lines[10]).toBe('q');
  });
});

describe('Ring', () => {
  it('keeps the last N items, oldest first', () => {
    const r = new Ring<number>(3);
    expect(r.toArray()).toEqual([]);
    for (let i = 1; i <= 5; i++) r.push(i);
    expect(r.toArray()).toEqual([3, 4, 5]);
  });

  it('hands out a copy', () => {
    const r = new Ring<string>(2);
    r.push('a');
    const copy = r.toArray();
    copy.push('mutated');
    expect(r.toArray()).toEqual(['a']);
  });
});
