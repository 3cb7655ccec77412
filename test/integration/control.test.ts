// The control socket and fcgictl, end to end: the real `fcgid start` with real
// workers (php-cgi, examples/hello.mjs, test/fixtures/daemon/env.mjs), driven by
// the real `fcgictl` run as a process, asserting on what it prints and on its
// exit status (docs/fcgictl.md), and on what the daemon then does: rolling
// restarts under load through nginx with no failed request, reload applying
// only the difference (and nothing on an invalid file), scale/stop/start/signal,
// ping, request, logs, who may use the socket, malformed HTTP, shutdown.

import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgiParams } from '../../src/fastcgi/index.js';
import type { DaemonStatus } from '../../src/control/wire.js';
import { FCGICTL_BIN, fastcgiOnce, fcgictl, pidIn, poolOf, poolWhen, statusOf } from '../helpers/control.js';
import { Fcgid, LEVEL, isRunning, phpPool, tearDown, writeConfig, type LogLine } from '../helpers/daemon.js';
import { startNginx } from '../helpers/nginx.js';
import { underLoad } from '../helpers/load.js';
import { Processes, Scratch, missingPeers, poll, run, type Ran, type Started } from '../helpers/peers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/daemon/', import.meta.url));
const HELLO = fileURLToPath(new URL('../../examples/hello.mjs', import.meta.url));
const ENV_WORKER = join(FIXTURES, 'env.mjs');
const PID_PHP = join(FIXTURES, 'pid.php');
const ROOT = process.getuid?.() === 0;
/** Running fcgictl as another user needs root and setpriv (util-linux). */
const noOtherUser = !ROOT ? 'not root' : missingPeers('setpriv');

// ---------------------------------------------------------------------------
// Plumbing.

/** Pids of the pool's slots, in slot order (replacements left out). */
function pidsOf(status: DaemonStatus, name: string): Array<number | null> {
  return poolOf(status, name)
    .slots.filter((s) => s.role === 'worker')
    .sort((a, b) => a.slot - b.slot)
    .map((s) => s.pid);
}

/** Resolves with the pool's pids once exactly `count` workers run and nothing else is in flight. */
async function settled(ctl: string, name: string, count: number): Promise<number[]> {
  const pool = await poolWhen(
    ctl,
    name,
    `${count} running workers and nothing else in pool ${name}`,
    (p) => p.state === 'running' && p.slots.length === count && p.slots.every((s) => s.role === 'worker' && s.state === 'running' && s.pid !== null),
  );
  return pool.slots.sort((a, b) => a.slot - b.slot).map((s) => s.pid!);
}

/** One request straight to a pool's socket over FastCGI. */
function fastcgi(sock: string, url: string): Promise<{ status: number; body: string }> {
  return fastcgiOnce(`unix:${sock}`, cgiParams({ url }), 30_000);
}

