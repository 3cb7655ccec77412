// Flask under flup's threaded server (the Flask guide's deployment) and
// idle_timeout: flup reads each connection in a thread of its pool, not the
// main one, so "waiting for the web server" must be seen in any thread. A
// client that connected and sent nothing, and nginx's kept connection, are
// waiting, never hung; a handler that sleeps is hung, stopped and replaced.

import { closeSync, constants, openSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcgictl, poolWhen } from '../helpers/control.js';
import { Fcgid, flupPool, tearDown, writeConfig } from '../helpers/daemon.js';
import { nginxGet, startNginx } from '../helpers/nginx.js';
import { Processes, Scratch, missingFlup, missingPeers, run } from '../helpers/peers.js';

const missing = missingPeers('nginx') ?? missingFlup();

describe.skipIf(missing)('flup threaded and idle_timeout', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  let port: number;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-flup-');
    ctl = scratch.path('flup.ctl');
    const pool = flupPool(`unix:${scratch.path('app.sock')}`, { workers: 1, idle_timeout: '2s', stop_timeout: '1s' });
    d = new Fcgid(processes, writeConfig(scratch, 'flup', { pools: { app: pool } }));
    await d.waitForRunning('app', 1, 30_000);
    ({ port } = await startNginx(processes, scratch, [{ prefix: '/', upstream: 'app', keepConn: true, params: { SCRIPT_NAME: '""', PATH_INFO: '$uri' } }], { upstreams: [{ name: 'app', server: `unix:${scratch.path('app.sock')}`, keepalive: 4 }] }));
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  const hung = (from: number): boolean => d.lines.slice(from).some((l) => /is hung/.test(l.msg));

  it('regression: a client that connected and sent nothing got the worker killed as hung; now it is waiting, past idle_timeout', async () => {
    const m = d.mark();
    const [pid] = d.runningPids('app');
    const stray = net.connect(scratch.path('app.sock'));
    try {
      const p = await poolWhen(ctl, 'app', 'waiting for 3 s', (s) => s.slots[0]?.activity === 'waiting' && (s.slots[0].activity_ms ?? 0) >= 3000, 15_000);
      expect(p.slots[0]!.pid).toBe(pid);
      expect(hung(m)).toBe(false);
    } finally {
      stray.destroy();
    }
  });

  it('regression: nginx\'s kept connection (fastcgi_keep_conn, upstream keepalive) got the worker killed idle_timeout after its last request; now it is waiting', async () => {
    const m = d.mark();
    const [pid] = d.runningPids('app');
    const r = await nginxGet(port, '/hello');
    expect(r.status).toBe(200);
    const p = await poolWhen(ctl, 'app', 'the kept connection waiting for 3 s', (s) => s.slots[0]?.activity === 'waiting' && (s.slots[0].activity_ms ?? 0) >= 3000, 15_000);
    expect(p.slots[0]!.pid).toBe(pid);
    expect(hung(m)).toBe(false);
  });

  it('regression: a route that streams a chunk every 0.3 s was stopped as hung (flup writes with send(), which /proc/<pid>/io does not count); now it streams to the end', async () => {
    const m = d.mark();
    const r = await nginxGet(port, '/stream?n=12');
    expect(r.status).toBe(200);
    expect(r.body.split('\n').filter(Boolean)).toHaveLength(12);
    expect(hung(m)).toBe(false);
  });

  it('a handler blocked reading something else than the web server (a FIFO nobody writes) is hung: stopped and replaced', async () => {
    const m = d.mark();
    const [pid] = d.runningPids('app');
    const fifo = scratch.path('block.fifo');
    run('mkfifo', [fifo]);
    // O_RDWR keeps a writer open, so the handler's open() returns and its read() blocks.
    const holder = openSync(fifo, constants.O_RDWR);
    try {
      void nginxGet(port, `/read?path=${encodeURIComponent(fifo)}`).catch(() => {});
      await d.waitForLog((l) => /is hung/.test(l.msg) && l.pid === pid, m, 15_000);
      await poolWhen(ctl, 'app', 'a new worker', (s) => s.slots[0]?.state === 'running' && s.slots[0].pid !== pid, 15_000);
    } finally {
      closeSync(holder);
    }
  });

  it('a handler that sleeps is still hung: stopped and replaced', async () => {
    const m = d.mark();
    const [pid] = d.runningPids('app');
    void nginxGet(port, '/sleep?s=30').catch(() => {});
    await d.waitForLog((l) => /is hung/.test(l.msg) && l.pid === pid, m, 15_000);
    await poolWhen(ctl, 'app', 'a new worker', (s) => s.slots[0]?.state === 'running' && s.slots[0].pid !== pid, 15_000);
  });
});

