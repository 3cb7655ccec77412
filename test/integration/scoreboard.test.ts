// The scoreboard and idle_timeout (DESIGN.md §4, §5) on the real `fcgid start`
// with real workers: php-cgi (PHP_FCGI_CHILDREN=0), Flask under uWSGI and a
// Node worker, on unix and TCP sockets, directly and through nginx with kept
// FastCGI connections. A worker that holds a request with no I/O for
// idle_timeout is logged "is hung", stopped and replaced at once; a worker that
// streams, one idle in accept(), one holding another socket, and one holding
// nginx's kept connection between requests are left alone; status reports busy,
// idle, waiting and the accept queue. Every wait is on a log line or a status
// poll with a deadline; nothing sleeps on a timer, and no duration is asserted.

import { closeSync, constants, existsSync, openSync, readFileSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgiParams } from '../../src/fastcgi/index.js';
import type { PoolStatus, SlotStatus } from '../../src/control/wire.js';
import { fastcgiOnce, fcgictl, fcgictlStatus, pidIn, poolOf, poolStatus, statusOf } from '../helpers/control.js';
import { Fcgid, LEVEL, flaskPool, isRunning, phpPool, tearDown, writeConfig, type LogLine } from '../helpers/daemon.js';
import { nginxGet, startNginx } from '../helpers/nginx.js';
import { Processes, Scratch, freePort, missingFlask, missingPeers, poll, run, type Started } from '../helpers/peers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/scoreboard/', import.meta.url));
const PID_PHP = fileURLToPath(new URL('../fixtures/daemon/pid.php', import.meta.url));
const HANG_PHP = join(FIXTURES, 'hang.php');
const FIFO_PHP = join(FIXTURES, 'fifo.php');
const FIFO_CGI = join(FIXTURES, 'fifo.sh');
const STREAM_PHP = join(FIXTURES, 'stream.php');
const BLOCK_PY = join(FIXTURES, 'block.py');
const HOLDER = join(FIXTURES, 'holder.mjs');

// ---------------------------------------------------------------------------
// Plumbing.

function slotWithPid(pool: PoolStatus, pid: number): SlotStatus {
  const slot = pool.slots.find((s) => s.pid === pid);
  if (!slot) throw new Error(`no slot with pid ${pid} in pool ${pool.name}: ${JSON.stringify(pool.slots)}`);
  return slot;
}

/** One FastCGI request for `script` on a fresh connection (never retried elsewhere). */
function fastcgi(address: string, script: string, extra: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const url = `/${script.split('/').pop()}`;
  return fastcgiOnce(address, { ...cgiParams({ url, scriptFilename: script, documentRoot: FIXTURES }), ...extra }, 120_000);
}

/** The pid a fixture wrote to `file` once its request began. */
function pidFrom(file: string): Promise<number> {
  return poll(`a pid in ${file}`, () => {
    if (!existsSync(file)) return null;
    const text = readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : null;
  });
}

/** Write to a FIFO once its reader has it open (O_NONBLOCK: ENXIO until then), so fifo.php's request ends. */
async function release(fifo: string, data: string): Promise<void> {
  const fd = await poll(`a reader on ${fifo}`, () => {
    try {
      return openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK) + 1;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENXIO') return null;
      throw err;
    }
  });
  writeSync(fd - 1, data);
  closeSync(fd - 1);
}

