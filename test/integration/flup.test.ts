// Flask under flup's threaded server (the Flask guide's deployment) and
// idle_timeout: flup reads each connection in a thread of its pool, not the
// main one, so "waiting for the web server" must be seen in any thread. A
// client that connected and sent nothing, and nginx's kept connection, are
// waiting, never hung; a handler that sleeps is hung, stopped and replaced.

import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolWhen } from '../helpers/control.js';
import { Fcgid, tearDown, writeConfig } from '../helpers/daemon.js';
import { nginxGet, startNginx } from '../helpers/nginx.js';
import { Processes, Scratch, missingFiles, missingFlask, missingPeers } from '../helpers/peers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const FLUP = fileURLToPath(new URL('../../../shared/peers/flup-py3', import.meta.url));

const missing = missingPeers('nginx', 'python3') ?? missingFlask() ?? missingFiles(`${FLUP}/flup/server/fcgi.py`);

describe.skipIf(missing)('flup threaded and idle_timeout', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  let port: number;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-flup-');
    ctl = scratch.path('flup.ctl');
    const pool = { command: ['python3', `${FIXTURES}flup/app.fcgi`], listen: `unix:${scratch.path('app.sock')}`, workers: 1, start_secs: '300ms', idle_timeout: '2s', stop_timeout: '1s', env: { PYTHONPATH: FLUP, PYTHONDONTWRITEBYTECODE: '1' } };
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

  it('a handler that sleeps is still hung: stopped and replaced', async () => {
    const m = d.mark();
    const [pid] = d.runningPids('app');
    void nginxGet(port, '/sleep?s=30').catch(() => {});
    await d.waitForLog((l) => /is hung/.test(l.msg) && l.pid === pid, m, 15_000);
    await poolWhen(ctl, 'app', 'a new worker', (s) => s.slots[0]?.state === 'running' && s.slots[0].pid !== pid, 15_000);
  });
});
