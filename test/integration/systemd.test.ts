// fcgid under systemd, with systemd's own tools and no running systemd:
// sd_notify messages caught by a real AF_UNIX datagram socket bound at
// NOTIFY_SOCKET (test/fixtures/systemd/notify-receiver.py, since Node cannot
// bind one); the shipped units checked by `systemd-analyze verify`; socket
// activation through `systemd-socket-activate`; and restarts of fcgid itself
// under load while a launcher (test/fixtures/systemd/launcher.py) holds the
// socket the way a .socket unit does. See docs/systemd.md.

import type { SpawnOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FastCGIClient, cgiParams } from '../../src/fastcgi/index.js';
import { FCGICTL_BIN, pidIn } from '../helpers/control.js';
import { FCGID_BIN, Fcgid, isRunning, lineTime, tearDown, writeConfig, type LogLine } from '../helpers/daemon.js';
import { Processes, Scratch, missingPeers, run, type Started } from '../helpers/peers.js';

const PYTHON = '/usr/bin/python3';
const FIXTURES = fileURLToPath(new URL('../fixtures/systemd/', import.meta.url));
const RECEIVER = `${FIXTURES}notify-receiver.py`;
const LAUNCHER = `${FIXTURES}launcher.py`;
const HELLO = fileURLToPath(new URL('../../examples/hello.mjs', import.meta.url));
const REPO_BIN = fileURLToPath(new URL('../../bin/', import.meta.url));
const UNITS = fileURLToPath(new URL('../../systemd/', import.meta.url));

// ---------------------------------------------------------------------------
// Plumbing.

/** One datagram as the receiver saw it; pid/uid are the sender's SCM_CREDENTIALS. */
interface Datagram {
  seq: number;
  at_ms: number;
  fields: Record<string, string>;
  raw: string;
  pid: number | null;
  uid: number | null;
}

/** The notify socket: a real datagram socket, its messages in arrival order, and waits on them. */
class NotifyReceiver {
  readonly proc: Started;
  readonly datagrams: Datagram[] = [];
  readonly listening: Promise<void>;
  private readonly waiters = new Set<() => void>();

  constructor(
    processes: Processes,
    readonly path: string,
  ) {
    this.proc = processes.start(PYTHON, [RECEIVER, path, '120']);
    let bound!: () => void;
    this.listening = new Promise((r) => (bound = r));
    lines(this.proc.child.stdout!, (text) => {
      const msg = JSON.parse(text) as Partial<Datagram> & { listening?: string };
      if (msg.listening) bound();
      if (typeof msg.seq === 'number') this.datagrams.push(msg as Datagram);
      for (const w of [...this.waiters]) w();
    });
  }

  /** The `n`th datagram from index `from` on that matches. */
  waitFor(predicate: (m: Datagram) => boolean, from = 0, n = 1, timeoutMs = 20_000): Promise<Datagram> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.datagrams.slice(from).filter(predicate)[n - 1];
        if (!hit) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${predicate.toString()}; got:\n${this.datagrams.map((d) => d.raw.replace(/\n/g, ' ')).join('\n')}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  since(from: number): Datagram[] {
    return this.datagrams.slice(from);
  }
}

/** Call `each` with every complete line of a stream. */
function lines(stream: Readable, each: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const p of parts) if (p.trim() !== '') each(p);
  });
}