/** A regular file made into a FIFO with mkfifo(1). */
function mkfifo(path: string): string {
  const r = run('mkfifo', [path]);
  if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr}`);
  return path;
}

function hungLines(d: Fcgid, pool: string, from = 0): LogLine[] {
  return d.lines.slice(from).filter((l) => l.pool === pool && / is hung/.test(l.msg));
}

/** The pid of the worker the log shows running in slot `label`, if it is not `pid`. */
function replacedSlot(d: Fcgid, label: string, pid: number): number | undefined {
  const s = d.slots.get(label);
  return s && s.state === 'running' && s.pid !== null && s.pid !== pid ? s.pid : undefined;
}

/** Socket inodes a process holds. */
function socketInodes(pid: number): Set<number> {
  const out = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * The hung worker's story in the log: the "is hung" line (pool, slot, pid),
 * its exit as 'hung' with an immediate replacement, and the replacement
 * running. Returns the slot index and the replacement's pid.
 */
async function expectHungAndReplaced(d: Fcgid, pool: string, pid: number, from: number): Promise<{ index: number; replacement: number }> {
  const hung = await d.waitForLog((l) => l.pool === pool && / is hung/.test(l.msg), from);
  expect(hung.level).toBe(LEVEL.warn);
  expect(hung.pid).toBe(pid);
  expect(hung.reason).toBe('hung');
  const m = new RegExp(`^worker ${pool}/(\\d+) pid ${pid} is hung: `).exec(hung.msg);
  expect(m, hung.msg).not.toBeNull();
  const index = Number(m![1]);
  expect(hung.slot).toBe(`${pool}/${index}`);
  expect(hung.msg).toMatch(/no I\/O progress/);

  const exit = await d.waitForLog((l) => l.pool === pool && l.pid === pid && typeof l.uptime_ms === 'number', from);
  expect(exit.reason).toBe('hung');
  expect(exit.msg).toMatch(/\(hung\); starting a replacement now$/);
  const replacement = await d.waitUntil(() => replacedSlot(d, `${pool}/${index}`, pid), 20_000, `a new worker in ${pool}/${index}`);
  expect(isRunning(pid)).toBe(false);
  // Replaced at once: no backoff delay, no "restarting in" for this slot.
  const backoff = d.lines.slice(from).filter((l) => l.pool === pool && (typeof l.delay_ms === 'number' || / restarting in /.test(l.msg)));
  expect(backoff).toEqual([]);
  return { index, replacement };
}

// ---------------------------------------------------------------------------
// php-cgi pools (and one Node pool) on one daemon.

describe.skipIf(missingPeers('php-cgi', 'fcgiwrap', 'mkfifo') !== null)('scoreboard and idle_timeout with php-cgi, fcgiwrap and a Node worker', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  const tcpPorts: Record<string, number> = {};
  const sock = (pool: string): string => `unix:${scratch.path(`${pool}.sock`)}`;
  /** The test's stand-in for a database: a TCP server the Node workers connect to at start. */
  let upstream: net.Server;
  const upstreamPeers: net.Socket[] = [];

  beforeAll(async () => {
    scratch = new Scratch('fcgid-scoreboard-');
    ctl = scratch.path('sb.ctl');
    tcpPorts.tcp = await freePort();
    tcpPorts.tcp6 = await freePort();
    upstream = net.createServer((s) => upstreamPeers.push(s.on('error', () => {})));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as net.AddressInfo).port;
    const config = writeConfig(scratch, 'sb', {
      pools: {
        hang: phpPool(sock('hang'), { workers: 2, idle_timeout: '2s', stop_timeout: '1s' }),
        stream: phpPool(sock('stream'), { workers: 1, idle_timeout: '2s', stop_timeout: '1s' }),
        idle: phpPool(sock('idle'), { workers: 2, idle_timeout: '1s', stop_timeout: '1s' }),
        counts: phpPool(sock('counts'), { workers: 2 }),
        tcp: phpPool(`tcp://127.0.0.1:${tcpPorts.tcp}`, { workers: 1 }),
        tcp6: phpPool(`tcp://[::1]:${tcpPorts.tcp6}`, { workers: 1 }),
        unixq: phpPool(sock('unixq'), { workers: 1 }),
        // One php-cgi master forking 3 children, as spawn-fcgi -C 3 runs it.
        cgi: { command: ['fcgiwrap'], listen: sock('cgi'), workers: 2, start_secs: '300ms' },
        forked: phpPool(sock('forked'), { workers: 1, idle_timeout: '2s', stop_timeout: '1s', env: { PHP_FCGI_CHILDREN: '3' } }),
        holder: {
          command: [process.execPath, HOLDER],
          listen: sock('holder'),
          socket_fd: 3,
          workers: 2,
          start_secs: '300ms',
          idle_timeout: '1s',
          env: { UPSTREAM_PORT: String(upstreamPort) },
        },
      },
    });
    d = new Fcgid(processes, config);
    await Promise.all(
      ['hang', 'stream', 'idle', 'counts', 'tcp', 'tcp6', 'unixq', 'cgi', 'forked', 'holder'].map((p) => d.waitForRunning(p, ['stream', 'tcp', 'tcp6', 'unixq', 'forked'].includes(p) ? 1 : 2)),
    );
  });

  afterAll(async () => {
    for (const s of upstreamPeers) s.destroy();
    await new Promise((r) => upstream?.close(r));
    await tearDown(processes, scratch, [d]);
  });

  it('a PHP script asleep for 60 s with idle_timeout 2s: logged "is hung" (pool, slot, pid), stopped, replaced at once with no backoff; status counts it; the pool keeps serving', async () => {
    const from = d.mark();
    const pidFile = scratch.path('hang.pid');
    const hanging = fastcgi(sock('hang'), HANG_PHP, { PIDFILE: pidFile }).catch((err: Error) => err);
    const pid = await pidFrom(pidFile);

    const { index, replacement } = await expectHungAndReplaced(d, 'hang', pid, from);
    await hanging;

    const pool = poolOf(await fcgictlStatus(processes, ctl), 'hang');
    expect(pool.hung_kills).toBe(1);
    const slot = pool.slots.find((s) => s.slot === index && s.role === 'worker')!;
    expect(slot.pid).toBe(replacement);
    expect(slot.state).toBe('running');
    expect(slot.last_exit).toMatchObject({ pid, reason: 'hung' });
    expect(hungLines(d, 'hang', from)).toHaveLength(1);

    const served = await Promise.all([1, 2, 3, 4].map(() => fastcgi(sock('hang'), PID_PHP)));
    for (const r of served) {
      expect(r.status).toBe(200);
      expect(d.runningPids('hang')).toContain(pidIn(r.body));
    }
  });

  it('a response that keeps streaming (a line every 300 ms for ~5 s) past idle_timeout 2s is not killed: the scoreboard sees it busy, and it completes with every line', async () => {
    const from = d.mark();
    const [before] = d.runningPids('stream');
    let done = false;
    const seenBusy: SlotStatus[] = [];
    const request = fastcgi(sock('stream'), STREAM_PHP).finally(() => (done = true));
    // Watch status while it streams: busy, with recent progress.
    const watching = (async () => {
      while (!done) {
        const slot = (await poolStatus(ctl, 'stream')).slots[0]!;
        if (slot.activity === 'busy') seenBusy.push(slot);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const r = await request;
    await watching;

    expect(r.status).toBe(200);
    const expected = [`pid ${before}`, ...Array.from({ length: 17 }, (_, i) => `line ${i + 1}`), 'done'];
    expect(r.body.trimEnd().split('\n')).toEqual(expected);
    expect(seenBusy.length).toBeGreaterThan(0);
    expect(hungLines(d, 'stream', from)).toEqual([]);
    const pool = poolOf(await fcgictlStatus(processes, ctl), 'stream');
    expect(pool.hung_kills).toBe(0);
    expect(pool.slots[0]!.pid).toBe(before);
    expect(pool.slots[0]!.restarts).toBe(0);
  });

  it('workers idle in accept() with idle_timeout 1s are never touched over several scans, while a busy silent worker of the same pool is', async () => {
    const from = d.mark();
    const pids = (await statusOf(ctl)).pools.find((p) => p.name === 'idle')!.slots.map((s) => s.pid);
    expect(pids.every((p) => typeof p === 'number')).toBe(true);
    // Idle for more than four scans (SCAN_INTERVAL_MS is 1000) by the scoreboard's own clock.
    await poll('every idle-pool worker idle for over 4 s', async () => {
      const pool = await poolStatus(ctl, 'idle');
      return pool.slots.every((s) => s.activity === 'idle' && s.activity_ms! > 4000);
    });
    const pool = poolOf(await fcgictlStatus(processes, ctl), 'idle');
    expect(pool.slots.map((s) => s.pid)).toEqual(pids);
    expect(pool.slots.map((s) => [s.state, s.activity, s.restarts])).toEqual([
      ['running', 'idle', 0],
      ['running', 'idle', 0],
    ]);
    expect(pool.workers).toMatchObject({ busy: 0, idle: 2 });
    expect(pool.hung_kills).toBe(0);
    expect(hungLines(d, 'idle', from)).toEqual([]);

    // The same pool does stop a worker that holds a request in silence: the
    // timeout is armed, and the idle ones were spared for being idle.
    const fifo = mkfifo(scratch.path('idle.fifo'));
    const pidFile = scratch.path('idle.pid');
    const blocked = fastcgi(sock('idle'), FIFO_PHP, { PIDFILE: pidFile, FIFO: fifo }).catch((err: Error) => err);
    const pid = await pidFrom(pidFile);
    const { index } = await expectHungAndReplaced(d, 'idle', pid, from);
    await blocked;
    const other = pids.find((p) => p !== pid)!;
    expect((await poolStatus(ctl, 'idle')).slots.find((s) => s.slot !== index)!.pid).toBe(other);
  });

  it('a Node worker that holds another socket (a connection to a TCP server of the test) shows activity idle in fcgictl status --json', async () => {
    const pids = d.runningPids('holder');
    await poll('both holder workers connected to the upstream server', () => upstreamPeers.length >= 2);
    // The precondition, from /proc: each worker holds a TCP socket whose local
    // port is one the upstream server saw a client connect from.
    const clientPorts = new Set(upstreamPeers.map((s) => s.remotePort));
    const tcp = (readFileSync('/proc/net/tcp', 'utf8') + readFileSync('/proc/net/tcp6', 'utf8')).split('\n').slice(1);
    for (const pid of pids) {
      const held = socketInodes(pid);
      const upstreamConn = tcp.find((row) => {
        const f = row.trim().split(/\s+/);
        return f.length >= 10 && held.has(Number(f[9])) && clientPorts.has(parseInt(f[1]!.split(':')[1]!, 16));
      });
      expect(upstreamConn, `pid ${pid} holds no connection to the upstream server`).toBeDefined();
    }

    await poll('two scans of both holder workers', async () => (await poolStatus(ctl, 'holder')).slots.every((s) => s.activity !== null && s.activity_ms! > 2000));
    const pool = poolOf(await fcgictlStatus(processes, ctl), 'holder');
    expect(pool.slots.map((s) => s.activity)).toEqual(['idle', 'idle']);
    expect(pool.slots.map((s) => s.pid).sort()).toEqual([...pids].sort());
    expect(pool.workers).toMatchObject({ busy: 0, idle: 2 });
    expect(pool.hung_kills).toBe(0);

    const r = await fastcgi(sock('holder'), '/anything');
    expect(r.status).toBe(200);
    expect(pids).toContain(pidIn(r.body));
  });

  it('while one request is held, status --json shows workers.busy 1 and that slot busy; afterwards both idle', async () => {
    const fifo = mkfifo(scratch.path('counts.fifo'));
    const pidFile = scratch.path('counts.pid');
    const held = fastcgi(sock('counts'), FIFO_PHP, { PIDFILE: pidFile, FIFO: fifo });
    const pid = await pidFrom(pidFile);
    await poll('the counts pool showing one busy worker', async () => (await poolStatus(ctl, 'counts')).workers.busy === 1);

    const busy = poolOf(await fcgictlStatus(processes, ctl), 'counts');
    expect(busy.workers).toMatchObject({ running: 2, busy: 1, idle: 1 });
    expect(slotWithPid(busy, pid).activity).toBe('busy');
    expect(busy.slots.filter((s) => s.pid !== pid).map((s) => s.activity)).toEqual(['idle']);

    await release(fifo, 'go');
    const r = await held;
    expect(r.status).toBe(200);
    expect(r.body).toBe(`pid ${pid}\ngot go\n`);

    await poll('the counts pool idle again', async () => (await poolStatus(ctl, 'counts')).workers.idle === 2);
    const idle = poolOf(await fcgictlStatus(processes, ctl), 'counts');
    expect(idle.workers).toMatchObject({ running: 2, busy: 0, idle: 2 });
    expect(idle.slots.map((s) => s.activity)).toEqual(['idle', 'idle']);
    expect(slotWithPid(idle, pid).restarts).toBe(0);
  });

  it('fcgiwrap running a CGI script for a request is one busy worker, not a master: the script (its child, not holding the socket) is no server', async () => {
    const fifo = mkfifo(scratch.path('cgi.fifo'));
    const pidFile = scratch.path('cgi.pid');
    const held = fastcgi(sock('cgi'), FIFO_CGI, { PIDFILE: pidFile, FIFO: fifo });
    const script = await pidFrom(pidFile);
    await poll('the cgi pool showing one busy worker', async () => (await poolStatus(ctl, 'cgi')).workers.busy === 1);
    const pool = poolOf(await fcgictlStatus(processes, ctl), 'cgi');
    expect(pool.workers).toMatchObject({ running: 2, busy: 1, idle: 1 });
    expect(pool.slots.map((s) => s.processes)).toEqual([undefined, undefined]);
    expect(pool.slots.map((s) => s.pid)).not.toContain(script);
    await release(fifo, 'go');
    expect((await held).body).toBe(`pid ${script}\ngot go\n`);
  });

  /** The forked pool's master slot once a scan has seen its 3 children; their pids. */
  async function forkedChildren(): Promise<{ master: number; children: number[] }> {
    const slot = await poll('the php-cgi master\'s 3 children in status', async () => {
      const s = (await poolStatus(ctl, 'forked')).slots[0]!;
      return s.processes?.length === 3 && s.processes.every((c) => c.activity === 'idle') ? s : null;
    });
    return { master: slot.pid!, children: slot.processes!.map((c) => c.pid) };
  }

  it('a php-cgi master with PHP_FCGI_CHILDREN=3: status lists its 3 children one by one and counts them as 3 idle workers; the children answer, never the master', async () => {
    const { master, children } = await forkedChildren();
    expect(children).not.toContain(master);
    const pool = poolOf(await fcgictlStatus(processes, ctl), 'forked');
    expect(pool.workers).toMatchObject({ wanted: 1, running: 1, busy: 0, idle: 3 });
    expect(pool.slots[0]!.activity).toBe('idle');
    const served = await Promise.all([1, 2, 3, 4, 5, 6].map(() => fastcgi(sock('forked'), PID_PHP)));
    for (const r of served) {
      expect(r.status).toBe(200);
      expect(children).toContain(pidIn(r.body));
    }
  });

  it('one child of that master holding a request: the slot reads busy, the pool 1 busy and 2 idle, and the table says "master, 1/3 busy" with a line per child', async () => {
    const { children } = await forkedChildren();
    const fifo = mkfifo(scratch.path('forked.fifo'));
    const pidFile = scratch.path('forked-held.pid');
    const held = fastcgi(sock('forked'), FIFO_PHP, { PIDFILE: pidFile, FIFO: fifo });
    const pid = await pidFrom(pidFile);
    expect(children).toContain(pid);
    await poll('the forked pool showing one busy child', async () => (await poolStatus(ctl, 'forked')).workers.busy === 1);

    const pool = poolOf(await fcgictlStatus(processes, ctl), 'forked');
    expect(pool.workers).toMatchObject({ busy: 1, idle: 2 });
    const slot = pool.slots[0]!;
    expect(slot.activity).toBe('busy');
    expect(slot.processes!.find((c) => c.pid === pid)!.activity).toBe('busy');
    const table = await fcgictl(processes, ['-s', ctl, 'status', 'forked']);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/master, 1\/3 busy/);
    for (const c of children) expect(table.stdout).toMatch(new RegExp(`child\\s+${c}\\s`));

    await release(fifo, 'go');
    expect((await held).body).toBe(`pid ${pid}\ngot go\n`);
  });

  it('a hung child of that master (idle_timeout 2s): that child alone is stopped and logged with its master; the master keeps its pid and forks another; the pool keeps serving', async () => {
    const { master, children } = await forkedChildren();
    const from = d.mark();
    const pidFile = scratch.path('forked-hang.pid');
    const hanging = fastcgi(sock('forked'), HANG_PHP, { PIDFILE: pidFile }).catch((err: Error) => err);
    const pid = await pidFrom(pidFile);
    expect(children).toContain(pid);

    const line = await d.waitForLog((l) => l.pool === 'forked' && l.child === pid, from);
    expect(line.level).toBe(LEVEL.warn);
    expect(line.reason).toBe('hung');
    expect(line.msg).toMatch(new RegExp(`^worker forked/0 pid ${master}: its child pid ${pid} is hung: busy for .* with no I/O progress .*; its master starts another$`));
    await hanging;
    await poll(`child ${pid} gone`, () => !isRunning(pid));

    const after = await forkedChildren();
    expect(after.master).toBe(master);
    expect(after.children).not.toContain(pid);
    const pool = poolOf(await fcgictlStatus(processes, ctl), 'forked');
    expect(pool.hung_kills).toBe(1);
    expect(pool.slots[0]!.restarts).toBe(0);
    // The master itself was never stopped or restarted.
    expect(d.lines.slice(from).filter((l) => l.pool === 'forked' && l.pid === master && typeof l.uptime_ms === 'number')).toEqual([]);
    const r = await fastcgi(sock('forked'), PID_PHP);
    expect(after.children).toContain(pidIn(r.body));
  });

  it('the master SIGKILLed: its orphaned children are stopped (they would go on accepting unsupervised), and the new master\'s children serve', async () => {
    const { master, children } = await forkedChildren();
    const from = d.mark();
    process.kill(master, 'SIGKILL');
    const line = await d.waitForLog((l) => l.pool === 'forked' && l.pgid === master, from);
    expect(line.level).toBe(LEVEL.warn);
    expect(line.msg).toBe(`worker forked/0: processes of its process group ${master} outlived it; sending them SIGTERM (SIGKILL after 1.0s)`);
    await poll('the old children gone', () => children.every((c) => !isRunning(c)));
    const after = await forkedChildren();
    expect(after.master).not.toBe(master);
    for (const c of after.children) expect(children).not.toContain(c);
    const served = await Promise.all([1, 2, 3].map(() => fastcgi(sock('forked'), PID_PHP)));
    for (const r of served) expect(after.children).toContain(pidIn(r.body));
  });

  /**
   * The accept queue of pool `name` (one worker) on `address`: 0 when nothing
   * waits; 2 while its only worker holds a request and two more connections
   * wait; 0 again once they are served, each by that worker.
   */
  async function expectQueueCounted(name: string, address: string): Promise<void> {
    await poll(`a scan of pool ${name}`, async () => (await poolStatus(ctl, name)).slots[0]!.activity === 'idle');
    const quiet = poolOf(await fcgictlStatus(processes, ctl), name);
    expect(quiet.listen).toBe(address);
    expect(quiet.queue).toBe(0);

    const fifo = mkfifo(scratch.path(`${name}.fifo`));
    const pidFile = scratch.path(`${name}.pid`);
    const held = fastcgi(address, FIFO_PHP, { PIDFILE: pidFile, FIFO: fifo });
    const pid = await pidFrom(pidFile);
    // Two more requests: the only worker is busy, so they wait in the backlog.
    const waiting = [fastcgi(address, PID_PHP), fastcgi(address, PID_PHP)];
    await poll(`two connections in the accept queue of pool ${name}`, async () => (await poolStatus(ctl, name)).queue === 2);

    const busy = poolOf(await fcgictlStatus(processes, ctl), name);
    expect(busy.queue).toBe(2);
    expect(busy.workers).toMatchObject({ busy: 1, idle: 0 });
    expect(slotWithPid(busy, pid).activity).toBe('busy');

    await release(fifo, 'go');
    expect((await held).status).toBe(200);
    for (const r of await Promise.all(waiting)) {
      expect(r.status).toBe(200);
      expect(pidIn(r.body)).toBe(pid);
    }
    await poll(`pool ${name} drained`, async () => {
      const pool = await poolStatus(ctl, name);
      return pool.queue === 0 && pool.slots[0]!.activity === 'idle';
    });
    expect(poolOf(await fcgictlStatus(processes, ctl), name).queue).toBe(0);
  }

  it.each([
    { pool: 'tcp', host: '127.0.0.1' },
    { pool: 'tcp6', host: '[::1]' },
  ])('TCP pool on $host: queue is 0 when nothing waits, counts connections in the accept queue while the only worker is busy, and drains', ({ pool: name, host }) =>
    expectQueueCounted(name, `tcp://${host}:${tcpPorts[name]}`),
  );

  it('unix pool: queue is 0 when nothing waits, counts the connections waiting to be accepted while the only worker is busy (inode 0 under the listener\'s path in /proc/net/unix), and drains', () =>
    expectQueueCounted('unixq', sock('unixq')));
});

