#!/usr/bin/env node
// The process manager side by side with its peers: `fcgid start` against
// spawn-fcgi, php-fpm and supervisord's [fcgi-program], all running php-cgi (or
// php-fpm's own children) on unix sockets. Five parts, each under a hard time limit:
//
//   throughput  4 workers per manager behind ONE nginx (worker_processes 1,
//               access_log off), wrk -t1 -c16 on a PHP "hello", the managers
//               alternating in rounds; median req/s, and the CPU time each
//               manager process used under load (utime+stime from /proc/<pid>/stat)
//               and how many workers it respawned. php-cgi keeps its default
//               PHP_FCGI_MAX_REQUESTS (500); fcgid and supervisord run with
//               start_secs / startsecs 0 (see "recycle")
//   recycle     the same load on fcgid and supervisord with their default
//               start_secs / startsecs of 1 s, in slices: php-cgi recycles sooner
//               than that under load, which both count as a failed start
//   respawn     SIGKILL one worker (by pid, oldest first, older than 1.3 s), time
//               until the manager has a new child and until that child sits in
//               accept(); /proc polled synchronously every 0.2 ms
//   startup     from launching the manager to N workers (8) sitting in accept()
//   idle        fcgid with 64 php-cgi workers idle for 30 s: daemon RSS, CPU time,
//               context switches, then its syscalls over 10 s (strace -c -f)
//
//   node benchmarks/daemon.mjs                     # every part, about 5 minutes
//   node benchmarks/daemon.mjs respawn startup     # some parts (or BENCH_PARTS=respawn,startup)
//   node benchmarks/daemon.mjs --quick             # every part, short, about 1.5 minutes
//   options: --rounds=N --duration=S --warmup=S --connections=N --max-requests=N
//            --start-secs=S --backends=fcgid,spawn-fcgi,php-fpm,supervisord[,fcgid-master,fcgid-baseline]
//            --baseline=DIR (DIR/bin/fcgid, a build from before a change: backend fcgid-baseline in
//            throughput, and measured beside fcgid in respawn, startup and idle, with ratios)
//            (throughput); --recycle-slices=N --recycle-slice=S (recycle);
//            --kills=N (respawn); --runs=N --startup-workers=N (startup);
//            --idle-workers=N --idle-secs=S --no-strace (idle);
//            --managers=fcgid,spawn-fcgi,php-fpm,supervisord (the other parts)
//            --fcgid=PATH (another bin/fcgid for every part) --json=FILE
//            --run-dir=DIR (where fcgid's control socket and registry go; default a dir in /dev/shm)
//            --profile=DIR (run fcgid under node --cpu-prof, profiles in DIR)
//   (or env BENCH_ROUNDS, BENCH_DURATION, BENCH_KILLS, BENCH_RUNS, BENCH_IDLE_SECS, ...)
//
// Needs a build (npm run build), nginx, wrk, php-cgi, spawn-fcgi, php-fpm8.2 and
// supervisord on PATH; strace for the syscall count. Linux only: it reads /proc.
// Everything listens on 127.0.0.1 or on unix sockets in a temp dir (fcgid's control
// socket and worker registry in a tmpfs one, /dev/shm, as /run is on a systemd
// host), both removed at the end. The script kills only processes it started and
// their descendants, by pid (checked against the process start time) and process
// group, also on failure, on SIGINT and at a hard time limit per part. Results
// are printed, never asserted; docs/benchmarks.md records them.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  HOST,
  PHP_FPM,
  bounded,
  cpuMs,
  f0,
  f1,
  f2,
  fcgidLog,
  foreignCpu,
  inAccept,
  installExitHandlers,
  killFamily,
  launch,
  loadNow,
  mainChildren,
  median,
  phpEnv,
  procStat,
  quantile,
  readText,
  runMain,
  runWrk,
  safeReaddir,
  signalIfSame,
  sleep,
  started,
  startNginx,
  stop,
  table,
  tempDir,
  waitFor,
  which,
} from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const PHP_BODY = 'hello';
const ALL_PARTS = ['throughput', 'recycle', 'respawn', 'startup', 'idle'];
const ALL_BACKENDS = ['fcgid', 'fcgid-baseline', 'spawn-fcgi', 'php-fpm', 'supervisord', 'fcgid-master'];
const ALL_MANAGERS = ['fcgid', 'spawn-fcgi', 'php-fpm', 'supervisord'];

// ---------------------------------------------------------------------------
// Options

