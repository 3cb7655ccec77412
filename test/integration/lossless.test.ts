// Stops that lose no request (stop_mode: freeze, the default), for every kind
// of FastCGI program our users run: Flask under flup's threaded server (the
// Flask guide's deployment) and under its pre-forking one, php-cgi, fcgiwrap,
// Flask under uWSGI and the Node responder. Each pool sits behind nginx and
// gets a bounded loop of requests while fcgid restarts it, scales it down,
// stops and starts it, and recycles its workers for max_lifetime: every
// request must be answered 200 by the application.

import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { fcgictl, poolWhen } from '../helpers/control.js';
import { Fcgid, flaskPool, flupPool, phpPool, tearDown, writeConfig } from '../helpers/daemon.js';
import { underLoad, type Reply } from '../helpers/load.js';
import { startNginx, type FastCGILocation } from '../helpers/nginx.js';
import { missingApache, startApache, startLighttpd } from '../helpers/webservers.js';
import { FLUP, Processes, Scratch, missingFlask, missingFlup, missingPeers, run } from '../helpers/peers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const WORKERS = 3;

interface Peer {
  name: string;
  pool: (sock: string) => Record<string, unknown>;
  params?: Record<string, string>;
}

const flup = (server: 'threaded' | 'fork') => (sock: string) => flupPool(`unix:${sock}`, { start_secs: '500ms' }, { FLUP_SERVER: server });

const PEERS: Peer[] = [
  { name: 'flup', pool: flup('threaded') },
  { name: 'flupfork', pool: flup('fork') },
  // PHP_FCGI_MAX_REQUESTS=0: php-cgi does not recycle itself first, so max_lifetime does (under load it exits after 500 requests, within a second).
  { name: 'php', pool: (sock) => phpPool(`unix:${sock}`, { env: { PHP_FCGI_MAX_REQUESTS: '0' } }), params: { SCRIPT_FILENAME: `${FIXTURES}daemon/pid.php` } },
  { name: 'fcgiwrap', pool: (sock) => ({ command: ['fcgiwrap'], listen: `unix:${sock}`, start_secs: '300ms' }), params: { SCRIPT_FILENAME: `${FIXTURES}daemon/pid.sh` } },
  { name: 'uwsgi', pool: (sock) => flaskPool(`${FIXTURES}daemon/pid.py`, `unix:${sock}`) },
  { name: 'node', pool: (sock) => ({ command: [process.execPath, `${FIXTURES}daemon/env.mjs`], listen: `unix:${sock}`, socket_fd: 3, start_secs: '300ms' }) },
];

const missing = missingPeers('nginx', 'php-cgi', 'fcgiwrap', 'uwsgi') ?? missingFlask() ?? missingFlup();

