#!/usr/bin/env node
// What the scoreboard costs (src/host/observe.ts and src/supervisor/scoreboard.ts, run by the daemon
// every SCAN_INTERVAL_MS = 1000 ms). For each worker count (64, then 512):
//
//   daemon      `fcgid start` with one pool of N php-cgi workers
//               (PHP_FCGI_CHILDREN=0: one process each, given 6 more open
//               descriptors by `sh -c 'exec php-cgi 3</dev/null …'`: ~10 in all), left
//               idle; once every worker runs and has been scanned, the daemon's
//               CPU time over a window (utime+stime of every thread from
//               /proc/<pid>/stat, and the main thread's run time from
//               /proc/<pid>/schedstat, in ns) divided by the window: CPU ms per
//               second, which is CPU ms per scan plus the daemon's idle upkeep
//   in-process  one scan (ProcObserver.observe, then Scoreboard.update), imported from dist/, timed here against the same
//               N pids (and a listening socket of this process, so that every
//               worker reads as idle, as in the daemon): ms per scan back to back,
//               and 1 s apart as the daemon runs it (caches cold in between), and
//               the same /proc reads timed one kind at a time, to show where the time goes
//
//   node benchmarks/scoreboard.mjs                       # 64 and 512 workers, 20 s windows
//   node benchmarks/scoreboard.mjs --workers=64,512,1024 --idle-secs=20 --settle-secs=5 --scans=50 --spaced=10 --extra-fds=6
//   node benchmarks/scoreboard.mjs --baseline=DIR    # the daemon part only, this build and DIR's (ABBA), with ratios
//
// Needs a build (npm run build) and php-cgi. Linux only: it reads /proc. The
// control socket and worker registry go in a temp dir, removed at the end. The
// script kills only what it started, by pid: the daemon (SIGTERM, then SIGKILL)
// and then any of its workers still alive (pid checked against its start time).
// Results are printed, never asserted; docs/benchmarks.md records them.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FCGID = path.join(root, 'bin', 'fcgid');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const { Scoreboard } = await import(path.join(root, 'dist', 'supervisor', 'scoreboard.js'));
const { ProcObserver } = await import(path.join(root, 'dist', 'host', 'observe.js'));
const procnet = await import(path.join(root, 'dist', 'host', 'procnet.js'));

function option(name, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}
const WORKER_COUNTS = option('workers', '64,512').split(',').map(Number);
const IDLE_SECS = Number(option('idle-secs', '20'));
const SCANS = Number(option('scans', '50'));
const EXTRA_FDS = Number(option('extra-fds', '6'));
const SPACED = Number(option('spaced', '10'));
/** Seconds between "every worker running and idle" and the window: V8's collections after a large start-up are not the scan's cost. */
const SETTLE_SECS = Number(option('settle-secs', '5'));
/** Another build (a checkout from before a change): its daemon measured beside this one, ABBA, with ratios. */
const BASELINE = option('baseline', null) === null ? null : path.resolve(option('baseline', null), 'bin', 'fcgid');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function statFields(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}
/** utime + stime of every thread, in ms. */
const cpuMs = (pid) => {
  const f = statFields(pid);
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
};
/** The main thread's time on a CPU, in ms (ns resolution). */
const mainThreadMs = (pid) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
const startTime = (pid) => statFields(pid)?.[19] ?? null;

function status(ctl) {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: ctl, path: '/v1/status' }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
  });
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, median: at(0.5), p95: at(0.95) };
}
const f1 = (n) => n.toFixed(1);
const f2 = (n) => n.toFixed(2);

/** Mean ms of `fn` over `runs` calls, after one warm-up call. */
function timeIt(fn, runs) {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) fn();
  return (performance.now() - t0) / runs;
}

