// The real `fcgid start` with real workers: php-cgi, fcgiwrap, Flask under
// uWSGI (all on fd 0) and a Node worker on fd 3, reached through nginx; crashes
// and recovery with connections waiting in the backlog; boot failures, stubborn
// workers, SIGTERM and SIGKILL of the daemon and the orphan sweep; socket
// permissions and descriptor hygiene; config and address errors. Each daemon
// runs on a config written to a Scratch dir (control socket and worker registry
// included) and is followed through its JSON log (test/helpers/daemon.ts).

import type { StdioOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cgiParams } from '../../src/fastcgi/index.js';
import { fastcgiOnce, pidIn } from '../helpers/control.js';
import {
  FCGID_BIN,
  Fcgid,
  LEVEL,
  O_NONBLOCK,
  fdFlags,
  fdTargets,
  flaskPool,
  isRunning,
  lineTime,
  processStart,
  phpPool,
  registryFile,
  tearDown,
  unixListenerInode,
  writeConfig,
} from '../helpers/daemon.js';
import { nginxGet, startNginx, type FastCGILocation } from '../helpers/nginx.js';
import { Processes, Scratch, freePort, missingFlask, missingPeers, run, runToEnd } from '../helpers/peers.js';

const HOST = '127.0.0.1';
const FIXTURES = fileURLToPath(new URL('../fixtures/daemon/', import.meta.url));
const HELLO = fileURLToPath(new URL('../../examples/hello.mjs', import.meta.url));
const PID_PHP = join(FIXTURES, 'pid.php');
const PID_SH = join(FIXTURES, 'pid.sh');
const PID_PY = join(FIXTURES, 'pid.py');

// ---------------------------------------------------------------------------
// Plumbing.

/** One request to a php-cgi pool, straight over FastCGI on a fresh connection. */
async function phpPid(address: string): Promise<{ status: number; pid: number }> {
  const r = await fastcgiOnce(address, cgiParams({ url: '/pid.php', scriptFilename: PID_PHP, documentRoot: FIXTURES }));
  return { status: r.status, pid: pidIn(r.body) };
}