describe.skipIf(missing)('stops that lose no request, under load through nginx', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let port: number;
  let config: string;
  let ctl: string;
  const ctlRun = (...args: string[]) => fcgictl(processes, ['-s', ctl, ...args]);

  function write(extra: Record<string, unknown> = {}): void {
    const pools = Object.fromEntries(PEERS.map((p) => [p.name, { ...p.pool(scratch.path(`${p.name}.sock`)), workers: WORKERS, ...extra }]));
    writeFileSync(config, stringify({ control: { socket: ctl }, log: { level: 'debug' }, pools }));
  }

  beforeAll(async () => {
    scratch = new Scratch('fcgid-lossless-');
    ctl = scratch.path('lossless.ctl');
    config = scratch.path('lossless.yaml');
    write();
    d = new Fcgid(processes, config);
    for (const p of PEERS) await d.waitForRunning(p.name, WORKERS, 30_000);
    const locations: FastCGILocation[] = PEERS.map((p) => ({ prefix: `/${p.name}/`, socket: scratch.path(`${p.name}.sock`), params: p.params }));
    ({ port } = await startNginx(processes, scratch, locations));
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  /** What went wrong, for the failure message: the replies that failed and nginx's last errors. */
  const failures = (replies: Reply[]): Reply[] => replies.filter((r) => r.status !== 200 || !/\bpid \d+/.test(r.body));
  const nginxErrors = (): string => run('tail', ['-n', '20', scratch.path('nginx-error.log')]).stdout;

  /** `clients` keep-alive clients on the pool while `action` runs; every reply must be the application's 200. */
  async function lossless(pool: string, action: () => Promise<unknown>, clients = 2): Promise<Reply[]> {
    // Two clients for three workers: busy, not saturated (docs/operations.md, Stops).
    const { replies } = await underLoad(port, `/${pool}/`, clients, action);
    expect(failures(replies), nginxErrors()).toEqual([]);
    expect(replies.length).toBeGreaterThan(4);
    return replies;
  }

  describe.each(PEERS.map((p) => p.name))('%s', (pool) => {
    it('fcgictl restart', async () => {
      await lossless(pool, async () => {
        const r = await ctlRun('restart', pool);
        expect(r.status, r.stderr).toBe(0);
      });
    });

    it('fcgictl scale down, then up again', async () => {
      await lossless(pool, async () => {
        expect((await ctlRun('scale', pool, '1')).status).toBe(0);
        await poolWhen(ctl, pool, 'one worker left', (p) => p.slots.length === 1);
        expect((await ctlRun('scale', pool, String(WORKERS))).status).toBe(0);
        await poolWhen(ctl, pool, 'all workers back', (p) => p.workers.running === WORKERS);
      });
    });

    // One client: a whole pool stopping under load that never pauses ends its last worker only
    // at stop_timeout, with stop_signal, which fcgiwrap does not survive (docs/operations.md, Stops).
    it('fcgictl stop, then start: requests wait in the backlog and are answered', async () => {
      await lossless(
        pool,
        async () => {
          expect((await ctlRun('stop', pool)).status).toBe(0);
          await poolWhen(ctl, pool, 'stopped', (p) => p.state === 'stopped');
          expect((await ctlRun('start', pool)).status).toBe(0);
          await poolWhen(ctl, pool, 'running again', (p) => p.workers.running === WORKERS);
        },
        1,
      );
    });
  });

  it('max_lifetime recycling of every pool at once', async () => {
    const m = d.mark();
    write({ max_lifetime: '1s' });
    expect((await ctlRun('reload')).status).toBe(0);
    try {
      await Promise.all(
        PEERS.map((p) =>
          lossless(p.name, () => d.waitForLog((l) => l.pool === p.name && l.reason === 'recycled' && typeof l.uptime_ms === 'number', m, 30_000)),
        ),
      );
    } finally {
      write();
      await ctlRun('reload');
    }
  });
});

describe.skipIf(missing)('config/flask-flup.yaml, as shipped', () => {
  const processes = new Processes();
  let scratch: Scratch;
  afterAll(() => tearDown(processes, scratch, []));

  it('starts and serves: only the app\'s paths changed (and user, which needs the checkout readable by www-data); the socket gets the configured group and mode', async () => {
    scratch = new Scratch('fcgid-flask-flup-');
    const shipped = parse(readFileSync(fileURLToPath(new URL('../../config/flask-flup.yaml', import.meta.url)), 'utf8')) as { pools: { app: Record<string, unknown> } };
    const app = shipped.pools.app;
    expect(app.env).toBeUndefined(); // no FLASK_ENV: Flask 2.2 warns it is deprecated at every start
    const sock = scratch.path('app.sock');
    const { user: _user, ...rest } = app;
    const config = scratch.path('flask-flup.yaml');
    const pool = { ...rest, command: ['/usr/bin/python3', `${FIXTURES}flup/app.fcgi`], cwd: `${FIXTURES}flup`, listen: `unix:${sock}`, env: { PYTHONPATH: FLUP } };
    writeFileSync(config, stringify({ control: { socket: scratch.path('flask-flup.ctl') }, log: { level: 'debug' }, pools: { app: pool } }));
    const d = new Fcgid(processes, config);
    try {
      await d.waitForRunning('app', app.workers as number, 30_000);
      const st = statSync(sock);
      expect((st.mode & 0o777).toString(8)).toBe('660');
      expect(st.gid).toBe(Number(run('getent', ['group', 'www-data']).stdout.split(':')[2]));
      const r = await fcgictl(processes, ['-s', scratch.path('flask-flup.ctl'), 'request', 'app', '/hello', '-p', 'SCRIPT_NAME=', '-p', 'PATH_INFO=/hello']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^pid \d+\n$/);
      expect(d.lines.filter((l) => /deprecated/i.test(l.msg))).toEqual([]);
    } finally {
      await tearDown(processes, undefined, [d]);
    }
  });
});

describe.skipIf(missing ?? missingApache() ?? missingPeers('lighttpd'))('flup restarts behind Apache mod_proxy_fcgi and lighttpd: no request lost', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  const ports: Record<string, number> = {};

  beforeAll(async () => {
    scratch = new Scratch('fcgid-lossless-servers-');
    chmodSync(scratch.dir, 0o755); // Apache's children (nobody) reach the socket through it
    ctl = scratch.path('servers.ctl');
    const sock = scratch.path('flup.sock');
    // Apache's children run as nobody:nogroup: the socket is the group's, as socket_group www-data would be.
    const pool = { ...flup('threaded')(sock), workers: WORKERS, socket_group: 'nogroup', socket_mode: '0660' };
    d = new Fcgid(processes, writeConfig(scratch, 'servers', { pools: { flup: pool } }));
    await d.waitForRunning('flup', WORKERS, 30_000);
    // What a WSGI app needs behind mod_proxy_fcgi: the whole path as PATH_INFO, an empty SCRIPT_NAME (else Flask answers 308).
    const wsgi = ['ProxyFCGISetEnvIf "true" SCRIPT_NAME ""', 'ProxyFCGISetEnvIf "true" PATH_INFO "%{REQUEST_URI}"'];
    ports.apache = (await startApache(processes, scratch, [{ prefix: '/flup/', target: `unix:${sock}|fcgi://localhost/` }], wsgi)).port;
    ports.lighttpd = (await startLighttpd(processes, scratch, { '/flup/': sock })).port;
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it.each(['apache', 'lighttpd'])('fcgictl restart through %s', async (server) => {
    const { replies } = await underLoad(ports[server]!, '/flup/', 2, async () => {
      const r = await fcgictl(processes, ['-s', ctl, 'restart', 'flup']);
      expect(r.status, r.stderr).toBe(0);
    });
    const errors = run('tail', ['-n', '20', scratch.path(server === 'apache' ? 'apache-error.log' : 'lighttpd-error.log')]).stdout;
    expect(replies.filter((r) => r.status !== 200 || !/\bpid \d+/.test(r.body)), errors).toEqual([]);
    expect(replies.length).toBeGreaterThan(4);
  });
});