async function measure(workers, bin = FCGID) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcgid-bench-scoreboard-'));
  const ctl = path.join(dir, 'bench.ctl');
  const config = path.join(dir, 'bench.yaml');
  // JSON is YAML.
  writeFileSync(
    config,
    JSON.stringify({
      control: { socket: ctl },
      log: { level: 'warn' },
      pools: {
        php: {
          // Descriptors 3.. opened by the shell survive its exec: php-cgi then holds
          // ~10, as an app with a log file, a database and a cache connection does.
          command: ['/bin/sh', '-c', `exec php-cgi ${Array.from({ length: EXTRA_FDS }, (_, i) => `${i + 3}</dev/null`).join(' ')}`],
          env: { PHP_FCGI_CHILDREN: '0' },
          listen: `unix:${path.join(dir, 'php.sock')}`,
          workers,
          backlog: 128,
          idle_timeout: '30s',
        },
      },
    }),
  );
  const daemon = spawn(process.execPath, [bin, 'start', '-c', config], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  daemon.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise((r) => daemon.once('exit', (code, signal) => r(code ?? signal)));
  const seen = new Map(); // worker pid → start time, for cleanup
  let server = null;
  try {
    // Every worker running and scanned at least twice.
    const deadline = Date.now() + 120_000;
    let pids = [];
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`fcgid exited (${daemon.exitCode}): ${stderr}`);
      const s = await status(ctl).catch(() => null);
      const pool = s?.pools[0];
      if (pool) for (const slot of pool.slots) if (slot.pid !== null && !seen.has(slot.pid)) seen.set(slot.pid, startTime(slot.pid));
      if (pool && pool.workers.running === workers && pool.slots.every((x) => x.state === 'running' && x.activity === 'idle' && x.activity_ms > 2000)) {
        pids = pool.slots.map((x) => x.pid);
        break;
      }
      if (Date.now() > deadline) throw new Error(`${workers} workers not all running and idle after 120 s`);
      await sleep(500);
    }
    const fds = pids.reduce((n, pid) => n + readdirSync(`/proc/${pid}/fd`).length, 0) / pids.length;

    // The daemon, idle: nothing talks to it during the window.
    await sleep(SETTLE_SECS * 1000);
    const c0 = cpuMs(daemon.pid);
    const m0 = mainThreadMs(daemon.pid);
    const t0 = performance.now();
    await sleep(IDLE_SECS * 1000);
    const secs = (performance.now() - t0) / 1000;
    const daemonCpu = (cpuMs(daemon.pid) - c0) / secs;
    const daemonMain = (mainThreadMs(daemon.pid) - m0) / secs;
    const rss = Number(statFields(daemon.pid)[21]) * 4096;
    if (bin !== FCGID) return { workers, fds, secs, daemonCpu, daemonMain, rss };

    // In this process: the same scan over the same pids.
    server = net.createServer();
    await new Promise((r) => server.listen(path.join(dir, 'probe.sock'), r));
    const listenerFd = server._handle.fd;
    // One scan as the daemon runs it: /proc read by the host's observer, history kept by the scoreboard.
    const board = new Scoreboard();
    const observer = new ProcObserver();
    const probe = [{ name: 'php', listener: { fd: listenerFd }, workerFd: 0, pids }];
    const scan = () => board.update(Date.now(), observer.observe(probe));
    scan();
    const perScan = [];
    let idle = 0;
    for (let i = 0; i < SCANS; i++) {
      const t = performance.now();
      const out = scan();
      perScan.push(performance.now() - t);
      idle = [...out.get('php').workers.values()].filter((w) => w.activity === 'idle').length;
    }
    // The daemon scans once a second, with caches gone cold in between: the same, spaced.
    const spaced = [];
    for (let i = 0; i < SPACED; i++) {
      await sleep(1000);
      const t = performance.now();
      scan();
      spaced.push(performance.now() - t);
    }
    // The parts, one kind of read at a time, over every pid.
    const runs = Math.max(3, Math.min(20, Math.floor(SCANS / 3)));
    const parts = {
      'readdir+readlink /proc/<pid>/fd (socketFds)': timeIt(() => pids.forEach((p) => procnet.socketFds(p)), runs),
      'read /proc/<pid>/io (ioCounter)': timeIt(() => pids.forEach((p) => procnet.ioCounter(p)), runs),
      'read /proc/<pid>/stat (cpuAndRss)': timeIt(() => pids.forEach((p) => procnet.cpuAndRss(p)), runs),
      'read+parse /proc/net/unix (unixRows)': timeIt(() => procnet.unixRows(), runs),
    };
    const unixLines = readFileSync('/proc/net/unix', 'utf8').split('\n').length - 2;
    return { workers, fds, secs, daemonCpu, daemonMain, rss, scan: stats(perScan), spaced: stats(spaced), idle, parts, unixLines };
  } finally {
    server?.close();
    try {
      process.kill(daemon.pid, 'SIGTERM');
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(daemon.pid, 'SIGKILL');
      } catch {}
    }, 30_000);
    await exited;
    clearTimeout(timer);
    // Any worker the daemon left (it should leave none), if it is still the same process.
    for (const [pid, start] of seen) {
      if (start !== null && startTime(pid) === start) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const cpus = os.cpus();
console.log(`scoreboard cost: ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, Node ${process.version}, Linux ${os.release()}; idle window ${IDLE_SECS} s, ${SCANS} in-process scans`);
for (const n of WORKER_COUNTS) {
  if (BASELINE) {
    // Idle daemon CPU and RSS of both builds, in the order A B B A.
    const runs = [];
    for (const bin of [FCGID, BASELINE, BASELINE, FCGID]) runs.push({ bin, r: await measure(n, bin) });
    const of = (bin, key) => runs.filter((x) => x.bin === bin).reduce((a, x) => a + x.r[key], 0) / 2;
    console.log(`\n${n} workers, idle ${IDLE_SECS} s, mean of 2 windows each:`);
    console.log(`  this build: ${f1(of(FCGID, 'daemonCpu'))} CPU ms/s, RSS ${f1(of(FCGID, 'rss') / 1048576)} MiB`);
    console.log(`  baseline:   ${f1(of(BASELINE, 'daemonCpu'))} CPU ms/s, RSS ${f1(of(BASELINE, 'rss') / 1048576)} MiB (${BASELINE})`);
    console.log(`  this / baseline: CPU ${f2(of(FCGID, 'daemonCpu') / of(BASELINE, 'daemonCpu'))}x, RSS ${f2(of(FCGID, 'rss') / of(BASELINE, 'rss'))}x`);
    continue;
  }
  const r = await measure(n);
  console.log(`\n${r.workers} php-cgi workers (${f1(r.fds)} fds each; /proc/net/unix ${r.unixLines} rows), idle ${f1(r.secs)} s:`);
  console.log(`  daemon: ${f1(r.daemonCpu)} CPU ms/s (utime+stime, all threads); main thread ${f1(r.daemonMain)} ms/s; RSS ${f1(r.rss / 1048576)} MiB`);
  console.log(`  one scan in-process, back to back: mean ${f2(r.scan.mean)} ms, median ${f2(r.scan.median)} ms, p95 ${f2(r.scan.p95)} ms per scan (${r.idle}/${r.workers} idle)`);
  console.log(`  one scan in-process, 1 s apart:    mean ${f2(r.spaced.mean)} ms, median ${f2(r.spaced.median)} ms, p95 ${f2(r.spaced.p95)} ms per scan (${SPACED} scans)`);
  for (const [what, ms] of Object.entries(r.parts)) console.log(`    ${what}: ${f2(ms)} ms for all ${r.workers}`);
}