describe.skipIf(missing)("flup's bindAddress: a worker that binds its own socket at the pool's path", () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  let sock: string;
  const write = (bind: boolean): string =>
    writeConfig(scratch, 'bound', {
      pools: {
        app: flupPool(`unix:${sock}`, { workers: 2, stop_timeout: '1s' }, bind ? { FLUP_BIND: sock } : {}),
      },
    });
  const ctlRun = (...args: string[]) => fcgictl(processes, ['-s', ctl, ...args]);

  beforeAll(async () => {
    scratch = new Scratch('fcgid-flup-bind-');
    ctl = scratch.path('bound.ctl');
    sock = scratch.path('app.sock');
    d = new Fcgid(processes, write(true));
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('regression: it took the path silently (one worker served, the others looked busy and were killed as hung, ping said ok); now fcgid says so in one line and the pool fails', async () => {
    const line = await d.waitForLog((l) => /listens at unix:\S+ on a socket of its own/.test(l.msg), 0, 30_000);
    expect(line.msg).toMatch(/^pool app: worker app\/\d pid \d+ listens at unix:\S+app\.sock on a socket of its own instead of the one fcgid hands it on fd 0 \(flup's bindAddress, php-cgi -b, spawn-fcgi in the command\), so the web server reaches only that worker; stopping the pool\. Remove that option from the command \(flup: WSGIServer\(app\) with no bindAddress\), then fcgictl start app$/);
    const p = await poolWhen(ctl, 'app', 'failed with no worker', (s) => s.state === 'failed' && s.slots.every((slot) => slot.pid === null));
    expect(p.state).toBe('failed');
    expect((await ctlRun('status')).status).toBe(7);
    const ping = await ctlRun('ping', 'app');
    expect(ping.status).toBe(1);
    expect(ping.stdout).toMatch(/^app: FAILED/);
  });

  it('once the option is gone, a reload and fcgictl start bring the pool back on a new socket at its path', async () => {
    write(false);
    expect((await ctlRun('reload')).status).toBe(0);
    const start = await ctlRun('start', 'app');
    expect(start.status, start.stderr).toBe(0);
    await poolWhen(ctl, 'app', 'two workers running', (s) => s.state === 'running' && s.workers.running === 2, 30_000);
    const r = await ctlRun('request', 'app', '/hello', '-p', 'SCRIPT_NAME=', '-p', 'PATH_INFO=/hello');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^pid \d+\n$/);
    expect((await ctlRun('ping', 'app')).status).toBe(0);
  });
});

describe.skipIf(missing)('requests shorter than a scan', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-flup-short-');
    ctl = scratch.path('short.ctl');
    const pool = flupPool(`unix:${scratch.path('app.sock')}`, { workers: 2 });
    d = new Fcgid(processes, writeConfig(scratch, 'short', { pools: { app: pool } }));
    await d.waitForRunning('app', 2, 30_000);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('regression: a worker that just served three quick requests read "idle" since long before; now its idle time starts again within a few scans', async () => {
    await poolWhen(ctl, 'app', 'both idle for 5 s', (p) => p.slots.every((s) => s.activity === 'idle' && (s.activity_ms ?? 0) >= 5000), 30_000);
    const pids = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const r = await fcgictl(processes, ['-s', ctl, 'request', 'app', '/hello', '-p', 'SCRIPT_NAME=', '-p', 'PATH_INFO=/hello']);
      expect(r.status, r.stderr).toBe(0);
      pids.add(Number(/^pid (\d+)/.exec(r.stdout)![1]));
    }
    const served = Date.now();
    // Idle workers are looked at in turn (here one a scan): each within a few seconds.
    const p = await poolWhen(ctl, 'app', 'the serving worker idle since the requests', (s) => s.slots.some((slot) => pids.has(slot.pid!) && slot.activity === 'idle' && (slot.activity_ms ?? Infinity) < Date.now() - served + 1500), 15_000);
    expect(p.slots.some((s) => pids.has(s.pid!))).toBe(true);
  });
});
