#!/usr/bin/env node
// What one scan costs for workers that hold a connection (busy or waiting),
// where the observer reads more than for idle ones: the syscall each is
// blocked in, its I/O counter and, since the scan reads threaded programs
// thread by thread, its status and, for a threaded worker, every thread's.
// N workers of a kind share a listening socket this process owns and each
// accepts one connection from it that sends the first bytes of a record and no
// more (the worker waits for the rest: held, as a slow upload is; checked after
// every round); then ProcObserver.observe, imported
// from a build, runs back to back. This build and, with --baseline=DIR,
// another build's dist/ against the same processes, alternating.
//
//   node benchmarks/busy-scan.mjs [--workers=32] [--scans=50] [--kinds=php-cgi,flup] [--baseline=DIR]
//
// flup is ../shared/peers/flup-py3 (its threaded server: a main thread and a
// pool of 5); one flup process may take several of the connections, so N
// counts connections held, not workers holding one. Needs a build, php-cgi and python3 with Flask. The workers are
// started here, killed by pid at the end (also on failure and SIGINT), and the
// socket lives in a temp dir that is removed. Results are printed, never asserted.

import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { f1, installExitHandlers, median, procStat, runMain, sleep, started, table, tempDir } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Map(process.argv.slice(2).map((a) => /^--([a-z-]+)=(.*)$/.exec(a)?.slice(1) ?? [a, 'true']));
const N = Number(args.get('workers') ?? 32);
const SCANS = Number(args.get('scans') ?? 50);
const FLUP = path.resolve(root, '../shared/peers/flup-py3');
const KINDS = {
  'php-cgi': { command: ['php-cgi'], env: { PHP_FCGI_CHILDREN: '0' } },
  flup: { command: ['python3', path.join(root, 'test/fixtures/flup/app.fcgi')], env: { PYTHONPATH: FLUP, PYTHONDONTWRITEBYTECODE: '1' } },
};
const kinds = (args.get('kinds') ?? Object.keys(KINDS).join(',')).split(',');
const builds = [{ name: 'this build', dist: path.join(root, 'dist') }, ...(args.has('baseline') ? [{ name: `baseline (${args.get('baseline')})`, dist: path.join(path.resolve(args.get('baseline')), 'dist') }] : [])];

async function main() {
  installExitHandlers();
  const { listenHere, handOver, closeListener } = await import(path.join(root, 'dist', 'host', 'listeners.js'));
  const observers = await Promise.all(builds.map(async (b) => ({ ...b, Observer: (await import(path.join(b.dist, 'host/observe.js'))).ProcObserver })));
  const rows = [];
  for (const kind of kinds) {
    const { command, env } = KINDS[kind];
    const sock = path.join(tempDir(os.tmpdir(), 'fcgid-bench-busy-'), 'app.sock');
    // The socket as fcgid holds it (src/host/listeners.ts): a descriptor this
    // process's event loop never polls. A net.Server here would accept clients
    // itself, in a race with the workers. A backlog for every client at once:
    // a unix socket refuses connections past it.
    const backlog = Math.max(511, N + 16);
    const [listener] = listenHere([{ address: { kind: 'unix', path: sock }, backlog }]);
    const pids = [];
    for (let i = 0; i < N; i++) {
      const child = spawn(command[0], command.slice(1), { stdio: [listener.fd, 'ignore', 'ignore'], detached: true, env: { ...process.env, ...env } });
      started.set(child.pid, { name: `${kind} ${i}`, child, pid: child.pid, start: procStat(child.pid)?.start ?? null, exited: new Promise((r) => child.once('exit', r)) });
      pids.push(child.pid);
    }
    const failed = await handOver(listener, backlog, true);
    if (failed) throw failed;
    const probe = [{ name: kind, listener: { fd: listener.fd, address: { kind: 'unix', path: sock } }, workerFd: 0, pids, memory: false }];
    // Connections held by the workers, all told (a threaded flup may take several in one process).
    const held = (o) => [...o.observe(probe).get(kind).workers.values()].reduce((n, w) => n + w.own.connections, 0);
    const first = new observers[0].Observer();
    // Awaited in a loop: waitFor takes a synchronous probe (an async one's promise
    // is truthy at once, and large N were measured before the workers had started).
    const clients = [];
    // Each sends 3 bytes of an 8-byte record header and nothing more: the worker
    // blocks reading the rest for good. A connection that sent nothing at all is
    // closed by php-cgi after 5 s (its poll() in fcgi_accept_request), which
    // left the scans of large N measuring workers that held nothing.
    const PARTIAL_HEADER = Buffer.from([1, 1, 0]);
    const written = [];
    while (clients.length < N) {
      const c = net.connect(sock);
      clients.push(c);
      written.push(new Promise((resolve, reject) => c.once('connect', () => c.write(PARTIAL_HEADER, resolve)).once('error', reject)));
    }
    // The scans below never yield to the event loop: every header must be out first.
    await Promise.all(written);
    const deadline = Date.now() + 180_000;
    for (let n = held(first); n < N; n = held(first)) {
      if (Date.now() > deadline) throw new Error(`only ${n} of ${N} connections are held by the ${kind} workers after 180 s`);
      await sleep(200);
    }
    const perScan = new Map(builds.map((b) => [b.name, []]));
    for (let round = 0; round < 6; round++) {
      for (const b of round % 2 === 0 ? observers : [...observers].reverse()) {
        const o = new b.Observer();
        o.observe(probe);
        const t = process.hrtime.bigint();
        for (let i = 0; i < SCANS; i++) o.observe(probe);
        perScan.get(b.name).push(Number(process.hrtime.bigint() - t) / SCANS / 1e6);
        const still = held(o);
        if (still !== N) throw new Error(`${b.name}: only ${still} of ${N} connections are still held by the ${kind} workers after the scans`);
      }
    }
    const ref = median(perScan.get(builds[0].name));
    for (const b of builds) {
      const ms = median(perScan.get(b.name));
      rows.push([kind, String(N), b.name, `${f1(ms)} ms`, `${f1((ms * 1000) / N)} µs`, `${(ms / ref).toFixed(2)}x`]);
    }
    for (const c of clients) c.destroy();
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    closeListener(listener);
  }
  console.log(`# one scan of workers holding a connection\n\n- cpu: ${os.cpus().length} x ${os.cpus()[0]?.model}; node ${process.version}; ${SCANS} scans back to back, 6 rounds alternating, median\n`);
  console.log(table(['workers', 'count', 'build', 'per scan', 'per worker', 'against this build'], rows));
}

await runMain(main);