/** Resolves once /proc/<pid>/stat shows `state` (T: stopped). */
async function untilState(pid: number, state: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] === state) return;
    if (Date.now() > deadline) throw new Error(`pid ${pid} not in state ${state} after ${timeoutMs} ms: ${stat}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function uid(name: string): number {
  return Number(run('id', ['-u', name]).stdout.trim());
}

function gid(group: string): number {
  return Number(run('getent', ['group', group]).stdout.split(':')[2]);
}

/** Sockets and pipes are the descriptors two processes can share by inode; paths like /dev/null say nothing. */
function sharedInodes(targets: Map<number, string>): Map<number, string> {
  return new Map([...targets].filter(([, t]) => /^(socket|pipe):\[\d+\]$/.test(t)));
}

/** One nginx location per pool of the web test, with the params each kind of worker needs. */
function webLocations(sock: (pool: string) => string): FastCGILocation[] {
  return [
    { prefix: '/php/', socket: sock('php'), params: { SCRIPT_NAME: '/pid.php', SCRIPT_FILENAME: PID_PHP } },
    { prefix: '/cgi/', socket: sock('cgi'), params: { SCRIPT_NAME: '/pid.sh', SCRIPT_FILENAME: PID_SH } },
    { prefix: '/flask/', socket: sock('flask'), params: { SCRIPT_NAME: '""', PATH_INFO: '$uri' } },
    { prefix: '/node/', socket: sock('node'), params: { SCRIPT_NAME: '$uri' } },
  ];
}

// ---------------------------------------------------------------------------
// 1, 2, 5: four kinds of worker behind nginx, one daemon.

const noWebPeers = missingPeers('nginx', 'php-cgi', 'fcgiwrap', 'uwsgi') ?? missingFlask();

describe.skipIf(noWebPeers !== null)('fcgid with php-cgi, fcgiwrap, Flask under uWSGI and a Node worker, behind nginx', () => {
  const processes = new Processes();
  let scratch: Scratch;
  const sock = (pool: string): string => scratch.path(`${pool}.sock`);
  const marker = (): string => scratch.path('inherited-marker');
  let d: Fcgid;
  let httpPort: number;
  const WORKERS = 2;
  const REQUESTS = 16;
  const INHERITED_FD = 40;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-daemon-web-');
    const config = writeConfig(scratch, 'web', {
      pools: {
        php: phpPool(`unix:${sock('php')}`, { workers: WORKERS, socket_mode: '0660', socket_owner: 'nobody', socket_group: 'nogroup' }),
        cgi: { command: ['fcgiwrap'], listen: `unix:${sock('cgi')}`, workers: WORKERS, start_secs: '300ms' },
        flask: flaskPool(PID_PY, `unix:${sock('flask')}`, { workers: WORKERS }),
        node: { command: [process.execPath, HELLO], listen: `unix:${sock('node')}`, socket_fd: 3, workers: WORKERS, start_secs: '300ms' },
      },
    });
    // A descriptor the daemon inherits without close-on-exec, as from a careless
    // parent: it must not reach any worker. Above 15, because Node itself marks
    // inherited fds 3-15 close-on-exec at start-up (uv_disable_stdio_inheritance).
    writeFileSync(marker(), '');
    const markerFd = openSync(marker(), 'r');
    const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...Array<'ignore'>(INHERITED_FD - 3).fill('ignore'), markerFd];
    try {
      d = new Fcgid(processes, config, { stdio });
    } finally {
      closeSync(markerFd);
    }
    await Promise.all(['php', 'cgi', 'flask', 'node'].map((pool) => d.waitForRunning(pool, WORKERS)));
    // "running": the daemon holds every socket again (its first workers start
    // while the listen helper has them; see src/host/listeners.ts).
    await d.waitForLog((l) => /^fcgid \S+ running /.test(l.msg));

    httpPort = (await startNginx(processes, scratch, webLocations(sock))).port;
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  describe.each([
    { pool: 'php', what: 'php-cgi on fd 0 (getmypid())' },
    { pool: 'cgi', what: 'fcgiwrap on fd 0 (the CGI script prints $PPID)' },
    { pool: 'flask', what: 'Flask under uWSGI --protocol=fastcgi on fd 0 (os.getpid())' },
    { pool: 'node', what: 'examples/hello.mjs on fd 3 (process.pid)' },
  ])('$what', ({ pool }) => {
    it(`${REQUESTS} requests through nginx are each answered by one of the pool's worker processes, never by the daemon`, async () => {
      const replies = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => nginxGet(httpPort, `/${pool}/r${i}`)));
      const workers = d.runningPids(pool);
      const children = d.childPids();
      expect(workers).toHaveLength(WORKERS);
      for (const r of replies) {
        expect(r.status, r.body).toBe(200);
        const pid = pidIn(r.body);
        expect(pid).not.toBe(d.pid);
        expect(workers).toContain(pid);
        expect(children).toContain(pid);
      }
    });
  });

  it('libfcgi workers (php-cgi, fcgiwrap) see their fd 0 in blocking mode (DESIGN.md §5)', () => {
    for (const pool of ['php', 'cgi']) {
      for (const pid of d.runningPids(pool)) {
        const flags = fdFlags(pid, 0);
        expect({ pool, pid, nonblock: (flags & O_NONBLOCK) !== 0 }).toEqual({ pool, pid, nonblock: false });
        expect(fdTargets(pid).get(0)).toBe(`socket:[${unixListenerInode(sock(pool))}]`);
      }
    }
  });

  it('socket_mode "0660", socket_owner nobody, socket_group nogroup: the socket file has that mode and owner', () => {
    const st = statSync(sock('php'));
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe('660');
    expect(st.uid).toBe(uid('nobody'));
    expect(st.gid).toBe(gid('nogroup'));
  });

  it('a php-cgi worker holds no descriptor of the daemon but the socket on fd 0, and not the one the daemon inherited', () => {
    const daemonShared = new Set(sharedInodes(fdTargets(d.pid)).values());
    const inode = unixListenerInode(sock('php'));
    expect(inode).not.toBeNull();
    // The daemon closed the inherited, non-close-on-exec descriptor at start-up.
    expect([...fdTargets(d.pid).values()]).not.toContain(marker());
    expect(d.lines.some((l) => /descriptor\(s\) inherited/.test(l.msg) && (l.fds as number[]).includes(INHERITED_FD))).toBe(true);
    for (const pid of d.runningPids('php')) {
      const fds = fdTargets(pid);
      expect([...fds.values()]).not.toContain(marker());
      const shared = [...sharedInodes(fds)].filter(([, t]) => daemonShared.has(t));
      expect(shared).toEqual([[0, `socket:[${inode}]`]]);
      // Besides 0-2, php-cgi opens only files of its own (its opcache lock file), no socket or pipe.
      expect([...sharedInodes(fds).keys()].filter((fd) => fd > 2)).toEqual([]);
    }
  });

  it('an fcgiwrap worker has exactly fds 0, 1, 2', () => {
    for (const pid of d.runningPids('cgi')) expect([...fdTargets(pid).keys()].sort((a, b) => a - b)).toEqual([0, 1, 2]);
  });

  it('a Node worker has the socket on fd 3 (FCGID_LISTEN_FD) and no other descriptor of the daemon', () => {
    const daemonShared = new Set(sharedInodes(fdTargets(d.pid)).values());
    const inode = unixListenerInode(sock('node'));
    for (const pid of d.runningPids('node')) {
      const fds = fdTargets(pid);
      expect(fds.get(3)).toBe(`socket:[${inode}]`);
      expect(fds.get(0)).toBe('/dev/null');
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('FCGID_LISTEN_FD=3');
      expect([...fds.values()]).not.toContain(marker());
      const shared = [...sharedInodes(fds)].filter(([, t]) => daemonShared.has(t));
      expect(shared).toEqual([[3, `socket:[${inode}]`]]);
    }
  });

  it('kill -9 of one php-cgi worker: logged as crashed, a replacement with a new pid starts and serves', async () => {
    const before = await d.waitForRunning('php', WORKERS);
    const victim = before[0]!;
    const m = d.mark();
    process.kill(victim, 'SIGKILL');
    const crashed = await d.waitForLog((l) => l.pool === 'php' && l.pid === victim && l.reason === 'crashed', m);
    expect(crashed.signal).toBe('SIGKILL');
    expect(crashed.msg).toMatch(/was killed by SIGKILL .*restarting now/);
    const replacement = await d.waitForLog((l) => l.pool === 'php' && l.slot === undefined && `php/${l.worker}` === crashed.slot && l.to === 'starting', m);
    const fresh = replacement.pid as number;
    expect(fresh).not.toBe(victim);
    expect(before).not.toContain(fresh);
    expect(isRunning(victim)).toBe(false);
    // Blocking accept() waiters take turns, so the new worker answers within a few requests.
    const seen: number[] = [];
    for (let i = 0; i < 40 && !seen.includes(fresh); i++) {
      const r = await phpPid(`unix:${sock('php')}`);
      expect(r.status).toBe(200);
      seen.push(r.pid);
    }
    expect(seen).toContain(fresh);
    expect(seen).not.toContain(victim);
  });

  it('every php-cgi worker killed at once: requests made meanwhile wait in the backlog and all get 200 from the new workers', async () => {
    const old = await d.waitForRunning('php', WORKERS);
    const m = d.mark();
    // Freeze the workers first: a worker SIGKILLed while blocked in accept() can
    // still take a connection that arrives in that instant and die with it
    // (ECONNRESET, seen here). A stopped process accepts nothing and dies at once.
    for (const pid of old) process.kill(pid, 'SIGSTOP');
    await Promise.all(old.map((pid) => untilState(pid, 'T')));
    const queued = Array.from({ length: 8 }, () => phpPid(`unix:${sock('php')}`));
    for (const pid of old) process.kill(pid, 'SIGKILL');
    // And right after the kills, while no worker is alive yet.
    const meanwhile = Array.from({ length: 8 }, () => phpPid(`unix:${sock('php')}`));
    const results = await Promise.allSettled([...queued, ...meanwhile]);
    for (const pid of old) await d.waitForLog((l) => l.pid === pid && l.reason === 'crashed', m);
    const fresh = await d.waitForRunning('php', WORKERS);
    for (const r of results) {
      expect(r.status, r.status === 'rejected' ? String(r.reason) : '').toBe('fulfilled');
      if (r.status !== 'fulfilled') continue;
      expect(r.value.status).toBe(200);
      expect(old).not.toContain(r.value.pid);
      expect(fresh).toContain(r.value.pid);
    }
  });
});