// ---------------------------------------------------------------------------
// Flask under uWSGI: a Python handler that blocks.

const noFlask = missingFlask();

describe.skipIf(noFlask !== null)('idle_timeout with Flask under uWSGI on fd 0', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  let address: string;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-scoreboard-flask-');
    ctl = scratch.path('flask.ctl');
    address = `unix:${scratch.path('flask.sock')}`;
    const config = writeConfig(scratch, 'flask', {
      pools: { flask: flaskPool(BLOCK_PY, address, { workers: 2, idle_timeout: '2s', stop_timeout: '1s' }) },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('flask', 2);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  const flask = (path: string, extra: Record<string, string> = {}): Promise<{ status: number; body: string }> =>
    fastcgi(address, '', { SCRIPT_NAME: '', PATH_INFO: path, REQUEST_URI: path, ...extra });

  it.each([
    { path: '/sleep', what: 'time.sleep(60)' },
    { path: '/read', what: 'a blocking read on a pipe nobody writes to' },
  ])('a handler in $what is hung after idle_timeout 2s: killed and replaced', async ({ path }) => {
    const from = d.mark();
    const killsBefore = (await poolStatus(ctl, 'flask')).hung_kills;
    const pidFile = scratch.path(`flask${path.replace('/', '-')}.pid`);
    const blocked = flask(path, { PIDFILE: pidFile }).catch((err: Error) => err);
    const pid = await pidFrom(pidFile);

    const { index, replacement } = await expectHungAndReplaced(d, 'flask', pid, from);
    await blocked;
    const pool = poolOf(await fcgictlStatus(processes, ctl), 'flask');
    expect(pool.hung_kills).toBe(killsBefore + 1);
    expect(pool.slots.find((s) => s.slot === index)).toMatchObject({ pid: replacement, state: 'running', last_exit: { pid, reason: 'hung' } });

    const r = await flask('/pid');
    expect(r.status).toBe(200);
    expect(d.runningPids('flask')).toContain(pidIn(r.body));
  });
});

// ---------------------------------------------------------------------------
// nginx keeping its FastCGI connection open between requests.

describe.skipIf(missingPeers('nginx', 'php-cgi') !== null)('a php-cgi worker holding nginx\'s kept connection (fastcgi_keep_conn on, upstream keepalive)', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  let port: number;
  let nginx: Started;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-scoreboard-nginx-');
    ctl = scratch.path('keep.ctl');
    const sockPath = scratch.path('keep.sock');
    const config = writeConfig(scratch, 'keep', {
      pools: { keep: phpPool(`unix:${sockPath}`, { workers: 2, idle_timeout: '2s', stop_timeout: '1s' }) },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('keep', 2);

    ({ port, proc: nginx } = await startNginx(
      processes,
      scratch,
      [{ prefix: '/', upstream: 'keep', keepConn: true, params: { SCRIPT_NAME: '/pid.php', SCRIPT_FILENAME: PID_PHP } }],
      { upstreams: [{ name: 'keep', server: `unix:${sockPath}`, keepalive: 4 }] },
    ));
  });

  afterAll(async () => {
    if (nginx) await processes.stop(nginx);
    await tearDown(processes, scratch, [d]);
  });

  const get = (path: string): Promise<{ status: number; body: string }> => nginxGet(port, path);

  it('between requests the worker is "waiting", not busy, and is not killed past 2× idle_timeout; the kept connection still serves', async () => {
    const from = d.mark();
    const served: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await get(`/r${i}`);
      expect(r.status, r.body).toBe(200);
      served.push(pidIn(r.body));
    }
    // One kept connection, reused: every request reached the same worker.
    expect(new Set(served).size).toBe(1);
    const pid = served[0]!;

    await poll('the worker holding the kept connection reported waiting', async () => {
      const pool = await poolStatus(ctl, 'keep');
      return pool.slots.some((s) => s.pid === pid && s.activity === 'waiting');
    });
    const waiting = poolOf(await fcgictlStatus(processes, ctl), 'keep');
    expect(slotWithPid(waiting, pid).activity).toBe('waiting');
    expect(waiting.workers).toMatchObject({ busy: 0, idle: 2 });

    // Well past 2 × idle_timeout in that state, by the scoreboard's clock.
    await poll('the kept connection held for over 5 s', async () => {
      const slot = (await poolStatus(ctl, 'keep')).slots.find((s) => s.pid === pid);
      if (!slot || slot.activity !== 'waiting') throw new Error(`worker ${pid} is no longer waiting: ${JSON.stringify(slot)}`);
      return slot.activity_ms! > 5000;
    });
    const later = poolOf(await fcgictlStatus(processes, ctl), 'keep');
    expect(slotWithPid(later, pid)).toMatchObject({ state: 'running', activity: 'waiting', restarts: 0 });
    expect(later.hung_kills).toBe(0);
    expect(hungLines(d, 'keep', from)).toEqual([]);
    expect(isRunning(pid)).toBe(true);

    const again = await get('/again');
    expect(again.status).toBe(200);
    expect(pidIn(again.body)).toBe(pid);
  });
});