/** A raw HTTP exchange with the control socket, as curl --unix-socket would make it. */
function controlHttp(
  ctl: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string | number> = body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; json: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: ctl, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text) });
        } catch (err) {
          reject(new Error(`not JSON (${(err as Error).message}): ${text}`));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------
// The status schema (docs/control-api.md), checked field by field.

type Check = (v: unknown) => boolean;
const int: Check = (v) => Number.isInteger(v);
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const str: Check = (v) => typeof v === 'string';
const iso: Check = (v) => typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(v) && !Number.isNaN(Date.parse(v));
const nullable =
  (c: Check): Check =>
  (v) =>
    v === null || c(v);
const oneOf =
  (...values: unknown[]): Check =>
  (v) =>
    values.includes(v);

const DAEMON_STATES = ['starting', 'running', 'reloading', 'stopping', 'stopped'];
const POOL_STATES = ['starting', 'running', 'degraded', 'failed', 'reloading', 'stopping', 'stopped'];
const SLOT_STATES = ['starting', 'running', 'backoff', 'stopping', 'exited', 'fatal'];

/** Problems with one object: missing keys, wrong types, keys the schema does not have. */
function fields(value: unknown, where: string, required: Record<string, Check>, optional: Record<string, Check> = {}): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${where}: not an object`];
  const o = value as Record<string, unknown>;
  const out: string[] = [];
  for (const [k, check] of Object.entries(required)) {
    if (!(k in o)) out.push(`${where}.${k}: missing`);
    else if (!check(o[k])) out.push(`${where}.${k}: unexpected ${JSON.stringify(o[k])}`);
  }
  for (const [k, check] of Object.entries(optional)) if (k in o && !check(o[k])) out.push(`${where}.${k}: unexpected ${JSON.stringify(o[k])}`);
  for (const k of Object.keys(o)) if (!(k in required) && !(k in optional)) out.push(`${where}.${k}: not in the schema`);
  return out;
}

function schemaProblems(doc: unknown): string[] {
  const out = fields(doc, 'status', {
    schema: oneOf(1),
    version: str,
    pid: int,
    config: str,
    state: oneOf(...DAEMON_STATES),
    started_at: iso,
    uptime_ms: num,
    pools: Array.isArray,
    log: (v) =>
      fields(v, 'log', { dropped_worker_lines: int, dropped_fcgid_lines: int, dropped_bytes: int, failed_writes: int, last_error: nullable(str) }).length === 0,
  });
  const pools = (doc as { pools?: unknown }).pools;
  if (!Array.isArray(pools)) return out;
  pools.forEach((p: unknown, i) => {
    const at = `status.pools[${i}]`;
    out.push(
      ...fields(p, at, {
        name: str,
        listen: (v) => typeof v === 'string' && /^(unix:|tcp:\/\/)/.test(v),
        state: oneOf(...POOL_STATES),
        workers: (v) => fields(v, 'workers', { wanted: int, running: int, busy: int, idle: int }).length === 0,
        queue: nullable(int),
        restarts: int,
        hung_kills: int,
        slots: Array.isArray,
      }),
    );
    const slots = (p as { slots?: unknown }).slots;
    if (!Array.isArray(slots)) return;
    slots.forEach((s: unknown, j) => {
      const sat = `${at}.slots[${j}]`;
      out.push(
        ...fields(
          s,
          sat,
          {
            slot: int,
            role: oneOf('worker', 'replacement'),
            pid: nullable(int),
            state: oneOf(...SLOT_STATES),
            since: iso,
            uptime_ms: nullable(num),
            restarts: int,
            failures: int,
            last_exit: () => true,
            rss_bytes: nullable(int),
            cpu_percent: nullable(num),
            activity: oneOf('idle', 'busy', 'waiting', null),
            activity_ms: nullable(num),
            progress_ms: nullable(num),
          },
          { stderr_tail: (v) => Array.isArray(v) && v.every(str), retry_in_ms: num },
        ),
      );
      const last = (s as { last_exit?: unknown }).last_exit;
      if (last !== null && last !== undefined) {
        out.push(
          ...fields(last, `${sat}.last_exit`, {
            pid: nullable(int),
            code: nullable(int),
            signal: nullable(str),
            reason: oneOf('stopped by fcgid', 'hung', 'recycled', 'exited early', 'crashed', 'exited', 'spawn failed'),
            uptime_ms: num,
            at: iso,
          }),
        );
      }
    });
  });
  return out;
}

// ---------------------------------------------------------------------------
// Load through nginx while something happens.

/** The most slots of `pool` that were starting at the same time, from the daemon's slot-state lines after `from`. */
function maxConcurrentStarts(lines: LogLine[], pool: string, from: number): number {
  const starting = new Set<number>();
  let max = 0;
  for (const l of lines.slice(from)) {
    if (l.pool !== pool || typeof l.to !== 'string' || typeof l.pid !== 'number') continue;
    if (l.to === 'starting') starting.add(l.pid);
    else starting.delete(l.pid);
    max = Math.max(max, starting.size);
  }
  return max;
}

// ---------------------------------------------------------------------------
// php-cgi and the Node hello worker behind nginx: status, restarts under load,
// ping, request.

describe.skipIf(missingPeers('nginx', 'php-cgi') !== null)('fcgictl status, restart, ping, request with php-cgi and a Node worker behind nginx', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let config: string;
  let ctl: string;
  let port: number;
  const sock = (pool: string): string => scratch.path(`${pool}.sock`);
  const WORKERS = { php: 4, node: 2 } as const;
  const ctlRun = (...args: string[]): Promise<Ran> => fcgictl(processes, ['-s', ctl, ...args]);

  beforeAll(async () => {
    scratch = new Scratch('fcgid-control-web-');
    ctl = scratch.path('web.ctl');
    config = writeConfig(scratch, 'web', {
      pools: {
        // One process per worker (PHP_FCGI_CHILDREN=0): fcgid is the process manager.
        php: phpPool(`unix:${sock('php')}`, { workers: WORKERS.php }),
        node: { command: [process.execPath, HELLO], listen: `unix:${sock('node')}`, socket_fd: 3, workers: WORKERS.node, start_secs: '300ms' },
      },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('php', WORKERS.php);
    await d.waitForRunning('node', WORKERS.node);
    ({ port } = await startNginx(processes, scratch, [
      { prefix: '/php/', socket: sock('php'), params: { SCRIPT_NAME: '/pid.php', SCRIPT_FILENAME: PID_PHP } },
      { prefix: '/node/', socket: sock('node'), params: { SCRIPT_NAME: '$uri' } },
    ]));
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  describe('status', () => {
    it('status --json: one line, the documented schema (schema 1), the daemon pid and every worker pid', async () => {
      const r = await ctlRun('status', '--json');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
      const doc = JSON.parse(r.stdout) as DaemonStatus;
      expect(schemaProblems(doc)).toEqual([]);
      expect(doc).toMatchObject({ schema: 1, pid: d.pid, config, state: 'running' });
      expect(doc.pools.map((p) => [p.name, p.listen, p.state, p.workers.wanted, p.workers.running, p.hung_kills])).toEqual([
        ['php', `unix:${sock('php')}`, 'running', 4, 4, 0],
        ['node', `unix:${sock('node')}`, 'running', 2, 2, 0],
      ]);
      const children = d.childPids();
      for (const pool of ['php', 'node'] as const) {
        const pids = pidsOf(doc, pool);
        expect(pids).toHaveLength(WORKERS[pool]);
        expect([...pids].sort()).toEqual([...d.runningPids(pool)].sort());
        for (const pid of pids) expect(children).toContain(pid);
        expect(poolOf(doc, pool).slots.map((s) => s.slot)).toEqual([...Array(WORKERS[pool]).keys()]);
      }
    });

    it('the schema check itself catches a missing key, a wrong type and an unknown key', () => {
      const broken = { schema: 1, version: '0', pid: 'x', config: '/c', state: 'running', started_at: '2026-01-01T00:00:00.000Z', uptime_ms: 1, pools: [], extra: 1, log: { dropped_worker_lines: 0, dropped_fcgid_lines: 0, dropped_bytes: 0, failed_writes: 0, last_error: null } };
      expect(schemaProblems(broken)).toEqual(['status.pid: unexpected "x"', 'status.extra: not in the schema']);
      expect(schemaProblems({ ...broken, pid: 1, extra: undefined, pools: [{ name: 'a' }] }).length).toBeGreaterThan(0);
    });

    it('status: a line per pool and a line per worker, with the pids --json gives', async () => {
      const json = JSON.parse((await ctlRun('status', '--json')).stdout) as DaemonStatus;
      const r = await ctlRun('status');
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines[0]).toMatch(new RegExp(`^fcgid \\S+  pid ${d.pid}  running  up \\S+  ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
      // No colour codes when stdout is not a terminal.
      expect(r.stdout).not.toContain('\x1b[');
      for (const pool of ['php', 'node'] as const) {
        const head = lines.filter((l) => l.startsWith(`${pool}  `));
        expect(head).toHaveLength(1);
        expect(head[0]).toMatch(new RegExp(`^${pool}  unix:${sock(pool)}  running  ${WORKERS[pool]}/${WORKERS[pool]} up  \\d+ busy  \\d+ idle  (queue \\d+  )?0 restarts$`));
        const rows = lines.filter((l) => new RegExp(`^  ${pool}/\\d+ `).test(l)).map((l) => l.trim().split(/\s+/).slice(0, 3));
        expect(rows).toEqual(pidsOf(json, pool).map((pid, i) => [`${pool}/${i}`, String(pid), 'running']));
      }
      expect(lines.filter((l) => /^  (php|node)\/\d+ /.test(l))).toHaveLength(WORKERS.php + WORKERS.node);
    });

    it('status POOL shows only that pool', async () => {
      const r = await ctlRun('status', 'node', '--json');
      expect(r.status, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as DaemonStatus;
      expect(schemaProblems(doc)).toEqual([]);
      expect(doc.pools.map((p) => p.name)).toEqual(['node']);
    });

    it('status nope: exit 5, one line naming the known pools', async () => {
      const r = await ctlRun('status', 'nope');
      expect(r.status).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('fcgictl: no pool named "nope"; known pools: php, node\n');
    });
  });

  describe.each([
    { pool: 'php' as const, what: 'php-cgi, 4 workers, PHP_FCGI_CHILDREN=0' },
    { pool: 'node' as const, what: 'examples/hello.mjs on fd 3' },
  ])('restart of $what', ({ pool }) => {
    it('rolling restart under 8 keep-alive clients through nginx: zero failed requests, then every slot has a new pid', async () => {
      const before = await settled(ctl, pool, WORKERS[pool]);
      const { result, replies, start, end } = await underLoad(port, `/${pool}/`, 8, () => ctlRun('restart', pool));
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toBe(`${pool}: ${WORKERS[pool]} workers replaced\n`);
      const failed = replies.filter((r) => r.status !== 200 || !/\bpid \d+/.test(r.body));
      expect(failed, run('tail', ['-n', '20', scratch.path('nginx-error.log')]).stdout).toEqual([]);
      // The load really overlapped the restart, on kept-alive connections.
      for (let c = 0; c < 8; c++) expect(replies.filter((r) => r.client === c && r.end >= start && r.end <= end).length).toBeGreaterThan(0);
      expect(replies.some((r) => r.reused)).toBe(true);
      expect(replies.some((r) => before.includes(pidIn(r.body)))).toBe(true);

      const after = pidsOf(JSON.parse((await ctlRun('status', pool, '--json')).stdout) as DaemonStatus, pool);
      expect(after).toHaveLength(WORKERS[pool]);
      for (const pid of after) {
        expect(pid).not.toBeNull();
        expect(before).not.toContain(pid);
      }
      for (const pid of before) expect(isRunning(pid)).toBe(false);
    });

    it('restart --batch 2: two slots turn over at a time, every pid new', async () => {
      const before = await settled(ctl, pool, WORKERS[pool]);
      const m = d.mark();
      const r = await ctlRun('restart', '--batch', '2', pool);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${pool}: ${WORKERS[pool]} workers replaced\n`);
      expect(maxConcurrentStarts(d.lines, pool, m)).toBe(2);
      const after = await settled(ctl, pool, WORKERS[pool]);
      for (const pid of after) expect(before).not.toContain(pid);
    });

    it('restart --hard: every old worker is gone before the first new one starts; every pid new', async () => {
      const before = await settled(ctl, pool, WORKERS[pool]);
      const m = d.mark();
      const r = await ctlRun('restart', '--hard', pool);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${pool}: ${WORKERS[pool]} workers replaced\n`);
      const after = await settled(ctl, pool, WORKERS[pool]);
      for (const pid of after) expect(before).not.toContain(pid);
      const lines = d.lines.slice(m);
      const lastOldExit = Math.max(...before.map((pid) => lines.findIndex((l) => l.pool === pool && l.pid === pid && typeof l.reason === 'string')));
      const firstNewStart = Math.min(...after.map((pid) => lines.findIndex((l) => l.pool === pool && l.pid === pid && l.to === 'starting')));
      expect(lastOldExit).toBeGreaterThanOrEqual(0);
      expect(firstNewStart).toBeGreaterThan(lastOldExit);
    });
  });

  it('restart with no pool named restarts every pool and prints a line for each', async () => {
    const before = { php: await settled(ctl, 'php', WORKERS.php), node: await settled(ctl, 'node', WORKERS.node) };
    const r = await ctlRun('restart');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('php: 4 workers replaced\nnode: 2 workers replaced\n');
    for (const pool of ['php', 'node'] as const) for (const pid of await settled(ctl, pool, WORKERS[pool])) expect(before[pool]).not.toContain(pid);
  });

  it('restart nope: exit 5 and nothing restarted', async () => {
    const before = await settled(ctl, 'php', WORKERS.php);
    const r = await ctlRun('restart', 'php', 'nope');
    expect(r.status).toBe(5);
    expect(r.stderr).toBe('fcgictl: no pool named "nope"; known pools: php, node\n');
    expect(pidsOf(await statusOf(ctl), 'php')).toEqual(before);
  });

  describe('ping', () => {
    it('ping: exit 0 and a line per pool', async () => {
      const r = await ctlRun('ping');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^php: ok in \d+ms\nnode: ok in \d+ms\n$/);
    });

    it('ping POOL --json: the FCGI_GET_VALUES answer of that pool', async () => {
      const r = await ctlRun('ping', 'node', '--json');
      expect(r.status, r.stderr).toBe(0);
      const { results } = JSON.parse(r.stdout) as { results: Array<{ pool: string; ok: boolean; values: Record<string, string> }> };
      expect(results).toHaveLength(1);
      expect(results[0]).toMatchObject({ pool: 'node', ok: true });
      expect(Object.keys(results[0]!.values)).toContain('FCGI_MPXS_CONNS');
    });

    it('ping -a unix:SOCKET talks to the socket itself: exit 0; a socket nobody listens on: exit 3', async () => {
      const r = await fcgictl(processes, ['ping', '-a', `unix:${sock('php')}`]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^unix:${sock('php')}: ok`));
      const gone = await fcgictl(processes, ['ping', '-a', `unix:${scratch.path('nothing.sock')}`, '--timeout', '2000']);
      expect(gone.status).toBe(3);
      expect(gone.stderr).toMatch(/^fcgictl: .*nothing\.sock/);
      expect(gone.stderr.trimEnd().split('\n')).toHaveLength(1);
    });
  });

  describe('request', () => {
    it('request php /pid.php --script-filename: the body, from one of the pool\'s workers; exit 0', async () => {
      const pids = await settled(ctl, 'php', WORKERS.php);
      const r = await ctlRun('request', 'php', '/pid.php', '--script-filename', PID_PHP);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^pid \d+\n$/);
      expect(pids).toContain(pidIn(r.stdout));
    });

    it('request php -p SCRIPT_FILENAME=… -i: status line and headers, a blank line, the body', async () => {
      const r = await ctlRun('request', 'php', '/pid.php', '-p', `SCRIPT_FILENAME=${PID_PHP}`, '-i');
      expect(r.status, r.stderr).toBe(0);
      const [head, body] = r.stdout.split('\n\n');
      expect(head!.split('\n')[0]).toBe('Status: 200');
      expect(head).toMatch(/^Content-type: text\/plain/m);
      expect(body).toMatch(/^pid \d+\n$/);
    });

    it('request php for a script that does not exist: Status: 404 and exit 1', async () => {
      const r = await ctlRun('request', 'php', '/nope.php', '--script-filename', scratch.path('nope.php'), '-i');
      expect(r.status).toBe(1);
      expect(r.stdout.split('\n')[0]).toBe('Status: 404 Not Found');
      expect(r.stdout).toContain('No input file specified.');
    });

    it('request node /hello?x=1 -i: the Node worker\'s status line, headers and body; exit 0', async () => {
      const pids = await settled(ctl, 'node', WORKERS.node);
      const r = await ctlRun('request', 'node', '/hello?x=1', '-i');
      expect(r.status, r.stderr).toBe(0);
      const [head, body] = r.stdout.split('\n\n');
      expect(head!.split('\n')).toEqual(['Status: 200 OK', 'Content-Type: text/plain; charset=utf-8', expect.stringMatching(/^Content-Length: \d+$/)]);
      expect(body).toMatch(/^hello from pid \d+: GET \/hello\?x=1\n$/);
      expect(pids).toContain(pidIn(body!));
    });

    it('request -a unix:SOCKET talks to the socket directly', async () => {
      const r = await fcgictl(processes, ['request', '-a', `unix:${sock('node')}`, '/direct']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^hello from pid \d+: GET \/direct\n$/);
    });

    it('request -a to a socket that does not speak FastCGI: one line naming it, and exit 1, so a health check fails', async () => {
      const path = scratch.path('http.sock');
      const server = net.createServer((c) => c.end('HTTP/1.0 200 OK\r\n\r\nhello'));
      await new Promise<void>((resolve) => server.listen(path, resolve));
      try {
        const r = await fcgictl(processes, ['request', '-a', `unix:${path}`, '/health']);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^fcgictl: .*is the peer speaking FastCGI\?\n$/);
        expect(r.stdout).toBe('');
      } finally {
        server.close();
      }
    });

    it('request nope /x: exit 5', async () => {
      const r = await ctlRun('request', 'nope', '/x');
      expect(r.status).toBe(5);
      expect(r.stderr).toMatch(/known pools: php, node/);
    });
  });
});

// ---------------------------------------------------------------------------
// reload: only the difference is applied; an invalid file changes nothing.

describe('fcgictl reload', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  const sock = (pool: string): string => scratch.path(`${pool}.sock`);
  const ctlRun = (...args: string[]): Promise<Ran> => fcgictl(processes, ['-s', ctl, ...args]);

  const envPool = (pool: string, workers: number, greeting: string) => ({
    command: [process.execPath, ENV_WORKER],
    listen: `unix:${sock(pool)}`,
    socket_fd: 3,
    workers,
    start_secs: '300ms',
    env: { GREETING: greeting },
  });

  /** Rewrite the daemon's config file. */
  function configure(opts: { workers?: number; greeting?: string; extra?: boolean } = {}): string {
    const pools: Record<string, unknown> = { env: envPool('env', opts.workers ?? 2, opts.greeting ?? 'hello'), other: envPool('other', 1, 'other') };
    if (opts.extra) pools.extra = envPool('extra', 1, 'extra');
    return writeConfig(scratch, 'reload', { pools });
  }

  function reloaded(r: Ran): Record<string, unknown> {
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  beforeAll(async () => {
    scratch = new Scratch('fcgid-control-reload-');
    ctl = scratch.path('reload.ctl');
    d = new Fcgid(processes, configure());
    await d.waitForRunning('env', 2);
    await d.waitForRunning('other', 1);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('an invalid file: exit 1, every problem printed, and the daemon serves on unchanged', async () => {
    const before = await statusOf(ctl);
    const file = configure();
    writeFileSync(
      file,
      [
        'control:',
        `  socket: ${ctl}`,
        'pools:',
        '  env:',
        `    command: [${process.execPath}, ${ENV_WORKER}]`,
        `    listen: unix:${sock('env')}`,
        '    wokers: 3',
        '    start_secs: soon',
        '',
      ].join('\n'),
    );
    const m = d.mark();
    const r = await ctlRun('reload');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^fcgictl: reload refused; fcgid keeps running the previous config:\n/);
    expect(r.stderr).toMatch(/^reload\.yaml:7: pools\.env\.wokers: unknown key; did you mean "workers"\?$/m);
    expect(r.stderr).toMatch(/^reload\.yaml:8: pools\.env\.start_secs: /m);
    const refused = await d.waitForLog((l) => /^reload refused/.test(l.msg), m);
    expect(refused.level).toBe(LEVEL.error);

    const after = await statusOf(ctl);
    expect(after.pools.map((p) => p.name)).toEqual(['env', 'other']);
    for (const pool of ['env', 'other']) expect(pidsOf(after, pool)).toEqual(pidsOf(before, pool));
    const served = await ctlRun('request', 'env', '/');
    expect(served.status, served.stderr).toBe(0);
    expect(pidsOf(before, 'env')).toContain(pidIn(served.stdout));
    expect(served.stdout).toContain('GREETING=hello');
    configure();
  });

  it('a pool added: its socket appears and serves; the other pools keep their pids', async () => {
    const before = await statusOf(ctl);
    configure({ extra: true });
    const plan = reloaded(await ctlRun('reload', '--json'));
    expect(plan).toMatchObject({ added: ['extra'], removed: [], restarted: [], scaled: [], unchanged: ['env', 'other'] });
    expect(statSync(sock('extra')).isSocket()).toBe(true);
    const served = await ctlRun('request', 'extra', '/');
    expect(served.status, served.stderr).toBe(0);
    expect(served.stdout).toMatch(/GREETING=extra/);
    const pids = await settled(ctl, 'extra', 1);
    expect(pids).toContain(pidIn(served.stdout));
    const after = await statusOf(ctl);
    for (const pool of ['env', 'other']) expect(pidsOf(after, pool)).toEqual(pidsOf(before, pool));
  });

  it('a pool removed: its workers stop, its socket file disappears, it is no longer known', async () => {
    const pids = await settled(ctl, 'extra', 1);
    const m = d.mark();
    configure();
    const plan = reloaded(await ctlRun('reload', '--json'));
    expect(plan).toMatchObject({ added: [], removed: ['extra'], unchanged: ['env', 'other'] });
    await d.waitForLog((l) => l.pool === 'extra' && /stopped and its socket closed/.test(l.msg), m);
    for (const pid of pids) expect(isRunning(pid)).toBe(false);
    expect(existsSync(sock('extra'))).toBe(false);
    const r = await ctlRun('status', 'extra');
    expect(r.status).toBe(5);
    expect(r.stderr).toContain('known pools: env, other');
  });

  it('one pool\'s worker count changed: the untouched workers keep their pids; only the added or removed slots change', async () => {
    const [p0, p1] = await settled(ctl, 'env', 2);
    const other = await settled(ctl, 'other', 1);
    configure({ workers: 3 });
    expect(reloaded(await ctlRun('reload', '--json'))).toMatchObject({ restarted: [], scaled: [{ pool: 'env', from: 2, to: 3 }], unchanged: ['other'] });
    const three = await settled(ctl, 'env', 3);
    expect(three.slice(0, 2)).toEqual([p0, p1]);
    expect([p0, p1]).not.toContain(three[2]);

    configure({ workers: 1 });
    expect(reloaded(await ctlRun('reload', '--json'))).toMatchObject({ scaled: [{ pool: 'env', from: 3, to: 1 }] });
    expect(await settled(ctl, 'env', 1)).toEqual([p0]);
    await poll('the surplus workers to exit', () => !isRunning(p1!) && !isRunning(three[2]!));
    expect(await settled(ctl, 'other', 1)).toEqual(other);
    configure();
    const words = await ctlRun('reload');
    expect(words.status, words.stderr).toBe(0);
    expect(words.stdout).toBe('reloaded: scaled env 1 -> 2; unchanged: other\n');
    await settled(ctl, 'env', 2);
  });

  it('one pool\'s env changed: rolling restart onto new pids that see the new env; the other pool untouched', async () => {
    const before = await settled(ctl, 'env', 2);
    const other = await settled(ctl, 'other', 1);
    configure({ greeting: 'bonjour' });
    // The reload returns once the rolling restart is done.
    expect(reloaded(await ctlRun('reload', '--json'))).toMatchObject({ restarted: ['env'], scaled: [], unchanged: ['other'] });
    const after = pidsOf(await statusOf(ctl), 'env');
    expect(after).toHaveLength(2);
    for (const pid of after) expect(before).not.toContain(pid);
    for (const pid of before) expect(isRunning(pid)).toBe(false);
    const served = await ctlRun('request', 'env', '/');
    expect(served.status, served.stderr).toBe(0);
    expect(served.stdout).toContain('GREETING=bonjour');
    expect(after).toContain(pidIn(served.stdout));
    expect(await settled(ctl, 'other', 1)).toEqual(other);
  });

  it('SIGHUP to the daemon reloads too', async () => {
    const [p0, p1] = await settled(ctl, 'env', 2);
    configure({ greeting: 'bonjour', workers: 3 });
    const m = d.mark();
    process.kill(d.pid, 'SIGHUP');
    const done = await d.waitForLog((l) => /^reloaded /.test(l.msg), m);
    expect(done.plan).toMatchObject({ scaled: ['env 2->3'], restarted: [] });
    const three = await settled(ctl, 'env', 3);
    expect(three.slice(0, 2)).toEqual([p0, p1]);
  });
});

// ---------------------------------------------------------------------------
// Pool commands: scale, stop, start, signal; logs.

describe('fcgictl scale, stop, start, signal, logs', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  const sock = (): string => scratch.path('env.sock');
  const ctlRun = (...args: string[]): Promise<Ran> => fcgictl(processes, ['-s', ctl, ...args]);

  beforeAll(async () => {
    scratch = new Scratch('fcgid-control-pool-');
    ctl = scratch.path('pool.ctl');
    const config = writeConfig(scratch, 'pool', {
      pools: { env: { command: [process.execPath, ENV_WORKER], listen: `unix:${sock()}`, socket_fd: 3, workers: 2, start_secs: '300ms' } },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('env', 2);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('scale up to 4 and down to 1: the surviving workers keep their pids', async () => {
    const [p0, p1] = await settled(ctl, 'env', 2);
    const up = await ctlRun('scale', 'env', '4');
    expect(up.status, up.stderr).toBe(0);
    const four = await settled(ctl, 'env', 4);
    expect(four.slice(0, 2)).toEqual([p0, p1]);
    const down = await ctlRun('scale', 'env', '1');
    expect(down.status, down.stderr).toBe(0);
    expect(await settled(ctl, 'env', 1)).toEqual([p0]);
    await poll('the three surplus workers to exit', () => four.slice(1).every((pid) => !isRunning(pid)));
    expect((await ctlRun('scale', 'env', '2')).status).toBe(0);
    expect((await settled(ctl, 'env', 2))[0]).toBe(p0);
  });

  it('scale with a bad count: exit 2 (usage), nothing changed; scale nope: exit 5', async () => {
    const before = await settled(ctl, 'env', 2);
    const bad = await ctlRun('scale', 'env', 'many');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/expected a whole number, got many/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const missing = await ctlRun('scale', 'env');
    expect(missing.status).toBe(2);
    const unknown = await ctlRun('scale', 'nope', '3');
    expect(unknown.status).toBe(5);
    expect(unknown.stderr).toBe('fcgictl: no pool named "nope"; known pools: env\n');
    expect(await settled(ctl, 'env', 2)).toEqual(before);
  });

  it('stop: workers gone, socket kept, ping fails; a request sent meanwhile waits in the backlog and is answered after start', async () => {
    const before = await settled(ctl, 'env', 2);
    const stop = await ctlRun('stop', 'env');
    expect(stop.status, stop.stderr).toBe(0);
    const stopped = await poolWhen(ctl, 'env', 'pool env stopped', (pool) => pool.state === 'stopped');
    expect(stopped.workers).toMatchObject({ wanted: 0, running: 0 });
    expect(stopped.slots.every((s) => s.pid === null)).toBe(true);
    for (const pid of before) expect(isRunning(pid)).toBe(false);
    expect(statSync(sock()).isSocket()).toBe(true);

    const ping = await ctlRun('ping', 'env');
    expect(ping.status).toBe(1);
    expect(ping.stdout).toMatch(/^env: FAILED: /);

    let answered = false;
    const queued = fastcgi(sock(), '/queued').finally(() => (answered = true));
    // A round trip to the daemon later, the request is still in the backlog, unanswered.
    const stillStopped = await ctlRun('status', 'env', '--json');
    expect(poolOf(JSON.parse(stillStopped.stdout) as DaemonStatus, 'env').state).toBe('stopped');
    expect(answered).toBe(false);

    const start = await ctlRun('start', 'env');
    expect(start.status, start.stderr).toBe(0);
    const reply = await queued;
    expect(reply.status).toBe(200);
    const fresh = await settled(ctl, 'env', 2);
    expect(fresh).toContain(pidIn(reply.body));
    for (const pid of fresh) expect(before).not.toContain(pid);
    const pingAgain = await ctlRun('ping', 'env');
    expect(pingAgain.status, pingAgain.stdout).toBe(0);
  });

  it('signal env HUP reaches every worker (each logs it) and they keep running', async () => {
    const pids = await settled(ctl, 'env', 2);
    const m = d.mark();
    const r = await ctlRun('signal', 'env', 'HUP');
    expect(r.status, r.stderr).toBe(0);
    const sent = /^SIGHUP sent to (.*)\n$/.exec(r.stdout);
    expect(sent, r.stdout).not.toBeNull();
    expect(sent![1]!.split(', ').map(Number).sort()).toEqual([...pids].sort());
    for (const pid of pids) {
      const line = await d.waitForLog((l) => l.pool === 'env' && l.stream === 'stderr' && l.msg === `env: pid ${pid} got SIGHUP`, m);
      expect(line.pid).toBe(pid);
    }
    expect(await settled(ctl, 'env', 2)).toEqual(pids);
  });

  it('request env /missing: the Node worker\'s 404 is printed, and the exit status is 1', async () => {
    const pids = await settled(ctl, 'env', 2);
    const r = await ctlRun('request', 'env', '/missing', '-i');
    expect(r.status).toBe(1);
    const [head, body] = r.stdout.split('\n\n');
    expect(head!.split('\n')[0]).toBe('Status: 404 Not Found');
    expect(pids).toContain(pidIn(body!));
  });

  it('signal with a name that is not a signal: exit 2 (usage) before fcgid is asked; the control API itself answers 400', async () => {
    const m = d.mark();
    const r = await ctlRun('signal', 'env', 'NOPE');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no signal named "NOPE"; use a name such as HUP, USR1 or TERM');
    const api = await controlHttp(ctl, 'POST', '/v1/pools/env/signal', JSON.stringify({ signal: 'NOPE' }));
    expect(api.status).toBe(400);
    expect(api.json.error?.message).toBe('expected {"signal": "SIGHUP"}, got "NOPE"');
    expect(d.lines.slice(m).filter((l) => /sent SIG/.test(l.msg))).toEqual([]);
  });

  it('logs env -n 5: the last five entries, in the order --json gives them', async () => {
    const all = await ctlRun('logs', 'env', '--json', '-n', '1000');
    expect(all.status, all.stderr).toBe(0);
    const entries = all.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { msg: string; pool: string; worker?: number; pid?: number; stream?: string });
    expect(entries.length).toBeGreaterThan(5);
    const r = await ctlRun('logs', 'env', '-n', '5');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    lines.forEach((line, i) => {
      const e = entries[entries.length - 5 + i]!;
      const who = e.worker === undefined ? 'env' : `env/${e.worker} ${e.pid}`;
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT\S+Z /);
      expect(line.slice(line.indexOf(' ') + 1)).toBe(`${who}${e.stream ? ` ${e.stream}` : ''}: ${e.msg}`);
    });
    // The SIGHUP lines of the test before are among the last.
    expect(lines.filter((l) => / got SIGHUP$/.test(l))).toHaveLength(2);
  });

  it('logs -f prints a line the worker writes after it started', async () => {
    const [pid] = await settled(ctl, 'env', 2);
    const follower: Started = processes.start(process.execPath, [FCGICTL_BIN, '-s', ctl, 'logs', 'env', '-f', '-n', '1']);
    let out = '';
    follower.child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    // The one old line arrives once the daemon has registered the follower.
    await poll('the follower to print the last old line', () => out.includes('\n'));
    const old = out;
    expect(old.trimEnd().split('\n')).toHaveLength(1);
    expect((await ctlRun('signal', 'env', 'HUP')).status).toBe(0);
    await poll('the follower to print the SIGHUP line', () => out.includes(`env/0 ${pid} stderr: env: pid ${pid} got SIGHUP`));
    expect(out.startsWith(old)).toBe(true);
    process.kill(follower.pid, 'SIGTERM');
    expect(await follower.exited).toBe('SIGTERM');
    // The daemon dropped the follower and answers as before.
    expect((await ctlRun('status')).status).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// Who may use the socket, how fcgictl finds it, malformed requests, shutdown.

describe('the control socket: permissions, discovery, malformed requests, shutdown', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let config: string;
  let ctl: string;
  const ctlRun = (...args: string[]): Promise<Ran> => fcgictl(processes, ['-s', ctl, ...args]);

  beforeAll(async () => {
    scratch = new Scratch('fcgid-control-socket-');
    // nobody must be able to reach the socket file, so that only its mode stops it.
    chmodSync(scratch.dir, 0o755);
    ctl = scratch.path('sock.ctl');
    config = writeConfig(scratch, 'sock', {
      pools: { s: { command: ['sleep', '600'], listen: `unix:${scratch.path('s.sock')}`, start_secs: '100ms' } },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('s', 1);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('the control socket has mode 0600', () => {
    const st = statSync(ctl);
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe('600');
  });

  it.skipIf(noOtherUser !== null)('another user (nobody) is refused: exit 4, "permission denied", one line', async () => {
    const r = await fcgictl(processes, ['-s', ctl, 'status'], { as: 'nobody' });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/^fcgictl: permission denied on .*sock\.ctl: .*control\.group/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('found with -c CONFIG and with $FCGID_CONTROL as well as with -s', async () => {
    const byConfig = await fcgictl(processes, ['-c', config, 'status', '--json']);
    expect(byConfig.status, byConfig.stderr).toBe(0);
    expect((JSON.parse(byConfig.stdout) as DaemonStatus).pid).toBe(d.pid);
    const byEnv = await fcgictl(processes, ['status', '--json'], { env: { ...process.env, FCGID_CONTROL: ctl } });
    expect(byEnv.status, byEnv.stderr).toBe(0);
    expect((JSON.parse(byEnv.stdout) as DaemonStatus).pid).toBe(d.pid);
    const badConfig = await fcgictl(processes, ['-c', scratch.path('missing.yaml'), 'status']);
    expect(badConfig.status).toBe(2);
    expect(badConfig.stderr).toMatch(/^fcgictl: cannot read .*missing\.yaml/);
  });

  describe('malformed requests get a 4xx with a JSON error, and the daemon keeps answering', () => {
    it('bad JSON: 400 FCGID_BAD_JSON; a JSON array: 400; a wrong type: 400 FCGID_BAD_REQUEST', async () => {
      const bad = await controlHttp(ctl, 'POST', '/v1/restart', '{"pools": [');
      expect(bad.status).toBe(400);
      expect(bad.headers['content-type']).toBe('application/json');
      expect(bad.json.error?.code).toBe('FCGID_BAD_JSON');
      const array = await controlHttp(ctl, 'POST', '/v1/pools/s/scale', '[3]');
      expect(array.status).toBe(400);
      expect(array.json.error).toEqual({ code: 'FCGID_BAD_JSON', message: 'request body must be a JSON object' });
      const type = await controlHttp(ctl, 'POST', '/v1/pools/s/scale', '{"workers": "3"}');
      expect(type.status).toBe(400);
      expect(type.json.error?.code).toBe('FCGID_BAD_REQUEST');
      const batch = await controlHttp(ctl, 'POST', '/v1/restart', '{"batch": 0}');
      expect(batch.status).toBe(400);
      expect(batch.json.error?.message).toBe('"batch" must be an integer from 1 to 10,000, got 0');
    });

    it('regression: scale to 1000000000 (or 1e308) got no answer and the daemon died of heap exhaustion; now a 400 names the bound and nothing changes', async () => {
      for (const workers of ['1000000000', '1e308', '10001', '-1']) {
        const r = await controlHttp(ctl, 'POST', '/v1/pools/s/scale', `{"workers": ${workers}}`);
        expect(r.status).toBe(400);
        expect(r.json.error).toEqual({ code: 'FCGID_BAD_REQUEST', message: `"workers" must be an integer from 0 to 10,000, got ${JSON.stringify(JSON.parse(workers))}` });
      }
      const big = await controlHttp(ctl, 'POST', '/v1/restart', '{"batch": 1e308}');
      expect(big.status).toBe(400);
      const status = (await controlHttp(ctl, 'GET', '/v1/status?pool=s')).json as unknown as DaemonStatus;
      expect(status.pools[0]!.workers.wanted).toBeLessThanOrEqual(10);
    });

    it('regression: a pool name that is not valid percent-encoding (%ZZ) answered 500 FCGID_INTERNAL; now 400', async () => {
      const r = await controlHttp(ctl, 'POST', '/v1/pools/%ZZ/start');
      expect(r.status).toBe(400);
      expect(r.json.error).toEqual({ code: 'FCGID_BAD_REQUEST', message: 'the pool name in the path is not valid percent-encoding: "%ZZ"' });
    });

    it('unknown route: 404 FCGID_NO_ROUTE; unknown pool: 404 FCGID_UNKNOWN_POOL naming the known ones', async () => {
      const route = await controlHttp(ctl, 'GET', '/v1/nope');
      expect(route.status).toBe(404);
      expect(route.json.error?.code).toBe('FCGID_NO_ROUTE');
      const pool = await controlHttp(ctl, 'POST', '/v1/pools/nope/stop');
      expect(pool.status).toBe(404);
      expect(pool.json.error).toEqual({ code: 'FCGID_UNKNOWN_POOL', message: 'no pool named "nope"; known pools: s' });
    });

    it('GET on a POST route and POST on a GET route: 405 with Allow', async () => {
      const get = await controlHttp(ctl, 'GET', '/v1/restart');
      expect(get.status).toBe(405);
      expect(get.headers.allow).toBe('POST');
      expect(get.json.error?.code).toBe('FCGID_BAD_METHOD');
      const post = await controlHttp(ctl, 'POST', '/v1/status', '{}');
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe('GET');
    });

    it('a 2 MB body: 413 FCGID_TOO_LARGE, with Content-Length and chunked', async () => {
      const big = Buffer.alloc(2 * 1024 * 1024, 'a');
      const declared = await controlHttp(ctl, 'POST', '/v1/reload', big);
      expect(declared.status).toBe(413);
      expect(declared.json.error?.code).toBe('FCGID_TOO_LARGE');
      const chunked = await controlHttp(ctl, 'POST', '/v1/reload', big, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      expect(chunked.status).toBe(413);
      expect(chunked.json.error?.code).toBe('FCGID_TOO_LARGE');
    });

    it('a half-sent request does not block anyone and is closed by the server (408) after its header timeout', async () => {
      const half = net.connect(ctl);
      let received = '';
      half.setEncoding('utf8');
      half.on('data', (c: string) => (received += c));
      const closed = new Promise<void>((resolve) => half.once('close', () => resolve()));
      half.on('error', () => {});
      await new Promise<void>((resolve) => half.once('connect', () => resolve()));
      half.write('POST /v1/restart HTTP/1.1\r\nHost: fcgid\r\nContent-Len');
      const meanwhile = await ctlRun('status', '--json');
      expect(meanwhile.status, meanwhile.stderr).toBe(0);
      // headersTimeout is 5 s; bounded well above it.
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`not closed; got ${JSON.stringify(received)}`)), 20_000))]);
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
    });

    it('after all that the daemon answers status as before, with the same worker', async () => {
      const r = await ctlRun('status', '--json');
      expect(r.status, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as DaemonStatus;
      expect(doc.pid).toBe(d.pid);
      expect(pidsOf(doc, 's')).toEqual(d.runningPids('s'));
    });
  });

  it('shutdown: exit 0, the daemon exits 0, its workers are gone, the control and pool sockets removed', async () => {
    const pids = await settled(ctl, 's', 1);
    const r = await ctlRun('shutdown');
    expect(r.status, r.stderr).toBe(0);
    expect(await d.exited).toBe(0);
    for (const pid of pids) expect(isRunning(pid)).toBe(false);
    expect(existsSync(ctl)).toBe(false);
    expect(existsSync(scratch.path('s.sock'))).toBe(false);
    const after = await ctlRun('status');
    expect(after.status).toBe(3);
    expect(after.stderr).toMatch(/fcgid is not running/);
  });
});

describe.skipIf(noOtherUser !== null)('control.group and mode 0660: a member of the group may control fcgid', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-control-group-');
    chmodSync(scratch.dir, 0o755);
    ctl = scratch.path('group.ctl');
    const config = writeConfig(scratch, 'group', {
      control: { mode: '0660', group: 'nogroup' },
      pools: { s: { command: ['sleep', '600'], listen: `unix:${scratch.path('s.sock')}`, start_secs: '100ms' } },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('s', 1);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('the socket is 0660 and group nogroup; nobody:nogroup can read status and shut the daemon down', async () => {
    const st = statSync(ctl);
    expect((st.mode & 0o777).toString(8)).toBe('660');
    expect(st.gid).toBe(Number(run('getent', ['group', 'nogroup']).stdout.split(':')[2]));
    const status = await fcgictl(processes, ['-s', ctl, 'status', '--json'], { as: 'nobody' });
    expect(status.status, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as DaemonStatus).pid).toBe(d.pid);
    const shutdown = await fcgictl(processes, ['-s', ctl, 'shutdown'], { as: 'nobody' });
    expect(shutdown.status, shutdown.stderr).toBe(0);
    expect(await d.exited).toBe(0);
  });
});

describe('no daemon', () => {
  const processes = new Processes();
  afterAll(() => processes.killAll());

  it('fcgictl -s /nonexistent status: exit 3, "fcgid is not running", one line', async () => {
    const r = await fcgictl(processes, ['-s', '/nonexistent/fcgid.ctl', 'status']);
    expect(r.status).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('fcgictl: fcgid is not running: nothing answers at /nonexistent/fcgid.ctl (found via -s); start it with fcgid start -c CONFIG\n');
  });

  it('every command that needs the daemon exits 3 the same way', async () => {
    for (const args of [['restart'], ['reload'], ['scale', 'a', '2'], ['stop', 'a'], ['logs'], ['ping'], ['request', 'a', '/'], ['shutdown']]) {
      const r = await fcgictl(processes, ['-s', '/nonexistent/fcgid.ctl', ...args]);
      expect({ args, status: r.status }).toEqual({ args, status: 3 });
      expect(r.stderr).toMatch(/^fcgictl: fcgid is not running/);
    }
  });

  it('usage errors exit 2: unknown command, missing argument', async () => {
    const unknown = await fcgictl(processes, ['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const missing = await fcgictl(processes, ['-s', '/nonexistent/fcgid.ctl', 'signal', 'a']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument 'signal'/);
  });
});