// ---------------------------------------------------------------------------
// 3: workers that die at boot, workers that ignore SIGTERM.

describe('workers that crash at boot or ignore SIGTERM', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;

  beforeAll(() => {
    scratch = new Scratch('fcgid-daemon-crash-');
    const config = writeConfig(scratch, 'crash', {
      pools: {
        boom: {
          command: ['sh', '-c', 'echo boom >&2; exit 3'],
          listen: `unix:${scratch.path('boom.sock')}`,
          start_retries: 3,
          start_secs: '1s',
        },
        stubborn: {
          // SIG_IGN survives exec, so sleep ignores SIGTERM too; it holds fd 0 meanwhile.
          command: ['sh', '-c', 'trap "" TERM; exec sleep 600'],
          listen: `unix:${scratch.path('stubborn.sock')}`,
          start_secs: '200ms',
          stop_timeout: '500ms',
          // The program's own shutdown, which this one refuses (a lossless freeze would end it at once).
          stop_mode: 'signal',
        },
      },
    });
    d = new Fcgid(processes, config);
  });

  afterAll(async () => {
    d?.killWorkers();
    await processes.killAll();
    scratch?.remove();
  });

  it('a worker that exits at boot: backoff lines, then a fatal line that carries its stderr ("boom")', async () => {
    const fatal = await d.waitForLog((l) => l.pool === 'boom' && l.level === LEVEL.error);
    const at = d.lines.indexOf(fatal);
    const backoffs = d.lines.slice(0, at).filter((l) => l.pool === 'boom' && l.level === LEVEL.warn);
    expect(backoffs.map((l) => l.msg.replace(/^.*(restarting in \d+ms \(attempt \d of \d\))$/, '$1').replace(/\d+ms/, 'Nms'))).toEqual([
      'restarting in Nms (attempt 2 of 3)',
      'restarting in Nms (attempt 3 of 3)',
    ]);
    for (const l of backoffs) {
      expect(l).toMatchObject({ code: 3, reason: 'exited early' });
      expect(l.delay_ms).toBeGreaterThan(0);
    }
    expect(fatal).toMatchObject({ code: 3, reason: 'exited early', failures: 3 });
    expect(fatal.msg).toMatch(/giving up after 3 early deaths in a row: slot is fatal/);
    expect(fatal.msg).toContain('boom');
    expect(fatal.stderr_tail).toContain('boom');
    expect(d.slots.get('boom/0')?.state).toBe('fatal');
  });

  it('a worker that ignores SIGTERM is SIGKILLed after stop_timeout when the daemon stops; the daemon exits 0', async () => {
    const [pid] = await d.waitForRunning('stubborn', 1);
    const m = d.mark();
    process.kill(d.pid, 'SIGTERM');
    const term = await d.waitForLog((l) => l.signal === 'SIGTERM' && /^received SIGTERM/.test(l.msg), m);
    const kill = await d.waitForLog((l) => l.pool === 'stubborn' && l.level === LEVEL.warn, m);
    expect(kill.msg).toMatch(new RegExp(`pid ${pid} still alive 500ms after SIGTERM; sending SIGKILL`));
    // It waited for stop_timeout rather than killing at once (a lower bound only).
    expect(lineTime(kill) - lineTime(term)).toBeGreaterThanOrEqual(450);
    const gone = await d.waitForLog((l) => l.pool === 'stubborn' && l.pid === pid && l.reason !== undefined, m);
    expect(gone).toMatchObject({ signal: 'SIGKILL', reason: 'stopped by fcgid' });
    expect(await d.exited).toBe(0);
    expect(isRunning(pid!)).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// 4: stopping the daemon, and what a SIGKILLed daemon leaves behind.

describe.skipIf(missingPeers('php-cgi') !== null)('stopping the daemon', () => {
  const processes = new Processes();
  let scratch: Scratch;
  const started: Fcgid[] = [];

  /** A config `name` with one 2-worker php-cgi pool on `<name>.sock`. */
  function phpConfig(name: string): string {
    return writeConfig(scratch, name, { pools: { php: phpPool(`unix:${scratch.path(`${name}.sock`)}`, { workers: 2 }) } });
  }

  function daemon(config: string): Fcgid {
    const d = new Fcgid(processes, config);
    started.push(d);
    return d;
  }

  afterEach(async () => {
    for (const d of started.splice(0)) d.killWorkers();
    await processes.killAll();
  });

  beforeAll(() => {
    scratch = new Scratch('fcgid-daemon-stop-');
  });
  afterAll(() => scratch?.remove());

  it('SIGTERM: exit status 0, no worker left alive, the socket file and the worker registry removed', async () => {
    const d = daemon(phpConfig('term'));
    const pids = await d.waitForRunning('php', 2);
    const registry = JSON.parse(readFileSync(registryFile(scratch, 'term'), 'utf8')) as { daemon: { pid: number }; workers: Array<{ pid: number }> };
    expect(registry.daemon.pid).toBe(d.pid);
    expect(registry.workers.map((r) => r.pid).sort()).toEqual([...pids].sort());
    process.kill(d.pid, 'SIGTERM');
    expect(await d.exited).toBe(0);
    for (const pid of pids) expect(isRunning(pid)).toBe(false);
    expect(existsSync(scratch.path('term.sock'))).toBe(false);
    expect(existsSync(registryFile(scratch, 'term'))).toBe(false);
  });

  it('SIGKILL, then start again: the leftovers are found and stopped, and the new daemon serves on the same address', async () => {
    const config = phpConfig('orphan');
    const sockPath = scratch.path('orphan.sock');
    const first = daemon(config);
    const old = await first.waitForRunning('php', 2);
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    // What makes the sweep necessary: the workers outlive their supervisor.
    for (const pid of old) expect(isRunning(pid)).toBe(true);

    const second = daemon(config);
    const found = await second.waitForLog((l) => /left running by a previous fcgid/.test(l.msg));
    expect(found.level).toBe(LEVEL.warn);
    expect([...(found.pids as number[])].sort()).toEqual([...old].sort());
    await second.waitForLog((l) => /^fcgid \S+ running 1 pool/.test(l.msg));
    for (const pid of old) expect(isRunning(pid)).toBe(false);
    const fresh = await second.waitForRunning('php', 2);
    const r = await phpPid(`unix:${sockPath}`);
    expect(r.status).toBe(200);
    expect(fresh).toContain(r.pid);
    expect(old).not.toContain(r.pid);

    process.kill(second.pid, 'SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('regression: a TCP pool named by host (tcp://localhost:PORT) had its leftovers spared (the record said localhost, /proc said 127.0.0.1), and the next start could not bind; now they are stopped', async () => {
    const port = await freePort();
    const config = writeConfig(scratch, 'tcphost', { pools: { php: phpPool(`tcp://localhost:${port}`, { workers: 2 }) } });
    const first = daemon(config);
    const old = await first.waitForRunning('php', 2);
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    const second = daemon(config);
    const found = await second.waitForLog((l) => /left running by a previous fcgid/.test(l.msg));
    expect([...(found.pids as number[])].sort()).toEqual([...old].sort());
    await second.waitForRunning('php', 2);
    for (const pid of old) expect(isRunning(pid)).toBe(false);
    process.kill(second.pid, 'SIGTERM');
    expect(await second.exited).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// A TCP listener (regression: the listen helper used to report ERR_NO_HANDLE for
// every TCP address, because listen() on a host resolves it before binding).

describe.skipIf(missingPeers('php-cgi') !== null)('a pool on a TCP address', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid | undefined;

  beforeAll(() => {
    scratch = new Scratch('fcgid-daemon-tcp-');
  });

  afterAll(async () => {
    d?.killWorkers();
    await processes.killAll();
    scratch?.remove();
  });

  it('php-cgi on tcp://127.0.0.1:PORT serves, with fd 0 blocking', async () => {
    const port = await freePort();
    const config = writeConfig(scratch, 'tcp', {
      pools: { php: phpPool(`tcp://${HOST}:${port}`, { workers: 1 }) },
    });
    d = new Fcgid(processes, config);
    const [pid] = await d.waitForRunning('php', 1);
    expect(fdFlags(pid!, 0) & O_NONBLOCK).toBe(0);
    const r = await phpPid(`tcp://${HOST}:${port}`);
    expect(r.status).toBe(200);
    expect(r.pid).toBe(pid);
    process.kill(d.pid, 'SIGTERM');
    expect(await d.exited).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// 6: configs and addresses the daemon must refuse.

describe('refusing to start', () => {
  const processes = new Processes();
  let scratch: Scratch;

  beforeAll(() => {
    scratch = new Scratch('fcgid-daemon-refuse-');
  });
  afterEach(() => processes.killAll());
  afterAll(() => scratch?.remove());

  const fcgid = (...args: string[]) => runToEnd(processes, process.execPath, [FCGID_BIN, ...args]);

  function badConfig(): string {
    const file = scratch.path('bad.yaml');
    writeFileSync(
      file,
      [
        'control:',
        `  socket: ${scratch.path('bad.ctl')}`,
        'pools:',
        '  app:',
        '    command: [php-cgi]',
        `    listen: unix:${scratch.path('bad.sock')}`,
        '    wokers: 2',
        '',
      ].join('\n'),
    );
    return file;
  }

  it('fcgid check: a misspelt key exits 2 with file:line and the nearest valid key', async () => {
    const r = await fcgid('check', '-c', badConfig());
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bad\.yaml:7: .*wokers.*workers/m);
    expect(r.stdout).toBe('');
  });

  it('fcgid start with the same config exits 2 and starts nothing', async () => {
    const r = await fcgid('start', '-c', badConfig());
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bad\.yaml:7: .*wokers/m);
    expect(r.stderr).toMatch(/nothing was started/);
    expect(r.stdout).toBe('');
    expect(existsSync(scratch.path('bad.sock'))).toBe(false);
    expect(existsSync(registryFile(scratch, 'bad'))).toBe(false);
  });

  it('fcgid start with a user that does not exist exits 2 and starts nothing', async () => {
    const config = writeConfig(scratch, 'nouser', {
      pools: { app: { command: ['sleep', '600'], listen: `unix:${scratch.path('nouser.sock')}`, user: 'no-such-user-fcgid' } },
    });
    const r = await fcgid('start', '-c', config);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no such user "no-such-user-fcgid"');
    expect(existsSync(scratch.path('nouser.sock'))).toBe(false);
    expect(existsSync(registryFile(scratch, 'nouser'))).toBe(false);
  });

  it('a worker registry whose fcgid still runs (control socket not open yet, or removed): start fails and touches none of its workers', async () => {
    // Stand-ins with real pids and start times: the "daemon" and its "worker".
    const owner = processes.start('sleep', ['600']);
    const worker = processes.start('sleep', ['600']);
    const record = (pid: number) => ({ pid, start: processStart(pid) });
    writeFileSync(
      registryFile(scratch, 'owned'),
      JSON.stringify({ daemon: record(owner.pid), workers: [{ ...record(worker.pid), pool: 'app', stop_signal: 'SIGTERM', stop_timeout: 1000 }] }),
    );
    const config = writeConfig(scratch, 'owned', { pools: { app: { command: ['sleep', '600'], listen: `unix:${scratch.path('owned.sock')}` } } });
    const r = await fcgid('start', '-c', config);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `fcgid: another fcgid (pid ${owner.pid}) is running this config; its workers are recorded in ${registryFile(scratch, 'owned')}; stop it first (kill -TERM ${owner.pid})\n`,
    );
    expect(isRunning(worker.pid)).toBe(true);
    expect(existsSync(scratch.path('owned.sock'))).toBe(false);
    expect(r.stdout).not.toMatch(/starting \d+ worker/);
  });

  it('a unix socket path where another process listens: start fails with a clear message and leaves that socket alone', async () => {
    const path = scratch.path('taken.sock');
    let accepted = 0;
    const other = net.createServer((s) => {
      accepted++;
      s.destroy();
    });
    await new Promise<void>((resolve) => other.listen(path, resolve));
    try {
      const inode = statSync(path).ino;
      const config = writeConfig(scratch, 'taken', {
        pools: { app: { command: ['sleep', '600'], listen: `unix:${path}` } },
      });
      const r = await fcgid('start', '-c', config);
      expect(r.status).not.toBe(0);
      expect(typeof r.status).toBe('number');
      expect(r.stderr).toContain(`cannot listen on unix:${path}: something is listening there already`);
      expect(r.stdout).not.toMatch(/starting \d+ worker/);
      expect(existsSync(registryFile(scratch, 'taken'))).toBe(false);
      // The other process's socket is where it was and still answers.
      expect(statSync(path).ino).toBe(inode);
      const before = accepted;
      await new Promise<void>((resolve, reject) => net.connect(path, resolve).on('error', reject));
      await new Promise<void>((resolve) => (accepted > before ? resolve() : other.once('connection', () => resolve())));
      expect(accepted).toBe(before + 1);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it('a TCP port another process listens on: start fails with EADDRINUSE and a hint', async () => {
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(0, HOST, resolve));
    const port = (other.address() as net.AddressInfo).port;
    try {
      const config = writeConfig(scratch, 'port', {
        pools: { app: { command: ['sleep', '600'], listen: `tcp://${HOST}:${port}` } },
      });
      const r = await fcgid('start', '-c', config);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`cannot listen on tcp://${HOST}:${port}: EADDRINUSE`);
      expect(r.stdout).not.toMatch(/starting \d+ worker/);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });
});