function options() {
  const args = new Map();
  const parts = [];
  for (const a of process.argv.slice(2)) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m) args.set(m[1], m[2] ?? 'true');
    else if (ALL_PARTS.includes(a)) parts.push(a);
    else throw new Error(`unknown argument ${a}; see the header of benchmarks/daemon.mjs`);
  }
  const quick = args.has('quick');
  const num = (name, env, dflt) => {
    const v = Number(args.get(name) ?? process.env[env] ?? dflt);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
    return v;
  };
  if (parts.length === 0) parts.push(...(process.env.BENCH_PARTS ? process.env.BENCH_PARTS.split(',') : ALL_PARTS));
  for (const p of parts) if (!ALL_PARTS.includes(p)) throw new Error(`unknown part ${p}; parts: ${ALL_PARTS.join(', ')}`);
  const managers = (args.get('managers') ?? ALL_MANAGERS.join(',')).split(',');
  for (const m of managers) if (!ALL_MANAGERS.includes(m)) throw new Error(`--managers: unknown manager ${m}`);
  if (!managers.includes('fcgid')) managers.unshift('fcgid');
  const baseline = args.get('baseline') ? path.resolve(args.get('baseline'), 'bin/fcgid') : null;
  const dfltBackends = ALL_BACKENDS.filter((b) => (b === 'fcgid-baseline' ? baseline !== null : b !== 'fcgid-master' && managers.includes(b)));
  const backends = args.get('backends')?.split(',') ?? dfltBackends;
  for (const b of backends) if (!ALL_BACKENDS.includes(b)) throw new Error(`--backends: unknown backend ${b}; backends: ${ALL_BACKENDS.join(', ')}`);
  if (backends.includes('fcgid-baseline') && !baseline) throw new Error('backend fcgid-baseline needs --baseline=DIR (a checkout with a build)');
  return {
    parts: ALL_PARTS.filter((p) => parts.includes(p)),
    managers: ALL_MANAGERS.filter((m) => managers.includes(m)),
    backends: ALL_BACKENDS.filter((b) => backends.includes(b)),
    maxRequests: args.has('max-requests') ? Number(args.get('max-requests')) : null,
    recycleSlices: num('recycle-slices', 'BENCH_RECYCLE_SLICES', quick ? 2 : 5),
    recycleSlice: num('recycle-slice', 'BENCH_RECYCLE_SLICE', quick ? 2 : 3),
    rounds: num('rounds', 'BENCH_ROUNDS', quick ? 1 : 5),
    duration: num('duration', 'BENCH_DURATION', quick ? 2 : 5),
    warmup: num('warmup', 'BENCH_WARMUP', quick ? 1 : 2),
    connections: num('connections', 'BENCH_CONNECTIONS', 16),
    kills: num('kills', 'BENCH_KILLS', quick ? 5 : 20),
    runs: num('runs', 'BENCH_RUNS', quick ? 3 : 10),
    startupWorkers: num('startup-workers', 'BENCH_STARTUP_WORKERS', 8),
    idleWorkers: num('idle-workers', 'BENCH_IDLE_WORKERS', 64),
    idleSecs: num('idle-secs', 'BENCH_IDLE_SECS', quick ? 5 : 30),
    strace: !args.has('no-strace') && which('strace') !== null,
    json: args.get('json') ?? null,
    startSecs: args.has('start-secs') ? Number(args.get('start-secs')) : null,
    fcgid: path.resolve(args.get('fcgid') ?? path.join(root, 'bin/fcgid')),
    baseline,
    runDir: args.get('run-dir') ? path.resolve(args.get('run-dir')) : null,
    profile: args.get('profile') ? path.resolve(args.get('profile')) : null,
  };
}

// ---------------------------------------------------------------------------
// Processes: everything started is tracked by pid + start time, and only those
// (and their descendants, found through /proc) are ever signalled; see
// benchmarks/lib.mjs, shared with benchmarks/control.mjs.

let workDir = null;
/** fcgid's control socket and worker registry: on tmpfs when there is one, like /run/fcgid on a systemd host. */
let runDir = null;

// ---------------------------------------------------------------------------
// /proc

function acceptingChildren(pid) {
  return mainChildren(pid).filter(inAccept);
}