/** Resolves once `stream` has carried text matching `pattern` (from the moment of the call on). */
function untilOutput(stream: Readable, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer | string): void => {
      seen += chunk.toString();
      if (!pattern.test(seen)) return;
      stream.off('data', onData);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      stream.off('data', onData);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} in:\n${seen}`));
    }, timeoutMs);
    stream.on('data', onData);
  });
}

/**
 * Processes whose start() runs the command fcgid's test helper asks for under
 * a wrapper (systemd-socket-activate, the launcher), so that Fcgid follows the
 * log of a daemon it does not spawn itself. Tracking and killAll stay with `inner`.
 */
class Wrapped extends Processes {
  constructor(
    private readonly inner: Processes,
    private readonly wrap: (command: string, args: string[]) => [string, string[]],
  ) {
    super();
  }
  override start(command: string, args: string[], options: SpawnOptions = {}): Started {
    const [c, a] = this.wrap(command, args);
    return this.inner.start(c, a, options);
  }
}

/** Our environment without any systemd variables of our own parent, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES']) delete env[k];
  return { ...env, ...extra };
}

/** The log line that shows slot `worker` of `pool` reaching `to`, from index `from` on. */
function transition(d: Fcgid, pool: string, worker: number, to: string, from = 0): LogLine | undefined {
  return d.lines.slice(from).find((l) => l.pool === pool && l.worker === worker && l.to === to);
}

function fetchHello(client: FastCGIClient, path: string): Promise<{ status: number; body: string }> {
  return client
    .fetch({ params: cgiParams({ url: path, scriptFilename: HELLO, documentRoot: FIXTURES }) })
    .then((r) => ({ status: r.status, body: r.body.toString() }));
}

const isRoot = process.getuid?.() === 0;

/** A pool of examples/hello.mjs workers; the shell in front reports (as a datagram) if it can see NOTIFY_SOCKET. */
function helloPool(listen: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    command: ['/bin/sh', '-c', 'if [ -n "$NOTIFY_SOCKET" ]; then systemd-notify WORKER_SAW_NOTIFY_SOCKET=1; fi; exec "$@"', 'sh', process.execPath, HELLO],
    listen,
    socket_fd: 3,
    ...extra,
  };
}

// ---------------------------------------------------------------------------
// 1. sd_notify against a real datagram socket.

const noNotify = missingPeers('systemd-notify', PYTHON);

describe.skipIf(noNotify !== null)('sd_notify: what a real NOTIFY_SOCKET receives from fcgid', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let rx: NotifyReceiver;
  let d: Fcgid;
  let config: Record<string, unknown>;
  const WORKERS = 2;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-systemd-notify-');
    rx = new NotifyReceiver(processes, scratch.path('notify.sock'));
    await rx.listening;
    config = { pools: { app: helloPool(`unix:${scratch.path('app.sock')}`, { workers: WORKERS, start_secs: '1s' }) } };
    // WATCHDOG_USEC as systemd sets it for WatchdogSec=400ms.
    d = new Fcgid(processes, writeConfig(scratch, 'notify', config), { env: cleanEnv({ NOTIFY_SOCKET: rx.path, WATCHDOG_USEC: '400000' }) });
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('READY=1 arrives only after every worker counts as started (start_secs 1s), once, from fcgid: MAINPID and the credentials are its pid', async () => {
    const ready = await rx.waitFor((m) => m.fields.READY === '1');
    // The log pipe and the receiver's pipe are read independently: wait for the
    // log to show both slots running, then compare the clocks (all wall time).
    const running = await d.waitUntil(() => {
      const ls = [0, 1].map((w) => transition(d, 'app', w, 'running'));
      return ls.every(Boolean) ? (ls as LogLine[]) : undefined;
    });
    for (const l of running) expect(lineTime(l)).toBeLessThanOrEqual(ready.at_ms);
    // fcgid's own record of the send ("sd_notify sent", after systemd-notify exited)
    // comes after both slots' running lines in its log.
    const sent = await d.waitForLog((l) => l.msg === 'sd_notify sent' && (l.fields as Record<string, string> | undefined)?.READY === '1');
    for (const l of running) expect(d.lines.indexOf(l)).toBeLessThan(d.lines.indexOf(sent));
    expect(ready.fields.STATUS).toBe(`app ${WORKERS}/${WORKERS} running`);
    expect(ready.fields.MAINPID).toBe(String(d.pid));
    // As root, systemd-notify --pid sends with fcgid's credentials (docs/systemd.md),
    // so systemd attributes READY=1 to the main process even under NotifyAccess=main.
    if (isRoot) expect(ready.pid).toBe(d.pid);
    expect(rx.datagrams.filter((m) => m.fields.READY === '1')).toHaveLength(1);
    // Workers do not inherit NOTIFY_SOCKET: one that saw it would have spoken up.
    expect(rx.datagrams.filter((m) => 'WORKER_SAW_NOTIFY_SOCKET' in m.fields)).toEqual([]);
  });

  it('STATUS= names the pool and its count: "app 0/2 starting" before READY=1, "app 2/2 running" after', async () => {
    const ready = await rx.waitFor((m) => m.fields.READY === '1');
    const statuses = rx.datagrams.filter((m) => m.fields.STATUS !== undefined);
    const before = statuses.filter((m) => m.seq < ready.seq).map((m) => m.fields.STATUS);
    expect(before).toContain(`app 0/${WORKERS} starting`);
    expect(before.every((s) => !/running/.test(s!))).toBe(true);
    const latest = statuses.filter((m) => m.seq >= ready.seq).at(-1)!;
    expect(latest.fields.STATUS).toBe(`app ${WORKERS}/${WORKERS} running`);
  });

  it('WATCHDOG_USEC=400000: WATCHDOG=1 keeps arriving, every 200ms (half of it)', async () => {
    const first = await rx.waitFor((m) => m.fields.WATCHDOG === '1');
    const second = await rx.waitFor((m) => m.fields.WATCHDOG === '1', first.seq);
    expect(second.seq).toBeGreaterThan(first.seq);
    expect(second.fields.MAINPID).toBe(String(d.pid));
    const announced = await d.waitForLog((l) => typeof l.every_ms === 'number');
    expect(announced.every_ms).toBe(200);
  });

  it('SIGHUP: RELOADING=1, then READY=1 only once the rolling restart the new config asks for is done', async () => {
    await rx.waitFor((m) => m.fields.READY === '1');
    const from = rx.datagrams.length;
    const mark = d.mark();
    // A changed environment: every worker is replaced, one at a time.
    const pool = (config.pools as Record<string, Record<string, unknown>>).app!;
    writeConfig(scratch, 'notify', { pools: { app: { ...pool, env: { GREETING: 'reloaded' } } } });
    process.kill(d.pid, 'SIGHUP');
    const reloading = await rx.waitFor((m) => m.fields.RELOADING === '1', from);
    const ready = await rx.waitFor((m) => m.fields.READY === '1', from);
    expect(ready.seq).toBeGreaterThan(reloading.seq);
    expect(reloading.fields.MAINPID).toBe(String(d.pid));
    // Two new workers ran (replacements of the rolling restart) before READY=1 arrived.
    const replacements = await d.waitUntil(() => {
      const ls = d.lines.slice(mark).filter((l) => l.pool === 'app' && l.to === 'running');
      return ls.length >= WORKERS ? ls : undefined;
    });
    for (const l of replacements) expect(lineTime(l)).toBeLessThanOrEqual(ready.at_ms);
    expect(ready.fields.STATUS).toBe(`app ${WORKERS}/${WORKERS} running`);
    expect(rx.since(from).filter((m) => m.fields.READY === '1')).toHaveLength(1);
  });

  it('SIGTERM: STOPPING=1 arrives, and fcgid exits 0', async () => {
    const from = rx.datagrams.length;
    process.kill(d.pid, 'SIGTERM');
    const stopping = await rx.waitFor((m) => m.fields.STOPPING === '1', from);
    expect(stopping.fields.MAINPID).toBe(String(d.pid));
    expect(await d.exited).toBe(0);
    expect(rx.since(from).filter((m) => m.fields.READY === '1' || m.fields.RELOADING === '1')).toEqual([]);
  });
});

describe.skipIf(noNotify !== null)('sd_notify: a pool whose workers crash at boot', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let rx: NotifyReceiver;
  let d: Fcgid;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-systemd-crash-');
    rx = new NotifyReceiver(processes, scratch.path('notify.sock'));
    await rx.listening;
    const config = writeConfig(scratch, 'crash', {
      pools: {
        app: {
          command: ['/bin/sh', '-c', 'echo "cannot open the database" >&2; exit 3'],
          listen: `unix:${scratch.path('app.sock')}`,
          workers: 2,
          start_secs: '1s',
          start_retries: 2,
        },
      },
    });
    d = new Fcgid(processes, config, { env: cleanEnv({ NOTIFY_SOCKET: rx.path }) });
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('READY=1 still arrives, once the pool has visibly failed, and STATUS= ends on "app 0/2 failed"', async () => {
    const ready = await rx.waitFor((m) => m.fields.READY === '1');
    // Not before the first crash: a worker went into backoff (or fatal) first.
    const crashed = await d.waitForLog((l) => l.pool === 'app' && (l.to === 'backoff' || l.to === 'fatal'));
    expect(lineTime(crashed)).toBeLessThanOrEqual(ready.at_ms);
    expect(ready.fields.STATUS).toMatch(/^app 0\/2 (degraded|failed)$/);
    expect(ready.fields.MAINPID).toBe(String(d.pid));
    const failed = await rx.waitFor((m) => m.fields.STATUS === 'app 0/2 failed');
    expect(failed.seq).toBeGreaterThanOrEqual(ready.seq);
    // Both slots fatal in the log, and READY=1 was said once only.
    await d.waitUntil(() => transition(d, 'app', 0, 'fatal') && transition(d, 'app', 1, 'fatal'));
    expect(rx.datagrams.filter((m) => m.fields.READY === '1')).toHaveLength(1);
    process.kill(d.pid, 'SIGTERM');
    await rx.waitFor((m) => m.fields.STOPPING === '1');
    expect(await d.exited).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// 2. The unit files, as systemd reads them.

const noAnalyze = missingPeers('systemd-analyze');

describe.skipIf(noAnalyze !== null)('systemd/fcgid@.service and fcgid@.socket', () => {
  let scratch: Scratch;

  beforeAll(() => {
    scratch = new Scratch('fcgid-systemd-units-');
  });

  afterAll(() => scratch?.remove());

  /** The units in a dir of their own, paths pointed at this checkout, with fcgid@app.* links; `edit` changes the service. */
  function stage(dir: string, edit: (text: string) => string = (t) => t): string {
    const at = scratch.path(dir);
    mkdirSync(at);
    // The unit names fcgid and fcgictl bare (systemd's own path finds them once installed); here, this checkout's.
    const service = readFileSync(`${UNITS}fcgid@.service`, 'utf8').replace(/^(Exec\w+=[-@:+!]*)(fcgid|fcgictl) /gm, `$1${REPO_BIN}$2 `);
    writeFileSync(`${at}/fcgid@.service`, edit(service));
    copyFileSync(`${UNITS}fcgid@.socket`, `${at}/fcgid@.socket`);
    symlinkSync('fcgid@.service', `${at}/fcgid@app.service`);
    symlinkSync('fcgid@.socket', `${at}/fcgid@app.socket`);
    return at;
  }

  function verify(dir: string): { status: number | null; stderr: string } {
    const r = run('/bin/sh', ['-c', 'cd "$1" && exec systemd-analyze verify fcgid@app.service fcgid@app.socket', 'sh', dir]);
    return { status: r.status, stderr: r.stderr };
  }

  it('the committed unit is Type=notify, NotifyAccess=all, reloads with fcgictl reload, KillMode=mixed', () => {
    const service = readFileSync(`${UNITS}fcgid@.service`, 'utf8');
    const keys = new Map(
      service
        .split('\n')
        .filter((l) => /^[A-Za-z]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    expect(keys.get('Type')).toBe('notify');
    expect(keys.get('NotifyAccess')).toBe('all');
    expect(keys.get('ExecReload')).toMatch(/^fcgictl\b.* reload$/);
    expect(keys.get('KillMode')).toBe('mixed');
    expect(keys.get('ExecStart')).toMatch(/^fcgid start -c \/etc\/fcgid\/%i\.yaml$/);
    expect(keys.get('RestartPreventExitStatus')).toBe('2');
    const socket = readFileSync(`${UNITS}fcgid@.socket`, 'utf8');
    expect(socket).toMatch(/^FileDescriptorName=%i$/m);
    expect(socket).toMatch(/^Service=fcgid@%i\.service$/m);
  });

  it('systemd-analyze verify fcgid@app.service fcgid@app.socket: exit 0, nothing said about the units', () => {
    const r = verify(stage('good'));
    expect(r.stderr.split('\n').filter((l) => /fcgid@/.test(l))).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('(control) the same check does catch a broken unit', () => {
    const r = verify(stage('broken', (t) => t.replace(/^Type=notify$/m, 'Type=notiffy')));
    expect(r.stderr).toMatch(/fcgid@.*notiffy/);
  });
});

// ---------------------------------------------------------------------------
// 3. Socket activation with systemd-socket-activate.

const noActivate = missingPeers('systemd-socket-activate');

describe.skipIf(noActivate !== null)('socket activation: fcgid under systemd-socket-activate', () => {
  const processes = new Processes();
  let scratch: Scratch;
  const daemons: Fcgid[] = [];

  beforeAll(() => {
    scratch = new Scratch('fcgid-systemd-activate-');
  });

  afterAll(() => tearDown(processes, scratch, daemons));

  /** systemd-socket-activate -l SOCK --fdname=app, which execs fcgid (same pid) on the first connection. */
  function activated(name: string, sock: string, listen: string): Fcgid {
    const config = writeConfig(scratch, name, { pools: { app: helloPool(listen, { workers: 2, start_secs: '300ms' }) } });
    const via = new Wrapped(processes, (command, args) => ['systemd-socket-activate', ['-l', sock, '--fdname=app', command, ...args]]);
    const d = new Fcgid(via, config, { env: cleanEnv() });
    daemons.push(d);
    return d;
  }

  function cmdline(pid: number): string {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  }

  it('listen: systemd:app: the first connection starts fcgid, workers serve it, status lists the pool, and SIGTERM leaves the socket file', async () => {
    const sock = scratch.path('app.sock');
    const d = activated('named', sock, 'systemd:app');
    await untilOutput(d.proc.child.stderr!, /Listening on .*app\.sock/);
    // Bound and listening, but nothing is exec'd before a connection comes.
    expect(d.lines).toEqual([]);
    expect(cmdline(d.pid)).toMatch(/^systemd-socket-activate /);

    const client = new FastCGIClient({ address: `unix:${sock}`, keepConn: false, timeout: 10_000 });
    try {
      // This request is the connection that triggers the exec; it waits in the backlog.
      const first = await fetchHello(client, '/first');
      expect(first.status).toBe(200);
      expect(cmdline(d.pid)).toContain(FCGID_BIN);
      await d.waitForLog((l) => l.msg === 'pool app: using the socket systemd passed as fd 3 (app)');
      const pids = await d.waitForRunning('app', 2);
      expect(pids).toContain(pidIn(first.body));
      for (let i = 0; i < 6; i++) {
        const r = await fetchHello(client, `/r${i}`);
        expect(r.status).toBe(200);
        expect(pids).toContain(pidIn(r.body));
      }
    } finally {
      client.close();
    }

    const status = run(process.execPath, [FCGICTL_BIN, '-s', scratch.path('named.ctl'), 'status', '--json']);
    expect(status.status).toBe(0);
    const doc = JSON.parse(status.stdout) as { pid: number; pools: Array<{ name: string; listen: string; state: string; workers: { running: number } }> };
    expect(doc.pid).toBe(d.pid);
    expect(doc.pools.map((p) => p.name)).toEqual(['app']);
    expect(doc.pools[0]).toMatchObject({ state: 'running', workers: { running: 2 } });

    process.kill(d.pid, 'SIGTERM');
    expect(await d.exited).toBe(0);
    // fcgid never removes a socket systemd passed (the .socket unit owns it).
    expect(statSync(sock).isSocket()).toBe(true);
  });

  it('listen: unix:<the same path>: fcgid recognises the passed socket by its address instead of refusing a live one', async () => {
    const sock = scratch.path('byaddr.sock');
    const d = activated('byaddr', sock, `unix:${sock}`);
    await untilOutput(d.proc.child.stderr!, /Listening on .*byaddr\.sock/);
    const client = new FastCGIClient({ address: `unix:${sock}`, keepConn: false, timeout: 10_000 });
    try {
      const r = await fetchHello(client, '/x');
      expect(r.status).toBe(200);
    } finally {
      client.close();
    }
    await d.waitForLog((l) => l.msg === 'pool app: using the socket systemd passed as fd 3 (app)');
    process.kill(d.pid, 'SIGTERM');
    expect(await d.exited).toBe(0);
    expect(existsSync(sock)).toBe(true);
  });

  it('listen: systemd:nope: exit status 2, naming the sockets that were passed', async () => {
    const sock = scratch.path('nope.sock');
    const d = activated('nope', sock, 'systemd:nope');
    await untilOutput(d.proc.child.stderr!, /Listening on .*nope\.sock/);
    // A connection to trigger the exec; nobody will answer it.
    const trigger = net.connect({ path: sock });
    trigger.on('error', () => {});
    try {
      expect(await d.exited).toBe(2);
    } finally {
      trigger.destroy();
    }
    expect(d.stderr()).toMatch(/systemd:nope.*passed: app/);
    expect(d.lines.filter((l) => l.to === 'starting')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// 4. Restarting fcgid while something else holds the socket refuses nothing.

describe.skipIf(missingPeers(PYTHON) !== null)('socket activation: fcgid restarted twice under load, socket held by a launcher', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid | undefined;

  beforeAll(() => {
    scratch = new Scratch('fcgid-systemd-restart-');
  });

  // The launcher stops fcgid on SIGTERM; then its group (and any worker left) goes.
  afterAll(() => tearDown(processes, scratch, [d], 10_000));

  it('8 clients on fresh connections see every request answered (200) across two restarts, by workers of all three generations', async () => {
    const sock = scratch.path('app.sock');
    const WORKERS = 2;
    const config = writeConfig(scratch, 'restart', { pools: { app: helloPool('systemd:app', { workers: WORKERS, start_secs: '300ms' }) } });
    const via = new Wrapped(processes, (command, args) => [PYTHON, [LAUNCHER, sock, '--', command, ...args]]);
    const daemon = new Fcgid(via, config, { env: cleanEnv() });
    d = daemon;
    const launcherPid = daemon.pid;

    /** The index of the launcher's "starting generation n" line. */
    const generationStart = (n: number): Promise<number> =>
      daemon.waitUntil(() => {
        const i = daemon.lines.findIndex((l) => l.launcher === 'starting' && l.generation === n);
        return i >= 0 ? i + 1 : undefined; // +1: never 0 (falsy)
      });
    /** Both slots of generation n running: the pids, from its log lines. */
    const generationRunning = async (n: number): Promise<number[]> => {
      const at = (await generationStart(n)) - 1;
      return daemon.waitUntil(() => {
        const ls = Array.from({ length: WORKERS }, (_, w) => transition(daemon, 'app', w, 'running', at));
        return ls.every(Boolean) ? ls.map((l) => l!.pid as number) : undefined;
      });
    };

    const gen1 = await generationRunning(1);
    expect(await daemon.waitForLog((l) => l.msg === 'pool app: using the socket systemd passed as fd 3 (app)')).toBeTruthy();

    // The load: 8 loops, each request on a fresh connection, until told to stop.
    const CLIENTS = 8;
    let stop = false;
    const answers: number[] = [];
    const failures: string[] = [];
    const counted = new Set<() => void>();
    const record = (outcome: () => void): void => {
      outcome();
      for (const w of [...counted]) w();
    };
    const loops = Array.from({ length: CLIENTS }, async (_, c) => {
      const client = new FastCGIClient({ address: `unix:${sock}`, keepConn: false, timeout: 10_000, connectTimeout: 10_000 });
      try {
        for (let i = 0; !stop && i < 100_000; i++) {
          try {
            const r = await fetchHello(client, `/c${c}/r${i}`);
            if (r.status !== 200) record(() => failures.push(`client ${c} request ${i}: status ${r.status}: ${r.body}`));
            else record(() => answers.push(pidIn(r.body)));
          } catch (err) {
            record(() => failures.push(`client ${c} request ${i}: ${(err as Error).message}`));
          }
        }
      } finally {
        client.close();
      }
    });
    /** Resolves once `n` more answers came in than now, or at the first failure (asserted below). */
    const moreAnswers = (n: number, timeoutMs = 20_000): Promise<void> => {
      const want = answers.length + n;
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (answers.length < want && failures.length === 0) return;
          counted.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          counted.delete(check);
          reject(new Error(`only ${answers.length} of ${want} answers after ${timeoutMs} ms`));
        }, timeoutMs);
        counted.add(check);
        check();
      });
    };

    const generations: number[][] = [gen1];
    try {
      await moreAnswers(50);
      for (const n of [2, 3]) {
        process.kill(launcherPid, 'SIGUSR1');
        const exited = await daemon.waitForLog((l) => l.launcher === 'exited' && l.generation === n - 1);
        expect(exited.code).toBe(0);
        generations.push(await generationRunning(n));
        await moreAnswers(50);
      }
    } finally {
      stop = true;
      await Promise.all(loops);
    }

    expect(failures.slice(0, 10)).toEqual([]);
    // Who answered: every answer came from a worker of some generation, and each generation answered.
    const byGeneration = generations.map((pids) => answers.filter((p) => pids.includes(p)).length);
    expect(byGeneration.reduce((a, b) => a + b, 0)).toBe(answers.length);
    for (const count of byGeneration) expect(count).toBeGreaterThan(0);
    // Three distinct daemons, none of which removed the launcher's socket.
    const fcgidPids = daemon.lines.filter((l) => l.launcher === 'started').map((l) => l.fcgid_pid);
    expect(new Set(fcgidPids).size).toBe(3);
    expect(statSync(sock).isSocket()).toBe(true);

    process.kill(launcherPid, 'SIGTERM');
    expect(await daemon.exited).toBe(0);
    for (const pid of fcgidPids) expect(isRunning(pid as number)).toBe(false);
  });
});