function status(pid) {
  const out = {};
  for (const line of (readText(`/proc/${pid}/status`) ?? '').split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Context switches of every thread of the process (the leader's status counts only its own). */
function ctxtSwitches(pid) {
  let voluntary = 0;
  let involuntary = 0;
  for (const tid of safeReaddir(`/proc/${pid}/task`)) {
    const s = status(`${pid}/task/${tid}`);
    voluntary += s.voluntary_ctxt_switches ?? 0;
    involuntary += s.nonvoluntary_ctxt_switches ?? 0;
  }
  return { voluntary, involuntary };
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Block this thread for `ms` (fractions allowed): the polls below must not wait on the event loop. */
function sleepSync(ms) {
  Atomics.wait(sleepCell, 0, 0, ms);
}
// The respawn poll reads one small /proc file per turn: every 0.2 ms costs little.
// The start-up poll reads one per worker and would compete with the manager
// starting up on a 2-core machine, so it turns every 1 ms.
const RESPAWN_POLL_MS = 0.2;
const STARTUP_POLL_MS = 1;
/** Poll `probe` every `everyMs` ms, synchronously, until it returns a value; null after `limitMs`. */
function pollSync(probe, limitMs, everyMs) {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const v = probe();
    if (v !== null && v !== undefined && v !== false) return { value: v, at: performance.now() };
    if (performance.now() > deadline) return null;
    sleepSync(everyMs);
  }
}

// ---------------------------------------------------------------------------
// The managers. Each takes a socket path and a worker count and returns a launch
// description; `pid` is the process whose children are the workers.

/** PHP_FCGI_MAX_REQUESTS when --max-requests is given; php-cgi's default (500) otherwise. */
function maxRequestsEnv(s) {
  return s.maxRequests === null ? {} : { PHP_FCGI_MAX_REQUESTS: String(s.maxRequests) };
}

// Each launch gets `s`: { workers, children (php-cgi's own PHP_FCGI_CHILDREN, fcgid
// only), startSecs (null: the manager's default), maxRequests, logLevel, onStdout }.
const managers = {
  fcgid: {
    launch(dir, name, sock, s, opt) {
      const cfg = path.join(dir, `${name}.yaml`);
      const env = { PHP_FCGI_CHILDREN: String(s.children ?? 0), ...maxRequestsEnv(s) };
      writeFileSync(
        cfg,
        [
          `control: { socket: ${JSON.stringify(path.join(runDir ?? dir, `${name}.ctl`))} }`,
          `log: { level: ${s.logLevel ?? 'info'} }`,
          'pools:',
          '  php:',
          '    command: /usr/bin/php-cgi',
          `    listen: ${JSON.stringify(`unix:${sock}`)}`,
          `    workers: ${s.workers}`,
          ...(s.startSecs == null ? [] : [`    start_secs: ${s.startSecs}`]),
          `    env: ${JSON.stringify(env)}`,
          '',
        ].join('\n'),
      );
      const nodeArgs = opt.profile ? ['--cpu-prof', `--cpu-prof-dir=${opt.profile}`] : [];
      const args = [...nodeArgs, s.bin ?? opt.fcgid, 'start', '-c', cfg];
      const e = launch(`fcgid ${name}`, process.execPath, args, { env: phpEnv(), onStdout: s.onStdout });
      return { entry: e, managerPid: e.pid, command: `node ${args.join(' ')}`, config: readFileSync(cfg, 'utf8') };
    },
  },
  // The same, from another build (--baseline=DIR): before and after a change, side by side in one run.
  'fcgid-baseline': {
    launch(dir, name, sock, s, opt) {
      return managers.fcgid.launch(dir, name, sock, { ...s, bin: opt.baseline }, opt);
    },
  },
  'spawn-fcgi': {
    launch(dir, name, sock, s) {
      // As people run it: one php-cgi master (exec'd in place by -n) forking
      // PHP_FCGI_CHILDREN=workers children, which it replaces after 500 requests each.
      const args = ['-n', '-s', sock, '-C', String(s.workers), '--', '/usr/bin/php-cgi'];
      const e = launch(`spawn-fcgi ${name}`, 'spawn-fcgi', args, { env: phpEnv(maxRequestsEnv(s)) });
      return { entry: e, managerPid: e.pid, command: `spawn-fcgi ${args.join(' ')}` };
    },
  },
  'php-fpm': {
    launch(dir, name, sock, s) {
      const conf = path.join(dir, `${name}-fpm.conf`);
      const asRoot = process.getuid() === 0;
      writeFileSync(
        conf,
        [
          '[global]',
          `pid = ${path.join(dir, `${name}-fpm.pid`)}`,
          `error_log = ${path.join(dir, `${name}-fpm.log`)}`,
          'daemonize = no',
          '[www]',
          `listen = ${sock}`,
          ...(asRoot ? ['user = root', 'group = root'] : []),
          'pm = static',
          `pm.max_children = ${s.workers}`,
          // pm.max_requests stays at php-fpm's default, 0: children are not recycled.
          '',
        ].join('\n'),
      );
      const args = ['-F', '-y', conf, ...(asRoot ? ['-R'] : [])];
      const e = launch(`php-fpm ${name}`, PHP_FPM, args, { env: phpEnv() });
      return { entry: e, managerPid: e.pid, command: `${PHP_FPM} ${args.join(' ')}`, config: readFileSync(conf, 'utf8') };
    },
  },
  supervisord: {
    launch(dir, name, sock, s) {
      const conf = path.join(dir, `${name}-supervisord.conf`);
      const logs = path.join(dir, `${name}-supervisord-logs`);
      mkdirSync(logs, { recursive: true });
      const env = { PHP_FCGI_CHILDREN: '0', ...maxRequestsEnv(s) };
      writeFileSync(
        conf,
        [
          '[supervisord]',
          'nodaemon=true',
          ...(process.getuid() === 0 ? ['user=root'] : []),
          `logfile=${path.join(logs, 'supervisord.log')}`,
          `pidfile=${path.join(dir, `${name}-supervisord.pid`)}`,
          `childlogdir=${logs}`,
          '[fcgi-program:php]',
          'command=/usr/bin/php-cgi',
          `socket=unix://${sock}`,
          `numprocs=${s.workers}`,
          'process_name=%(program_name)s_%(process_num)02d',
          `environment=${Object.entries(env).map(([k, v]) => `${k}="${v}"`).join(',')}`,
          // php-cgi exits 0 after 500 requests: "expected", so the default
          // autorestart=unexpected would leave it down.
          'autorestart=true',
          ...(s.startSecs == null ? [] : [`startsecs=${s.startSecs}`]),
          '',
        ].join('\n'),
      );
      const args = ['-n', '-c', conf];
      const e = launch(`supervisord ${name}`, 'supervisord', args, { env: phpEnv() });
      return { entry: e, managerPid: e.pid, command: `supervisord ${args.join(' ')}`, logfile: path.join(logs, 'supervisord.log'), config: readFileSync(conf, 'utf8') };
    },
  },
};

/** The managers to measure, with fcgid's baseline build right after fcgid when --baseline is given. */
function withBaseline(kinds, opt) {
  return opt.baseline ? kinds.flatMap((k) => (k === 'fcgid' ? [k, 'fcgid-baseline'] : [k])) : kinds;
}

/** Start a manager and wait until `expect` processes under it sit in accept(). */
async function startManager(kind, dir, name, s, opt) {
  const sock = path.join(dir, `${name}.sock`);
  const m = managers[kind].launch(dir, name, sock, s, opt);
  m.kind = kind;
  m.sock = sock;
  const expect = s.children ? s.children : s.workers;
  await waitFor(`${expect} ${kind} workers in accept()`, () => acceptingWorkers(m.managerPid).length >= expect, 15000, m.entry);
  return m;
}

/** Workers in accept(): children of the manager, or grandchildren under a php-cgi master. */
function acceptingWorkers(pid) {
  const out = [];
  for (const c of mainChildren(pid)) {
    if (inAccept(c)) out.push(c);
    else for (const g of mainChildren(c)) if (inAccept(g)) out.push(g);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Statistics and output

function machineInfo() {
  const cpus = os.cpus();
  const php = spawnSync('php-cgi', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const fpm = spawnSync(PHP_FPM, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const sup = spawnSync('supervisord', ['-v'], { encoding: 'utf8' }).stdout.trim();
  const sp = spawnSync('spawn-fcgi', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const ngx = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim();
  return {
    cpu: `${cpus.length} x ${cpus[0]?.model ?? '?'}`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    peers: `${php}; ${fpm}; supervisord ${sup}; ${sp}; ${ngx}`,
  };
}

// ---------------------------------------------------------------------------
// Part 1: throughput

/**
 * The throughput backends. fcgid and supervisord run with start_secs/startsecs 0
 * here (--start-secs to change): under this load every php-cgi recycles within
 * their default 1 s, which both count as a failed start (part "recycle" shows
 * what that does).
 */
function throughputBackends(opt) {
  const ss = opt.startSecs ?? 0;
  const all = {
    fcgid: { kind: 'fcgid', s: { workers: 4, startSecs: ss }, label: `fcgid: 4 php-cgi, start_secs ${ss}` },
    'fcgid-baseline': { kind: 'fcgid', s: { workers: 4, startSecs: ss, bin: opt.baseline }, label: `fcgid baseline (${opt.baseline}): 4 php-cgi, start_secs ${ss}` },
    'spawn-fcgi': { kind: 'spawn-fcgi', s: { workers: 4 }, label: 'spawn-fcgi -C 4: 1 php-cgi master, 4 children' },
    'php-fpm': { kind: 'php-fpm', s: { workers: 4 }, label: 'php-fpm: pm static, 4 children' },
    supervisord: { kind: 'supervisord', s: { workers: 4, startSecs: ss }, label: `supervisord: [fcgi-program] numprocs 4, startsecs ${ss}` },
    'fcgid-master': { kind: 'fcgid', s: { workers: 1, children: 4, startSecs: ss }, label: 'fcgid: 1 php-cgi master, PHP_FCGI_CHILDREN=4' },
  };
  return opt.backends.map((id) => ({ id, ...all[id], s: { ...all[id].s, maxRequests: opt.maxRequests } }));
}

async function throughput(opt, report) {
  const dir = workDir;
  writeFileSync(path.join(dir, 'hello.php'), `<?php echo "${PHP_BODY}";\n`);
  const backends = [];
  for (const b of throughputBackends(opt)) {
    const log = fcgidLog();
    const m = await startManager(b.kind, dir, `tp-${b.id}`, { ...b.s, onStdout: log.onStdout }, opt);
    backends.push({ ...b, ...m, log });
  }
  const hello = path.join(dir, 'hello.php');
  const { entry: nginx, port, command: nginxCommand } = await startNginx(dir, backends.map((b) => ({ id: b.id, sock: b.sock, script: hello })));
  const url = (b) => `http://${HOST}:${port}/${b.id}/hello.php`;
  for (const b of backends) {
    const res = await fetch(url(b));
    const text = await res.text();
    if (res.status !== 200 || text !== PHP_BODY) throw new Error(`${b.id}: expected 200 "${PHP_BODY}", got ${res.status} ${JSON.stringify(text.slice(0, 300))}`);
  }
  const wrkArgs = (u, s) => ['-t1', `-c${opt.connections}`, `-d${s}s`, '--timeout', '5s', '--latency', u];
  report.commands.push(nginxCommand);
  for (const b of backends) report.commands.push(b.command);
  report.commands.push(`wrk ${wrkArgs(`http://${HOST}:PORT/<manager>/hello.php`, opt.duration).join(' ')}`);
  report.configs = Object.fromEntries(backends.filter((b) => b.config).map((b) => [b.id, b.config]));

  console.log(`warm-up: ${opt.warmup} s per backend`);
  for (const b of backends) await runWrk(wrkArgs(url(b), opt.warmup), opt.warmup);

  const runs = new Map(backends.map((b) => [b.id, []]));
  for (let r = 0; r < opt.rounds; r++) {
    const order = backends.map((_, i) => backends[(i + r) % backends.length]);
    for (const b of order) {
      const cpu0 = cpuMs(b.managerPid);
      const r0 = respawnCount(b);
      const foreign = foreignCpu();
      const t0 = performance.now();
      const w = await runWrk(wrkArgs(url(b), opt.duration), opt.duration);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = cpuMs(b.managerPid) - cpu0;
      const respawns = r0 === null ? null : respawnCount(b) - r0;
      const foreignMsPerS = foreign();
      runs.get(b.id).push({ ...w, cpuMs: cpu, seconds, respawns, foreignMsPerS });
      console.log(
        `round ${r + 1} ${b.id.padEnd(12)} ${f0(w.okRps).padStart(7)} req/s  p99 ${f1(w.p99ms)} ms  errors ${w.non2xx + w.socketErrors}  ` +
          `manager CPU ${f0(cpu)} ms${respawns === null ? '' : `  respawns ${respawns}`}  other processes' CPU ${f0(foreignMsPerS)} ms/s  (load ${loadNow()})`,
      );
    }
  }
  await stop(nginx);
  for (const b of backends) await stop(b.entry);

  const summary = backends.map((b) => {
    const rs = runs.get(b.id);
    const cpu = rs.reduce((a, x) => a + x.cpuMs, 0);
    const secs = rs.reduce((a, x) => a + x.seconds, 0);
    const respawns = rs[0].respawns === null ? null : rs.reduce((a, x) => a + x.respawns, 0);
    return {
      id: b.id,
      label: b.label,
      median: median(rs.map((x) => x.okRps)),
      min: Math.min(...rs.map((x) => x.okRps)),
      max: Math.max(...rs.map((x) => x.okRps)),
      p99ms: median(rs.map((x) => x.p99ms)),
      errors: rs.reduce((a, x) => a + x.non2xx + x.socketErrors, 0),
      cpuMsPerS: cpu / secs,
      respawnsPerS: respawns === null ? null : respawns / secs,
      cpuMsPerRespawn: respawns ? cpu / respawns : null,
      foreignMsPerS: median(rs.map((x) => x.foreignMsPerS)),
      runs: rs,
    };
  });
  const fc = summary.find((s) => s.id === 'fcgid');
  console.log(
    '\n' +
      table(
        ['backend', '2xx req/s (median)', 'min – max', 'fcgid / this', 'p99 ms (median)', 'errors', 'manager CPU ms per s', 'respawns per s', 'manager CPU ms per respawn', "other processes' CPU ms/s (median)"],
        summary.map((s) => [
          s.label,
          f0(s.median),
          `${f0(s.min)} – ${f0(s.max)}`,
          s.id === 'fcgid' || !fc ? '—' : `${(fc.median / s.median).toFixed(3)}x`,
          f1(s.p99ms),
          String(s.errors),
          f1(s.cpuMsPerS),
          s.respawnsPerS === null ? 'n/a' : f1(s.respawnsPerS),
          s.cpuMsPerRespawn === null ? 'n/a' : f1(s.cpuMsPerRespawn),
          f0(s.foreignMsPerS),
        ]),
      ),
  );
  report.throughput = summary;
}

/** Respawns so far: fcgid's and supervisord's logs say each one; null for the others. */
function respawnCount(b) {
  if (b.kind === 'fcgid') return b.log.lines.filter((l) => /exited|was killed/.test(l.msg ?? '') && l.reason !== 'stopped by fcgid').length;
  if (b.kind === 'supervisord') return readText(b.logfile)?.match(/ exited: /g)?.length ?? 0;
  return null;
}

// ---------------------------------------------------------------------------
// Part "recycle": the same load on fcgid and supervisord with their default
// start_secs / startsecs (1 s). php-cgi recycles after 500 requests, sooner than
// that under load, which both take for a failed start.

async function recycle(opt, report) {
  const dir = workDir;
  writeFileSync(path.join(dir, 'hello.php'), `<?php echo "${PHP_BODY}";\n`);
  const kinds = opt.managers.filter((k) => k === 'fcgid' || k === 'supervisord');
  const out = [];
  for (const kind of kinds) {
    const log = fcgidLog();
    const m = await startManager(kind, dir, `rc-${kind}`, { workers: 4, maxRequests: opt.maxRequests, onStdout: log.onStdout }, opt);
    m.log = log;
    report.commands.push(`${m.command}   # default start_secs`);
    const { entry: nginx, port } = await startNginx(dir, [{ id: kind, sock: m.sock, script: path.join(dir, 'hello.php') }], `nginx-rc-${kind}.conf`);
    const slices = [];
    for (let i = 0; i < opt.recycleSlices; i++) {
      const w = await runWrk(['-t1', `-c${opt.connections}`, `-d${opt.recycleSlice}s`, '--timeout', '2s', `http://${HOST}:${port}/${kind}/hello.php`], opt.recycleSlice);
      const fatal =
        kind === 'fcgid'
          ? log.lines.filter((l) => /slot is fatal/.test(l.msg ?? '')).length
          : (readText(m.logfile)?.match(/ gave up: /g)?.length ?? 0);
      const backoffs =
        kind === 'fcgid'
          ? log.lines.filter((l) => l.reason === 'exited early').length
          : (readText(m.logfile)?.match(/exited too quickly|\(exit status 0; not expected\)/g)?.length ?? 0);
      slices.push({ ...w, fatal, earlyExits: backoffs });
      console.log(
        `${kind.padEnd(11)} ${String((i + 1) * opt.recycleSlice).padStart(3)} s: ${f0(w.okRps).padStart(7)} 2xx req/s  errors ${w.non2xx + w.socketErrors}  ` +
          `early exits so far ${backoffs}  fatal workers ${fatal}/4`,
      );
    }
    await stop(nginx);
    await stop(m.entry);
    out.push({ kind, slices });
  }
  report.recycle = out;
}

// ---------------------------------------------------------------------------
// Part 2: respawn latency

async function respawn(opt, report) {
  const dir = workDir;
  const kinds = withBaseline(opt.managers.filter((k) => k !== 'spawn-fcgi'), opt);
  const log = fcgidLog();
  const ms = [];
  for (const kind of kinds) {
    ms.push(await startManager(kind, dir, `rs-${kind}`, { workers: 4, logLevel: 'debug', onStdout: kind === 'fcgid' ? log.onStdout : null }, opt));
  }
  for (const m of ms) report.commands.push(m.command);
  // When each worker was first seen: a worker killed younger than start_secs /
  // startsecs (1 s in fcgid and supervisord) counts as a failed start and waits in backoff.
  const seen = new Map();
  const results = new Map(kinds.map((k) => [k, []]));
  for (let i = 0; i < opt.kills; i++) {
    for (const m of ms) {
      // Victim: the oldest worker, once it is older than 1.3 s and all 4 are in accept().
      const victim = await waitFor(
        `${m.kind}: 4 workers in accept(), the oldest older than 1.3 s`,
        () => {
          const now = performance.now();
          const acc = acceptingChildren(m.managerPid);
          for (const p of acc) if (!seen.has(p)) seen.set(p, now);
          if (acc.length < 4) return null;
          const oldest = acc.sort((a, b) => seen.get(a) - seen.get(b))[0];
          return now - seen.get(oldest) >= 1300 ? oldest : null;
        },
        10000,
        m.entry,
      );
      const before = new Set(mainChildren(m.managerPid));
      const wall = Date.now();
      const t0 = performance.now();
      process.kill(victim, 'SIGKILL');
      const spawned = pollSync(() => mainChildren(m.managerPid).find((p) => !before.has(p)) ?? null, 5000, RESPAWN_POLL_MS);
      if (!spawned) throw new Error(`${m.kind}: no new worker 5 s after SIGKILL of pid ${victim}`);
      const ready = pollSync(() => inAccept(spawned.value), 5000, RESPAWN_POLL_MS);
      if (!ready) throw new Error(`${m.kind}: new worker pid ${spawned.value} not in accept() after 5 s`);
      seen.set(spawned.value, ready.at);
      // What the new worker cost until it could accept: an exec'd php-cgi starts PHP
      // from scratch, a php-fpm child is a fork of a warm master.
      const workerCpuMs = Number(readText(`/proc/${spawned.value}/schedstat`)?.split(' ')[0]) / 1e6;
      const r = { victim, pid: spawned.value, spawnMs: spawned.at - t0, acceptMs: ready.at - t0, workerCpuMs, wall };
      results.get(m.kind).push(r);
      await sleep(20);
      if (m.kind === 'fcgid') {
        const line = log.lines.find((l) => l.pid === r.pid && /started as pid/.test(l.msg ?? ''));
        r.logMs = line?.time ? Date.parse(line.time) - wall : null;
      }
    }
  }
  for (const m of ms) await stop(m.entry);
  const summary = kinds.map((k) => {
    const rs = results.get(k);
    return {
      kind: k,
      n: rs.length,
      spawnMedian: median(rs.map((r) => r.spawnMs)),
      spawnP90: quantile(rs.map((r) => r.spawnMs), 0.9),
      spawnMax: Math.max(...rs.map((r) => r.spawnMs)),
      acceptMedian: median(rs.map((r) => r.acceptMs)),
      acceptP90: quantile(rs.map((r) => r.acceptMs), 0.9),
      workerCpuMedian: median(rs.map((r) => r.workerCpuMs)),
      logMedian: k === 'fcgid' ? median(rs.map((r) => r.logMs).filter((x) => x !== null)) : null,
      runs: rs,
    };
  });
  console.log(
    '\n' +
      table(
        ['manager', 'kills', 'new child: median ms', 'p90 ms', 'max ms', 'new child in accept(): median ms', 'p90 ms', "new child's CPU until accept(): median ms"],
        summary.map((s) => [s.kind, String(s.n), f1(s.spawnMedian), f1(s.spawnP90), f1(s.spawnMax), f1(s.acceptMedian), f1(s.acceptP90), f1(s.workerCpuMedian)]),
      ),
  );
  const fc = summary.find((s) => s.kind === 'fcgid');
  if (fc) console.log(`fcgid's own log ("started as pid" time minus the kill's wall-clock ms): median ${f1(fc.logMedian)} ms`);
  const base = summary.find((s) => s.kind === 'fcgid-baseline');
  if (fc && base) console.log(`fcgid / baseline: new child ${f2(fc.spawnMedian / base.spawnMedian)}x, new child in accept() ${f2(fc.acceptMedian / base.acceptMedian)}x (medians)`);
  report.respawn = summary;
}

// ---------------------------------------------------------------------------
// Part 3: startup

async function startup(opt, report) {
  const dir = workDir;
  const n = opt.startupWorkers;
  // fcgid both ways: n php-cgi processes it execs itself, and one php-cgi master
  // forking n children (what spawn-fcgi -C and php-fpm do).
  const entries = withBaseline(opt.managers, opt).flatMap((kind) => [
    { id: kind, kind, s: { workers: n } },
    ...(kind.startsWith('fcgid') ? [{ id: `${kind}-master`, kind, s: { workers: 1, children: n } }] : []),
  ]);
  const results = new Map(entries.map((e) => [e.id, []]));
  const node = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    node.push(performance.now() - t0);
  }
  const commands = new Map();
  for (let run = 0; run < opt.runs; run++) {
    const order = entries.map((_, i) => entries[(i + run) % entries.length]);
    for (const { id, kind, s } of order) {
      const name = `st-${id}-${run}`;
      const log = fcgidLog();
      const wall = Date.now();
      const t0 = performance.now();
      const m = managers[kind].launch(dir, name, path.join(dir, `${name}.sock`), { ...s, onStdout: log.onStdout }, opt);
      commands.set(id, m.command);
      // Synchronous polling: the clock starts before spawn() returns, and nothing else runs meanwhile.
      const done = pollSync(() => acceptingWorkers(m.managerPid).length >= n || !procStat(m.managerPid) || null, 10000, STARTUP_POLL_MS);
      const ms = done ? done.at - t0 : NaN;
      if (!done || acceptingWorkers(m.managerPid).length < n) {
        await stop(m.entry);
        throw new Error(`${id}: ${n} workers not in accept() within 10 s:\n${m.entry.output}`);
      }
      // fcgid logs "running" once it holds its sockets again (after the listen helper's round trip).
      let running;
      for (let waited = 0; kind.startsWith('fcgid') && !running && waited < 2000; waited += 10) {
        running = log.lines.find((l) => /^fcgid .* running/.test(l.msg ?? ''));
        if (!running) await sleep(10);
      }
      await sleep(50);
      results.get(id).push({ ms, logRunningMs: running?.time ? Date.parse(running.time) - wall : null });
      await stop(m.entry);
    }
  }
  for (const c of commands.values()) report.commands.push(c);
  const summary = entries.map(({ id: k }) => {
    const rs = results.get(k);
    return {
      kind: k,
      n: rs.length,
      median: median(rs.map((r) => r.ms)),
      min: Math.min(...rs.map((r) => r.ms)),
      max: Math.max(...rs.map((r) => r.ms)),
      logRunningMedian: k.startsWith('fcgid') ? median(rs.map((r) => r.logRunningMs)) : null,
      runs: rs,
    };
  });
  console.log(
    '\n' +
      table(
        ['manager', 'runs', `launch to ${n} workers in accept(): median ms`, 'min ms', 'max ms'],
        summary.map((s) => [s.kind, String(s.n), f1(s.median), f1(s.min), f1(s.max)]),
      ),
  );
  const fc = summary.find((s) => s.kind === 'fcgid');
  console.log(`fcgid's "running" log line came ${f1(fc.logRunningMedian)} ms after launch (median); bare \`node -e 0\`: ${f1(median(node))} ms`);
  for (const arrangement of ['', '-master']) {
    const [now, base] = [`fcgid${arrangement}`, `fcgid-baseline${arrangement}`].map((k) => summary.find((s) => s.kind === k));
    if (now && base) console.log(`fcgid${arrangement} / baseline: ${f2(now.median / base.median)}x (medians)`);
  }
  report.startup = { workers: n, nodeBareMs: median(node), managers: summary };
}

// ---------------------------------------------------------------------------
// Part 4: idle footprint

async function idle(opt, report) {
  const results = [];
  // With --baseline, the two builds one after the other, twice, in alternating order (ABBA).
  const order = opt.baseline ? ['fcgid', 'fcgid-baseline', 'fcgid-baseline', 'fcgid'] : ['fcgid'];
  for (const [i, kind] of order.entries()) results.push(await idleOne(opt, report, kind, i));
  if (opt.baseline) {
    const of = (kind, key) => median(results.filter((r) => r.kind === kind).map((r) => r[key]));
    console.log(
      `\nfcgid / baseline, idle with ${opt.idleWorkers} workers (medians of 2 windows each): CPU ${f2(of('fcgid', 'cpuMs') / of('fcgid-baseline', 'cpuMs'))}x, ` +
        `VmRSS ${f2(of('fcgid', 'rssMB') / of('fcgid-baseline', 'rssMB'))}x (${f1(of('fcgid', 'rssMB'))} vs ${f1(of('fcgid-baseline', 'rssMB'))} MB)`,
    );
  }
  report.idle = opt.baseline ? results : results[0];
}

async function idleOne(opt, report, kind, run) {
  const dir = workDir;
  const n = opt.idleWorkers;
  const t0 = performance.now();
  const m = await startManager(kind, dir, `idle-${kind}-${run}`, { workers: n }, opt);
  const startMs = performance.now() - t0;
  report.commands.push(m.command);
  // start_secs (1 s) timers are the last thing a fresh pool schedules; let them pass.
  await sleep(2000);
  const pid = m.managerPid;
  const snap = () => ({ cpu: cpuMs(pid), ctx: ctxtSwitches(pid), st: status(pid), at: performance.now() });
  // The window in thirds: V8 finishes its post-start-up garbage collection in
  // the first seconds; what remains after that is the daemon's steady idle cost.
  const snaps = [snap()];
  for (let i = 0; i < 3; i++) {
    await sleep((opt.idleSecs * 1000) / 3);
    snaps.push(snap());
  }
  const [s0, s1] = [snaps[0], snaps[3]];
  const secs = (s1.at - s0.at) / 1000;
  const workers = acceptingChildren(pid).length;
  const threads = safeReaddir(`/proc/${pid}/task`).length;
  const thirds = snaps.slice(1).map((x, i) => ({
    seconds: (x.at - snaps[i].at) / 1000,
    cpuMs: x.cpu - snaps[i].cpu,
    voluntary: x.ctx.voluntary - snaps[i].ctx.voluntary,
    involuntary: x.ctx.involuntary - snaps[i].ctx.involuntary,
  }));
  const result = {
    kind,
    workers: n,
    workersInAcceptAtEnd: workers,
    startMs,
    seconds: secs,
    rssMB: s1.st.VmRSS / 1024,
    hwmMB: s1.st.VmHWM / 1024,
    threads,
    cpuMs: s1.cpu - s0.cpu,
    voluntary: s1.ctx.voluntary - s0.ctx.voluntary,
    involuntary: s1.ctx.involuntary - s0.ctx.involuntary,
    thirds,
    strace: null,
  };
  if (opt.strace) {
    const out = path.join(dir, 'strace.txt');
    const e = launch('strace', 'strace', ['-c', '-f', '-o', out, '-p', String(pid)]);
    await sleep(10_000);
    signalIfSame(e, 'SIGINT');
    await Promise.race([e.exited, sleep(5000)]);
    if (started.has(e.pid)) killFamily(e);
    const text = readText(out) ?? '';
    // "100.00  seconds  usecs/call  calls  [errors]  total": calls is the fourth column.
    const total = text.split('\n').find((l) => /\stotal\s*$/.test(l));
    result.strace = { seconds: 10, calls: total ? Number(total.trim().split(/\s+/)[3]) : 0, summary: text.trim() };
    report.commands.push(`strace -c -f -p <fcgid pid>   # 10 s, after the ${opt.idleSecs} s window`);
  }
  await stop(m.entry);
  console.log(
    '\n' +
      table(
        [`${kind}, idle`, 'value'],
        [
          ['workers (php-cgi, all in accept() at the end)', `${n} (${workers})`],
          ['launch to all in accept()', `${f0(startMs)} ms`],
          ['window', `${f1(secs)} s`],
          ['daemon VmRSS at the end (VmHWM)', `${f1(result.rssMB)} MB (${f1(result.hwmMB)} MB)`],
          ['daemon CPU time in the window (utime+stime)', `${f0(result.cpuMs)} ms (by thirds: ${thirds.map((t) => f0(t.cpuMs)).join(', ')} ms)`],
          ['context switches, all threads (voluntary / involuntary)', `${result.voluntary} / ${result.involuntary} (by thirds: ${thirds.map((t) => `${t.voluntary}/${t.involuntary}`).join(', ')})`],
          ['daemon threads', String(threads)],
          ['syscalls in 10 s (strace -c -f)', result.strace ? String(result.strace.calls) : 'not measured'],
        ],
      ),
  );
  if (result.strace) console.log(`\nstrace -c -f over 10 s:\n${result.strace.summary || '(no syscalls: strace -c prints no table when it saw none)'}`);
  return result;
}

// ---------------------------------------------------------------------------

async function main() {
  const opt = options();
  installExitHandlers();
  const need = { throughput: ['nginx', 'wrk'], recycle: ['nginx', 'wrk'], respawn: [], startup: [], idle: [] };
  const peers = { 'spawn-fcgi': 'spawn-fcgi', 'php-fpm': PHP_FPM, supervisord: 'supervisord' };
  const missing = new Set();
  for (const p of opt.parts) for (const t of need[p]) if (!which(t)) missing.add(t);
  for (const m of opt.managers) if (peers[m] && !which(peers[m])) missing.add(peers[m]);
  if (!which('php-cgi')) missing.add('php-cgi');
  if (missing.size > 0) throw new Error(`missing ${[...missing].join(', ')}; install them (apt-get install nginx wrk php-cgi php-fpm spawn-fcgi supervisor) or pick --managers`);
  if (!existsSync(opt.fcgid)) throw new Error(`${opt.fcgid} is missing`);
  if (!existsSync(path.join(root, 'dist/cli/fcgid.js'))) throw new Error('dist/ is missing: run npm run build first');
  if (!existsSync('/proc/self/syscall')) throw new Error('needs /proc/<pid>/syscall (Linux)');

  workDir = tempDir(os.tmpdir(), 'fcgid-bench-daemon-');
  const shm = spawnSync('stat', ['-f', '-c', '%T', '/dev/shm'], { encoding: 'utf8' }).stdout.trim();
  const runBase = opt.runDir ?? (shm === 'tmpfs' ? '/dev/shm' : null);
  runDir = runBase ? tempDir(runBase, 'fcgid-bench-daemon-run-') : null;
  const report = { machine: machineInfo(), options: { ...opt }, load: {}, commands: [] };
  console.log('# fcgid process-manager benchmark\n');
  for (const [k, v] of Object.entries(report.machine)) console.log(`- ${k}: ${v}`);
  console.log(`- parts: ${opt.parts.join(', ')}; managers: ${opt.managers.join(', ')}`);
  const fsType = (d) => spawnSync('stat', ['-f', '-c', '%T', d], { encoding: 'utf8' }).stdout.trim();
  console.log(`- temp dir ${workDir} (${fsType(workDir)}); fcgid's control socket and worker registry in ${runDir ?? workDir} (${fsType(runDir ?? workDir)})`);

  const limits = {
    throughput: opt.backends.length * (opt.warmup + opt.rounds * (opt.duration + 3)) + 90,
    recycle: 2 * opt.recycleSlices * (opt.recycleSlice + 3) + 60,
    respawn: opt.kills * 3 * (opt.managers.length + (opt.baseline ? 1 : 0)) + 60,
    startup: opt.runs * (opt.managers.length + 1) * (opt.baseline ? 2 : 1) * 4 + 60,
    idle: (opt.baseline ? 4 : 1) * (opt.idleSecs + 2 + (opt.strace ? 15 : 0) + 20) + 60,
  };
  const parts = { throughput, recycle, respawn, startup, idle };
  for (const p of opt.parts) {
    const load = loadNow();
    console.log(`\n## ${p} (load average before: ${load})\n`);
    const foreign = foreignCpu();
    await bounded(p, limits[p], () => parts[p](opt, report));
    report.load[p] = { before: load, after: loadNow(), foreignMsPerS: foreign() };
    console.log(`(load average after: ${report.load[p].after}; other processes than this benchmark's used ${f0(report.load[p].foreignMsPerS)} ms/s of CPU during the part, of ${os.cpus().length * 1000})`);
  }
  console.log('\n## Commands\n\n```');
  for (const c of report.commands) console.log(c);
  console.log('```');
  if (opt.json) writeFileSync(opt.json, JSON.stringify(report, null, 2));
}

await runMain(main);
