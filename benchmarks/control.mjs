#!/usr/bin/env node
// The control paths of the process manager, measured from outside: what a
// rolling restart costs under load (fcgid against supervisord's [fcgi-program]
// and php-fpm's reload), how fast `fcgictl status` answers with many workers,
// how long a hung worker takes to be replaced, and a dynamic pool under a ramp.
// Four parts, each under a hard time limit:
//
//   restart  8 php-cgi workers per manager (php-fpm: pm static, 8 children) behind
//            ONE nginx; during a wrk load (-t1 -c16 -d15s, the command issued at
//            3 s): `fcgictl restart` (and `--batch 1`), `supervisorctl restart
//            'php:*'`, php-fpm `kill -USR2 <master>` (stock, and a second php-fpm
//            with process_control_timeout = 10s); alternating, 3 rounds.
//            Failed requests = wrk's non-2xx + socket errors; duration from
//            issuing the command to its return, and to every new worker accepting
//            (in accept(2), or holding a connection accepted from the pool's socket)
//   status   fcgid with 256 php-cgi workers: `fcgictl status --json` end to end
//            (hyperfine) against Node's start-up, and the control route alone
//            (curl --unix-socket, repeated; median)
//   hung     one php-cgi worker, idle_timeout 2s; a request to a script that
//            writes a timestamp (its last I/O) and sleeps; from that timestamp to
//            fcgid's "is hung" line and to a new pid answering a queued request
//   ramp     wrk in steps (-c2, -c8, -c16, 5 s each) on a script that sleeps
//            50 ms: a dynamic pool (min_workers 2, max_workers 16) against a fixed
//            pool of 16, alternating, 2 rounds; req/s and p99 per step, workers over
//            time (GET /v1/status every 250 ms), CPU of the daemon and its workers
//
//   node benchmarks/control.mjs                  # every part, about 8 minutes
//   node benchmarks/control.mjs status hung      # some parts (or BENCH_PARTS=status,hung)
//   node benchmarks/control.mjs --quick          # every part, short, about 2 minutes
//   options: --rounds=N --load-secs=S --issue-at=S --connections=N
//            --fpm-control-timeout=S (the second php-fpm's; default 10, 0 leaves it out)
//            --variants=fcgid,fcgid-batch1,supervisord,php-fpm,php-fpm-pct (restart);
//            --status-workers=N --status-runs=N (status); --hung-runs=N (hung);
//            --ramp-rounds=N --ramp-step=S (ramp); --json=FILE
//
// php-cgi runs with PHP_FCGI_CHILDREN=0 (one process per worker) and
// PHP_FCGI_MAX_REQUESTS=0 (never recycles, like php-fpm's default
// pm.max_requests = 0): what is measured is the restart, not php-cgi's recycling
// (benchmarks/daemon.mjs measures that). fcgid and supervisord keep their default
// start_secs / startsecs of 1 s.
//
// Needs a build (npm run build), nginx, wrk, php-cgi, php-fpm8.2, supervisord,
// supervisorctl, hyperfine and curl. Linux only: it reads /proc. Everything
// listens on 127.0.0.1 or on unix sockets in a temp dir (fcgid's control socket
// in a tmpfs one, /dev/shm), both removed at the end. The script kills only
// processes it started and their descendants, by pid (checked against the
// process start time) and process group, also on failure, on SIGINT and at a
// hard time limit per part. Results are printed, never asserted;
// docs/benchmarks.md records them.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lib from './lib.mjs';
import {
  HOST,
  PHP_FPM,
  bounded,
  cpuMs,
  f0,
  f1,
  fcgidLog,
  foreignCpu,
  inAccept,
  installExitHandlers,
  killFamily,
  loadNow,
  machineBusyMs,
  mainChildren,
  median,
  phpEnv,
  procStat,
  quantile,
  readText,
  runMain,
  runWrk,
  safeReaddir,
  sleep,
  stop,
  table,
  tempDir,
  treeCpuMs,
  waitFor,
  which,
} from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const FCGID = path.join(root, 'bin/fcgid');
const FCGICTL = path.join(root, 'bin/fcgictl');
const ALL_PARTS = ['restart', 'status', 'hung', 'ramp'];
/** One process per worker, never recycled by php-cgi itself (see the header). */
const PHP_ENV = { PHP_FCGI_CHILDREN: '0', PHP_FCGI_MAX_REQUESTS: '0' };

// ---------------------------------------------------------------------------
// Options

function options() {
  const args = new Map();
  const parts = [];
  for (const a of process.argv.slice(2)) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m) args.set(m[1], m[2] ?? 'true');
    else if (ALL_PARTS.includes(a)) parts.push(a);
    else throw new Error(`unknown argument ${a}; see the header of benchmarks/control.mjs`);
  }
  const quick = args.has('quick');
  const num = (name, env, dflt) => {
    const v = Number(args.get(name) ?? process.env[env] ?? dflt);
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number ≥ 0`);
    return v;
  };
  if (parts.length === 0) parts.push(...(process.env.BENCH_PARTS ? process.env.BENCH_PARTS.split(',') : ALL_PARTS));
  for (const p of parts) if (!ALL_PARTS.includes(p)) throw new Error(`unknown part ${p}; parts: ${ALL_PARTS.join(', ')}`);
  return {
    parts: ALL_PARTS.filter((p) => parts.includes(p)),
    rounds: num('rounds', 'BENCH_ROUNDS', quick ? 1 : 3),
    loadSecs: num('load-secs', 'BENCH_LOAD_SECS', 15),
    issueAt: num('issue-at', 'BENCH_ISSUE_AT', 3),
    connections: num('connections', 'BENCH_CONNECTIONS', 16),
    // php-fpm's default process_control_timeout is 0 (children get SIGTERM at once on a
    // reload); a second php-fpm runs with this one (0: left out).
    fpmControlTimeout: num('fpm-control-timeout', 'BENCH_FPM_CONTROL_TIMEOUT', quick ? 0 : 10) || null,
    variants: args.get('variants')?.split(',') ?? null,
    statusWorkers: num('status-workers', 'BENCH_STATUS_WORKERS', 256),
    statusRuns: num('status-runs', 'BENCH_STATUS_RUNS', quick ? 5 : 20),
    hungRuns: num('hung-runs', 'BENCH_HUNG_RUNS', quick ? 2 : 8),
    rampRounds: num('ramp-rounds', 'BENCH_RAMP_ROUNDS', quick ? 1 : 2),
    rampStep: num('ramp-step', 'BENCH_RAMP_STEP', quick ? 2 : 5),
    json: args.get('json') ?? null,
  };
}

// ---------------------------------------------------------------------------
// Processes: everything started is tracked by pid + start time, and only those
// (and their descendants, found through /proc) are ever signalled; see
// benchmarks/lib.mjs, shared with benchmarks/daemon.mjs.

let workDir = null;
/** fcgid's control sockets and worker registries: on tmpfs, like /run/fcgid on a systemd host. */
let runDir = null;

/** lib.launch() run from the repository's root, stdout kept apart in `entry.stdout`. */
function launch(name, command, args, opts = {}) {
  return lib.launch(name, command, args, { cwd: root, keepStdout: true, ...opts });
}

/** Run a command to completion under a time limit; its stdout, stderr and exit code. */
async function run(name, command, args, limitS, opts = {}) {
  const e = launch(name, command, args, opts);
  const timer = setTimeout(() => killFamily(e), limitS * 1000);
  const { code } = await e.exited;
  clearTimeout(timer);
  return { code, stdout: e.stdout, stderr: e.output };
}

// ---------------------------------------------------------------------------
// /proc

/** The manager's PHP children (fcgid's listen helper and the like left out). */
function phpWorkers(pid) {
  return mainChildren(pid).filter((p) => readText(`/proc/${p}/comm`)?.startsWith('php'));
}

/**
 * Inodes of the connections accepted from the unix listener at `sock`: in
 * /proc/net/unix the server side of an accepted connection carries the
 * listener's path; the listener itself has __SO_ACCEPTCON (flags 00010000).
 */
function acceptedInodes(sock) {
  const out = new Set();
  for (const line of (readText('/proc/net/unix') ?? '').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[7] === sock && f[3] !== '00010000' && f[6] !== '0') out.add(f[6]);
  }
  return out;
}

/** True when the process holds one of `inodes` among its descriptors. */
function holdsOneOf(pid, inodes) {
  if (inodes.size === 0) return false;
  for (const fd of safeReaddir(`/proc/${pid}/fd`)) {
    let link;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && inodes.has(m[1])) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Managers

/** `pool` is the YAML of the pool's own keys besides command, listen and env. */
function startFcgid(name, sock, poolLines, { logLevel = 'info' } = {}) {
  const cfg = path.join(workDir, `${name}.yaml`);
  const ctl = path.join(runDir, `${name}.ctl`);
  writeFileSync(
    cfg,
    [
      `control: { socket: ${JSON.stringify(ctl)} }`,
      `log: { level: ${logLevel} }`,
      'pools:',
      '  php:',
      '    command: /usr/bin/php-cgi',
      `    listen: ${JSON.stringify(`unix:${sock}`)}`,
      ...poolLines.map((l) => `    ${l}`),
      `    env: ${JSON.stringify(PHP_ENV)}`,
      '',
    ].join('\n'),
  );
  const log = fcgidLog();
  const args = [FCGID, 'start', '-c', cfg];
  const entry = launch(`fcgid ${name}`, process.execPath, args, { env: phpEnv(), onStdout: log.onStdout });
  return { kind: 'fcgid', entry, pid: entry.pid, sock, ctl, log, command: `node bin/fcgid start -c ${cfg}`, config: readFileSync(cfg, 'utf8') };
}

function startSupervisord(name, sock, workers) {
  const conf = path.join(workDir, `${name}-supervisord.conf`);
  const logs = path.join(workDir, `${name}-supervisord-logs`);
  mkdirSync(logs, { recursive: true });
  writeFileSync(
    conf,
    [
      '[supervisord]',
      'nodaemon=true',
      ...(process.getuid() === 0 ? ['user=root'] : []),
      `logfile=${path.join(logs, 'supervisord.log')}`,
      `pidfile=${path.join(workDir, `${name}-supervisord.pid`)}`,
      `childlogdir=${logs}`,
      // For supervisorctl: its XML-RPC interface on a unix socket.
      '[unix_http_server]',
      `file=${path.join(workDir, `${name}-supervisord.sock`)}`,
      '[rpcinterface:supervisor]',
      'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
      '[supervisorctl]',
      `serverurl=unix://${path.join(workDir, `${name}-supervisord.sock`)}`,
      '[fcgi-program:php]',
      'command=/usr/bin/php-cgi',
      `socket=unix://${sock}`,
      `numprocs=${workers}`,
      'process_name=%(program_name)s_%(process_num)02d',
      `environment=${Object.entries(PHP_ENV).map(([k, v]) => `${k}="${v}"`).join(',')}`,
      '',
    ].join('\n'),
  );
  const args = ['-n', '-c', conf];
  const entry = launch(`supervisord ${name}`, 'supervisord', args, { env: phpEnv() });
  return { kind: 'supervisord', entry, pid: entry.pid, sock, conf, command: `supervisord ${args.join(' ')}`, config: readFileSync(conf, 'utf8') };
}

function startPhpFpm(name, sock, workers, controlTimeout = null) {
  const conf = path.join(workDir, `${name}-fpm.conf`);
  const asRoot = process.getuid() === 0;
  writeFileSync(
    conf,
    [
      '[global]',
      `pid = ${path.join(workDir, `${name}-fpm.pid`)}`,
      `error_log = ${path.join(workDir, `${name}-fpm.log`)}`,
      'daemonize = no',
      ...(controlTimeout === null ? [] : [`process_control_timeout = ${controlTimeout}s`]),
      '[www]',
      `listen = ${sock}`,
      ...(asRoot ? ['user = root', 'group = root'] : []),
      'pm = static',
      `pm.max_children = ${workers}`,
      '',
    ].join('\n'),
  );
  const args = ['-F', '-y', conf, ...(asRoot ? ['-R'] : [])];
  const entry = launch(`php-fpm ${name}`, PHP_FPM, args, { env: phpEnv() });
  return { kind: 'php-fpm', entry, pid: entry.pid, sock, logfile: path.join(workDir, `${name}-fpm.log`), command: `${PHP_FPM} ${args.join(' ')}`, config: readFileSync(conf, 'utf8') };
}

async function ready(m, n, limitMs = 20000) {
  await waitFor(`${n} ${m.kind} workers in accept()`, () => phpWorkers(m.pid).filter(inAccept).length >= n, limitMs, m.entry, 20);
  return m;
}

/** GET a JSON route of fcgid's control socket, as curl --unix-socket does. */
function controlGet(ctl, route) {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: ctl, path: route, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error(`${route}: no answer in 5 s`)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------
// nginx and wrk

const startNginx = (locations) => lib.startNginx(workDir, locations);

function fileSize(file) {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Lines appended to a log since byte `from`, grouped by what they say (numbers and paths left out). */
function newLogLines(file, from) {
  let text = '';
  try {
    text = readFileSync(file).subarray(from).toString('utf8');
  } catch {
    return { count: 0, kinds: {} };
  }
  const lines = text.split('\n').filter(Boolean);
  const kinds = {};
  for (const l of lines) {
    const k = l
      .replace(/^\S+ \S+ /, '')
      .replace(/, client:.*$/, '')
      .replace(/\d+#\d+: \*\d+ /, '')
      .replace(/\/\S+/g, 'PATH');
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  return { count: lines.length, kinds };
}

// ---------------------------------------------------------------------------
// Statistics and output

function versions() {
  const first = (cmd, args, stream = 'stdout') => (spawnSync(cmd, args, { encoding: 'utf8' })[stream] ?? '').trim().split('\n')[0];
  return {
    cpu: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    tools: [
      first('php-cgi', ['-v']),
      first(PHP_FPM, ['-v']),
      `supervisord ${first('supervisord', ['-v'])}`,
      first('nginx', ['-v'], 'stderr'),
      first('wrk', ['-v'], 'stderr') || first('wrk', ['-v']),
      first('hyperfine', ['--version']),
      first('curl', ['--version']).split(' ').slice(0, 2).join(' '),
    ].join('; '),
  };
}

// ---------------------------------------------------------------------------
// Part 1: rolling restart under load

/**
 * Watch a restart: when the command returns, when every one of `n` new workers
 * (pids not in `old`) has been seen accepting, and when the last old worker is gone.
 */
async function watchRestart(m, n, old, t0, cmd, limitMs) {
  const seen = new Map(); // new pid -> ms after t0 when first seen accepting
  let allNewMs = null;
  let oldGoneMs = null;
  let cmdResult = null;
  cmd.exited.then((r) => (cmdResult = r));
  const deadline = t0 + limitMs;
  for (;;) {
    const now = performance.now();
    const current = phpWorkers(m.pid);
    const fresh = current.filter((p) => !old.has(p) && !seen.has(p));
    let inodes = null;
    for (const p of fresh) {
      if (inAccept(p)) seen.set(p, now - t0);
      else {
        inodes ??= acceptedInodes(m.sock);
        if (holdsOneOf(p, inodes)) seen.set(p, now - t0);
      }
    }
    // Every worker now running is new and has been seen accepting.
    if (allNewMs === null && seen.size >= n && current.filter((p) => seen.has(p)).length >= n) allNewMs = now - t0;
    if (oldGoneMs === null && [...old].every((p) => !procStat(p))) oldGoneMs = now - t0;
    if (cmdResult && allNewMs !== null && oldGoneMs !== null) break;
    if (now > deadline) break;
    await sleep(2);
  }
  return { cmdMs: cmdResult ? cmdResult.at - t0 : NaN, cmdCode: cmdResult?.code ?? null, allNewMs: allNewMs ?? NaN, oldGoneMs: oldGoneMs ?? NaN, newSeen: seen.size };
}

/** From fcgid's debug log, ms after `wall0`: when the restart arrived, replacements spawned and ran, old workers exited. */
function fcgidRestartTimes(lines, old, wall0) {
  const at = (l) => Date.parse(l.time) - wall0;
  const received = lines.find((l) => /rolling restart/.test(l.msg ?? ''));
  const spawns = lines.filter((l) => /started as pid/.test(l.msg ?? '') && !old.has(l.pid));
  const running = lines.filter((l) => l.to === 'running' && l.pid && !old.has(l.pid));
  const oldExits = lines.filter((l) => l.uptime_ms !== undefined && old.has(l.pid));
  const last = (xs) => (xs.length ? at(xs.at(-1)) : NaN);
  return {
    receivedMs: received ? at(received) : NaN,
    firstSpawnMs: spawns.length ? at(spawns[0]) : NaN,
    lastSpawnMs: last(spawns),
    lastRunningMs: last(running),
    lastOldExitMs: last(oldExits),
    oldExitReasons: [...new Set(oldExits.map((l) => l.reason))],
  };
}

async function restart(opt, report) {
  const hello = path.join(workDir, 'hello.php');
  writeFileSync(hello, '<?php echo "hello";\n');
  const N = 8;
  const fc = await ready(startFcgid('rs-fcgid', path.join(workDir, 'rs-fcgid.sock'), [`workers: ${N}`], { logLevel: 'debug' }), N);
  const sup = await ready(startSupervisord('rs-sup', path.join(workDir, 'rs-sup.sock'), N), N);
  const fpm = await ready(startPhpFpm('rs-fpm', path.join(workDir, 'rs-fpm.sock'), N), N);
  const managersUp = [fc, sup, fpm];
  let fpmT = null;
  if (opt.fpmControlTimeout !== null) {
    fpmT = await ready(startPhpFpm('rs-fpm-t', path.join(workDir, 'rs-fpm-t.sock'), N, opt.fpmControlTimeout), N);
    managersUp.push(fpmT);
  }
  const ctl = (m, extra) => ({ command: process.execPath, args: [FCGICTL, '-s', m.ctl, 'restart', ...extra], shown: `node bin/fcgictl -s ${m.ctl} restart${extra.length ? ` ${extra.join(' ')}` : ''}` });
  const variants = [
    { id: 'fcgid', m: fc, label: 'fcgid: `fcgictl restart` (the default: every slot at once)', cmd: () => ctl(fc, []) },
    { id: 'fcgid-batch1', m: fc, label: 'fcgid: `fcgictl restart --batch 1` (one slot at a time)', cmd: () => ctl(fc, ['--batch', '1']) },
    { id: 'supervisord', m: sup, label: "supervisord: `supervisorctl restart 'php:*'`", cmd: () => ({ command: 'supervisorctl', args: ['-c', sup.conf, 'restart', 'php:*'], shown: `supervisorctl -c ${sup.conf} restart 'php:*'` }) },
    { id: 'php-fpm', m: fpm, label: 'php-fpm: `kill -USR2 <master>`', cmd: () => ({ command: 'kill', args: ['-USR2', String(fpm.pid)], shown: `kill -USR2 ${fpm.pid}` }) },
  ];
  if (fpmT) {
    variants.push({
      id: 'php-fpm-pct',
      m: fpmT,
      label: `php-fpm, process_control_timeout ${opt.fpmControlTimeout}s: \`kill -USR2 <master>\``,
      cmd: () => ({ command: 'kill', args: ['-USR2', String(fpmT.pid)], shown: `kill -USR2 ${fpmT.pid}` }),
    });
  }
  if (opt.variants) {
    for (const id of opt.variants) if (!variants.some((v) => v.id === id)) throw new Error(`--variants: unknown ${id}; known: ${variants.map((v) => v.id).join(', ')}`);
    variants.splice(0, variants.length, ...variants.filter((v) => opt.variants.includes(v.id)));
  }
  const nginx = await startNginx(
    [...new Set(variants.map((v) => v.m))].map((m) => ({ id: m === fc ? 'fcgid' : m === sup ? 'supervisord' : m === fpm ? 'php-fpm' : 'php-fpm-pct', sock: m.sock, script: hello })),
  );
  const loc = (v) => (v.m === fc ? 'fcgid' : v.id);
  const url = (v) => `http://${HOST}:${nginx.port}/${loc(v)}/hello.php`;
  for (const v of variants) {
    const res = await fetch(url(v));
    const text = await res.text();
    if (res.status !== 200 || text !== 'hello') throw new Error(`${v.id}: expected 200 "hello", got ${res.status} ${JSON.stringify(text.slice(0, 300))}`);
  }
  const wrkArgs = (u, s) => ['-t1', `-c${opt.connections}`, `-d${s}s`, '--timeout', '5s', '--latency', u];
  report.commands.push(nginx.command);
  for (const m of managersUp) report.commands.push(m.command);
  report.commands.push(`wrk ${wrkArgs(`http://${HOST}:PORT/<manager>/hello.php`, opt.loadSecs).join(' ')}   # the command issued ${opt.issueAt} s after wrk starts`);
  for (const v of variants) report.commands.push(v.cmd().shown);
  report.configs = Object.fromEntries(managersUp.map((m) => [m.kind + (m === fpmT ? '-pct' : ''), m.config]));

  // The same load without a restart: every manager must serve it without a failure.
  const baseline = {};
  for (const v of variants.filter((v, i) => variants.findIndex((x) => x.m === v.m) === i)) {
    const w = await runWrk(wrkArgs(url(v), 3), 3);
    baseline[loc(v)] = w;
    console.log(`no restart, 3 s: ${loc(v).padEnd(12)} ${f0(w.okRps).padStart(7)} 2xx req/s  failed ${w.non2xx + w.socketErrors}  p99 ${f1(w.p99ms)} ms`);
  }

  const results = new Map(variants.map((v) => [v.id, []]));
  for (let r = 0; r < opt.rounds; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    for (const v of order) {
      const logFrom = fileSize(nginx.errorLog);
      const wrkP = runWrk(wrkArgs(url(v), opt.loadSecs), opt.loadSecs);
      await sleep(opt.issueAt * 1000);
      const old = new Set(phpWorkers(v.m.pid));
      const c = v.cmd();
      const fcgidFrom = v.m.log?.lines.length ?? 0;
      const wall0 = Date.now();
      const t0 = performance.now();
      const cmd = launch(v.id, c.command, c.args);
      const watched = await watchRestart(v.m, N, old, t0, cmd, Math.max(5, opt.loadSecs - opt.issueAt + 10) * 1000);
      const w = await wrkP;
      const errors = newLogLines(nginx.errorLog, logFrom);
      const res = { ...watched, ...w, failed: w.non2xx + w.socketErrors, nginxErrors: errors, cmdOut: (cmd.stdout + cmd.output).trim(), oldWorkers: old.size };
      if (v.m.log) Object.assign(res, fcgidRestartTimes(v.m.log.lines.slice(fcgidFrom), old, wall0));
      results.get(v.id).push(res);
      console.log(
        `round ${r + 1} ${v.id.padEnd(12)} failed ${String(res.failed).padStart(5)} (non-2xx ${w.non2xx}, socket ${w.socketErrors})  ` +
          `command ${f0(res.cmdMs)} ms (exit ${res.cmdCode})  all ${N} new accepting ${f0(res.allNewMs)} ms  old gone ${f0(res.oldGoneMs)} ms  ` +
          `p99 ${f1(w.p99ms)} ms  max ${f0(w.maxMs)} ms  ${f0(w.okRps)} 2xx req/s  nginx errors ${errors.count}  (load ${loadNow()})`,
      );
      if (res.receivedMs !== undefined) {
        console.log(
          `   fcgid's log: restart received +${f0(res.receivedMs)} ms; first replacement spawned +${f0(res.firstSpawnMs)}, last +${f0(res.lastSpawnMs)}; ` +
            `last replacement running +${f0(res.lastRunningMs)}; last old worker's exit +${f0(res.lastOldExitMs)} ms`,
        );
      }
      if (errors.count > 0) console.log(`   nginx: ${JSON.stringify(errors.kinds)}`);
      if (res.cmdOut) console.log(`   ${c.command === 'kill' ? 'kill' : path.basename(c.command)}: ${res.cmdOut.split('\n').slice(0, 4).join(' / ')}`);
      if (!Number.isFinite(res.allNewMs) || !Number.isFinite(res.cmdMs)) console.log(`   (not finished before the load ended: ${res.newSeen} new workers seen accepting)`);
      // Let the pool settle (and the old processes go) before the next manager.
      await sleep(1000);
    }
  }
  await stop(nginx.entry);
  for (const m of managersUp) await stop(m.entry);

  const summary = variants.map((v) => {
    const rs = results.get(v.id);
    return {
      id: v.id,
      label: v.label,
      command: v.cmd().shown,
      failed: rs.map((x) => x.failed),
      cmdMs: rs.map((x) => x.cmdMs),
      allNewMs: rs.map((x) => x.allNewMs),
      oldGoneMs: rs.map((x) => x.oldGoneMs),
      p99ms: rs.map((x) => x.p99ms),
      maxMs: rs.map((x) => x.maxMs),
      okRps: rs.map((x) => x.okRps),
      nginxErrors: rs.map((x) => x.nginxErrors),
      receivedMs: rs.map((x) => x.receivedMs ?? NaN),
      daemonMs: rs.map((x) => (x.lastOldExitMs ?? NaN) - (x.receivedMs ?? NaN)),
      runs: rs,
    };
  });
  const list = (xs, fmt = f0) => xs.map(fmt).join(', ');
  console.log(
    '\n' +
      table(
        ['manager: command', 'failed requests per round', 'command returned, ms', 'all 8 new workers accepting, ms', 'last old worker gone, ms', 'fcgid: request received / received to last old exit, ms', 'p99 / max latency, ms (median)', '2xx req/s during the load (median)'],
        summary.map((s) => [
          s.label,
          list(s.failed, String),
          list(s.cmdMs),
          list(s.allNewMs),
          list(s.oldGoneMs),
          s.id.startsWith('fcgid') ? `${list(s.receivedMs)} / ${list(s.daemonMs)}` : '—',
          `${f1(median(s.p99ms))} / ${f0(median(s.maxMs))}`,
          f0(median(s.okRps)),
        ]),
      ),
  );
  report.restart = { workers: N, loadSecs: opt.loadSecs, issueAt: opt.issueAt, baseline, variants: summary };
}

// ---------------------------------------------------------------------------
// Part 2: fcgictl status with many workers

async function status(opt, report) {
  const n = opt.statusWorkers;
  const t0 = performance.now();
  const m = await ready(startFcgid('st-fcgid', path.join(workDir, 'st-fcgid.sock'), [`workers: ${n}`]), n, 60000);
  const startMs = performance.now() - t0;
  // start_secs (1 s) timers are the last thing a fresh pool schedules; let them pass, and a few scans.
  await sleep(3000);
  report.commands.push(m.command);
  const doc = await controlGet(m.ctl, '/v1/status');
  const slots = doc.pools[0].slots.length;
  const running = doc.pools[0].workers.running;
  const bytes = JSON.stringify(doc).length;
  console.log(`fcgid with ${n} php-cgi workers: all in accept() ${f0(startMs)} ms after launch; status: ${running} running, ${slots} slots, ${f0(bytes)} bytes of JSON`);

  // The route alone: curl, a process that costs a few ms to start and then times only the exchange.
  const curlArgs = ['-s', '--unix-socket', m.ctl, 'http://x/v1/status', '-o', '/dev/null', '-w', '%{time_total}'];
  const curl = [];
  const curlRuns = Math.max(10, opt.statusRuns + 10);
  for (let i = 0; i < curlRuns; i++) {
    const r = await run('curl', 'curl', curlArgs, 10);
    if (r.code !== 0) throw new Error(`curl failed (${r.code}): ${r.stderr}`);
    curl.push(Number(r.stdout) * 1000);
    await sleep(50);
  }
  report.commands.push(`curl ${curlArgs.map((a) => (a.includes('%') ? `'${a}'` : a)).join(' ')}   # ${curlRuns} times, 50 ms apart`);
  // The same route from a Node client already running, a hundred times: the
  // daemon's time without any process start-up, and how often a scan delays it.
  const inproc = [];
  for (let i = 0; i < 100; i++) {
    const s = performance.now();
    await controlGet(m.ctl, '/v1/status');
    inproc.push(performance.now() - s);
    await sleep(23);
  }
  console.log(`curl --unix-socket …/v1/status: median ${f1(median(curl))} ms  p90 ${f1(quantile(curl, 0.9))} ms  max ${f1(Math.max(...curl))} ms  (${curl.length} runs)`);
  console.log(`node http.get /v1/status, 100 times 23 ms apart: median ${f1(median(inproc))} ms  p90 ${f1(quantile(inproc, 0.9))} ms  max ${f1(Math.max(...inproc))} ms`);

  // End to end, against what Node itself and fcgictl's start-up cost.
  const hfJson = path.join(workDir, 'hyperfine.json');
  const cmds = [`node bin/fcgictl -s ${m.ctl} status --json`, 'node bin/fcgictl --version', 'node -e 0'];
  const hfArgs = ['-N', '-w', '3', '-r', String(opt.statusRuns), '--export-json', hfJson, ...cmds];
  const hf = await run('hyperfine', 'hyperfine', hfArgs, 30 + opt.statusRuns * 6, { env: { ...process.env, NO_COLOR: '1' } });
  if (hf.code !== 0) throw new Error(`hyperfine failed (${hf.code}):\n${hf.stdout}\n${hf.stderr}`);
  report.commands.push(`hyperfine -N -w 3 -r ${opt.statusRuns} ${cmds.map((c) => `'${c}'`).join(' ')}`);
  const results = JSON.parse(readFileSync(hfJson, 'utf8')).results.map((r) => ({ command: r.command, medianMs: r.median * 1000, meanMs: r.mean * 1000, minMs: r.min * 1000, maxMs: r.max * 1000, userMs: r.user * 1000, systemMs: r.system * 1000 }));
  const daemonCpuBefore = cpuMs(m.pid);
  await stop(m.entry);
  console.log(
    '\n' +
      table(
        ['command', 'median ms', 'mean ms', 'min ms', 'max ms', 'user+sys CPU ms (mean)'],
        [
          ...results.map((r) => [r.command.replace(m.ctl, 'CTL'), f1(r.medianMs), f1(r.meanMs), f1(r.minMs), f1(r.maxMs), f1(r.userMs + r.systemMs)]),
          ["curl --unix-socket CTL http://x/v1/status -o /dev/null -w '%{time_total}'", f1(median(curl)), f1(curl.reduce((a, b) => a + b, 0) / curl.length), f1(Math.min(...curl)), f1(Math.max(...curl)), '—'],
          ['node http.get /v1/status (in this script)', f1(median(inproc)), f1(inproc.reduce((a, b) => a + b, 0) / inproc.length), f1(Math.min(...inproc)), f1(Math.max(...inproc)), '—'],
        ],
      ),
  );
  report.status = { workers: n, startMs, running, slots, bytes, curlMs: curl, nodeHttpMs: inproc, hyperfine: results, daemonCpuMs: daemonCpuBefore };
}

// ---------------------------------------------------------------------------
// Part 3: hung worker to replacement

async function hung(opt, report) {
  const { FastCGIClient } = await import(path.join(root, 'dist/fastcgi/index.js'));
  const sock = path.join(workDir, 'hung.sock');
  const mark = path.join(workDir, 'hung.mark');
  const hangPhp = path.join(workDir, 'hang.php');
  const pidPhp = path.join(workDir, 'pid.php');
  // The timestamp write is the worker's last I/O; then it sleeps (php-cgi's
  // sleep() returns early on SIGTERM, so the script ends when fcgid stops it).
  writeFileSync(hangPhp, `<?php file_put_contents(${JSON.stringify(mark)}, sprintf("%.6f", microtime(true))); sleep(3600);\n`);
  writeFileSync(pidPhp, '<?php echo getmypid();\n');
  const m = await ready(startFcgid('hung-fcgid', sock, ['workers: 1', 'idle_timeout: 2s'], { logLevel: 'debug' }), 1);
  report.commands.push(m.command);
  const params = (script) => ({ SCRIPT_FILENAME: script, SCRIPT_NAME: `/${path.basename(script)}`, REQUEST_METHOD: 'GET', QUERY_STRING: '', SERVER_PROTOCOL: 'HTTP/1.1', GATEWAY_INTERFACE: 'CGI/1.1' });
  const client = new FastCGIClient({ address: `unix:${sock}`, keepConn: false, timeout: 30000 });
  await sleep(1500);
  const runs = [];
  for (let i = 0; i < opt.hungRuns; i++) {
    // Start at a random point of fcgid's once-a-second scan.
    await sleep(500 + Math.random() * 1000);
    rmSync(mark, { force: true });
    const oldPid = phpWorkers(m.pid)[0];
    const hang = client.fetch({ params: params(hangPhp) }).then(
      (r) => ({ ok: true, status: r.status, bytes: r.body.length, at: Date.now() }),
      (err) => ({ ok: false, error: err.message, at: Date.now() }),
    );
    await waitFor('the hang script to write its timestamp', () => existsSync(mark) && readText(mark)?.length > 0, 10000, m.entry, 1);
    const lastIo = Number(readText(mark)) * 1000; // wall-clock ms
    // Queued behind the hung worker (the pool's only one): the first new worker answers it.
    const probe = await client.fetch({ params: params(pidPhp) });
    const answeredAt = Date.now();
    const newPid = Number(probe.body.toString());
    const hangResult = await hang;
    await sleep(50);
    const lineAt = (re, pid, field = 'pid') => {
      const l = m.log.lines.find((x) => re.test(x.msg ?? '') && x[field] !== undefined && x.pid === pid);
      return l?.time ? Date.parse(l.time) : NaN;
    };
    const hungLine = m.log.lines.find((x) => /is hung/.test(x.msg ?? '') && x.pid === oldPid);
    const r = {
      oldPid,
      newPid,
      lastIo: new Date(lastIo).toISOString(),
      detail: /is hung: (.*?);/.exec(hungLine?.msg ?? '')?.[1] ?? null,
      hungLineMs: lineAt(/is hung/, oldPid) - lastIo,
      exitLineMs: lineAt(/exited|was killed/, oldPid, 'uptime_ms') - lastIo,
      spawnLineMs: lineAt(/started as pid/, newPid) - lastIo,
      answeredMs: answeredAt - lastIo,
      hangRequest: hangResult,
    };
    if (newPid === oldPid) throw new Error(`run ${i + 1}: the probe was answered by the hung worker's pid ${oldPid}`);
    runs.push(r);
    console.log(
      `run ${i + 1}: pid ${oldPid} → ${newPid}: "is hung" +${f0(r.hungLineMs)} ms, old exit logged +${f0(r.exitLineMs)} ms, ` +
        `new pid spawned +${f0(r.spawnLineMs)} ms, new pid answered +${f0(r.answeredMs)} ms; the hung request got ${hangResult.ok ? `status ${hangResult.status}, ${hangResult.bytes} bytes` : hangResult.error}\n   fcgid: ${r.detail}`,
    );
  }
  client.close?.();
  await stop(m.entry);
  const row = (label, k) => {
    const xs = runs.map((r) => r[k]);
    return [label, f0(median(xs)), f0(Math.min(...xs)), f0(Math.max(...xs))];
  };
  console.log(
    '\n' +
      table(
        ["from the worker's last I/O to", 'median ms', 'min ms', 'max ms'],
        [
          row('fcgid\'s "is hung" log line', 'hungLineMs'),
          row("the old worker's exit logged", 'exitLineMs'),
          row('"started as pid" of the replacement', 'spawnLineMs'),
          row('the replacement answering a queued request', 'answeredMs'),
        ],
      ),
  );
  report.hung = { idleTimeoutMs: 2000, runs };
}

// ---------------------------------------------------------------------------
// Part 4: dynamic pool under a ramp

async function ramp(opt, report) {
  const slow = path.join(workDir, 'slow.php');
  writeFileSync(slow, '<?php usleep(50000); echo "ok";\n');
  const pools = [
    { id: 'dynamic', lines: ['min_workers: 2', 'max_workers: 16'], initial: 2, label: 'dynamic: min_workers 2, max_workers 16' },
    { id: 'static', lines: ['workers: 16'], initial: 16, label: 'fixed: workers 16' },
  ];
  const socks = Object.fromEntries(pools.map((p) => [p.id, path.join(workDir, `ramp-${p.id}.sock`)]));
  const nginx = await startNginx(pools.map((p) => ({ id: p.id, sock: socks[p.id], script: slow })));
  report.commands.push(nginx.command);
  const steps = [2, 8, 16];
  const wrkArgs = (c, u) => ['-t1', `-c${c}`, `-d${opt.rampStep}s`, '--timeout', '5s', '--latency', u];
  report.commands.push(`${steps.map((c) => `wrk ${wrkArgs(c, `http://${HOST}:PORT/<pool>/slow.php`).join(' ')}`).join('; ')}   # back to back`);
  const results = new Map(pools.map((p) => [p.id, []]));
  for (let r = 0; r < opt.rampRounds; r++) {
    const order = r % 2 === 0 ? pools : [...pools].reverse();
    for (const p of order) {
      const m = await ready(startFcgid(`ramp-${p.id}-${r}`, socks[p.id], p.lines), p.initial);
      if (r === 0) report.commands.push(m.command);
      await sleep(1500); // past start_secs
      const url = `http://${HOST}:${nginx.port}/${p.id}/slow.php`;
      const res = await fetch(url);
      if (res.status !== 200 || (await res.text()) !== 'ok') throw new Error(`${p.id}: slow.php did not answer 200 "ok"`);
      const timeline = [];
      let polling = true;
      const t0 = performance.now();
      const poller = (async () => {
        while (polling) {
          const at = performance.now() - t0;
          try {
            const doc = await controlGet(m.ctl, '/v1/status');
            const pl = doc.pools[0];
            timeline.push({ t: at / 1000, wanted: pl.workers.wanted, running: pl.workers.running, busy: pl.workers.busy, processes: pl.slots.filter((s) => s.pid !== null).length });
          } catch (err) {
            timeline.push({ t: at / 1000, error: err.message });
          }
          await sleep(Math.max(0, 250 - (performance.now() - t0 - at)));
        }
      })();
      const logFrom = m.log.lines.length;
      const tree0 = treeCpuMs(m.pid);
      const d0 = cpuMs(m.pid);
      const busy0 = machineBusyMs();
      const foreign = foreignCpu();
      const stepResults = [];
      for (const c of steps) {
        const s0 = (performance.now() - t0) / 1000;
        const w = await runWrk(wrkArgs(c, url), opt.rampStep);
        stepResults.push({ connections: c, from: s0, to: (performance.now() - t0) / 1000, ...w });
      }
      const secs = (performance.now() - t0) / 1000;
      const treeMs = treeCpuMs(m.pid) - tree0;
      const daemonMs = cpuMs(m.pid) - d0;
      const machineMs = machineBusyMs() - busy0;
      const foreignMsPerS = foreign();
      polling = false;
      await poller;
      const scaleLines = m.log.lines.slice(logFrom).filter((l) => /busy.*starting|idle for/.test(l.msg ?? '')).map((l) => ({ t: (Date.parse(l.time) - (Date.now() - (performance.now() - t0))) / 1000, msg: l.msg }));
      await stop(m.entry);
      for (const s of stepResults) {
        const inStep = timeline.filter((x) => x.t >= s.from && x.t < s.to && x.processes !== undefined);
        s.workersFirst = inStep[0]?.processes ?? NaN;
        s.workersLast = inStep.at(-1)?.processes ?? NaN;
        s.workersMax = Math.max(...inStep.map((x) => x.processes));
        s.busyMedian = median(inStep.map((x) => x.busy));
      }
      const out = { round: r + 1, secs, treeMs, daemonMs, machineMs, foreignMsPerS, steps: stepResults, timeline, scaleLines };
      results.get(p.id).push(out);
      console.log(
        `round ${r + 1} ${p.id.padEnd(8)} ` +
          stepResults.map((s) => `-c${s.connections}: ${f0(s.okRps)} req/s p99 ${f1(s.p99ms)} ms workers ${s.workersFirst}→${s.workersLast}${s.non2xx + s.socketErrors ? ` FAILED ${s.non2xx + s.socketErrors}` : ''}`).join(' | ') +
          `  CPU: daemon+workers ${f0(treeMs)} ms, daemon ${f0(daemonMs)} ms, machine ${f0(machineMs)} ms in ${f1(secs)} s (others ${f0(foreignMsPerS)} ms/s; load ${loadNow()})`,
      );
      if (p.id === 'dynamic') {
        const compact = [];
        for (const x of timeline) if (x.processes !== undefined && compact.at(-1)?.n !== x.processes) compact.push({ t: x.t, n: x.processes });
        console.log(`   workers over time: ${compact.map((x) => `${x.t.toFixed(1)}s:${x.n}`).join(' ')}`);
        for (const l of scaleLines) console.log(`   +${l.t.toFixed(2)} s ${l.msg}`);
      }
    }
  }
  await stop(nginx.entry);
  const summary = pools.map((p) => {
    const rs = results.get(p.id);
    return {
      id: p.id,
      label: p.label,
      steps: steps.map((c, i) => ({
        connections: c,
        okRps: rs.map((x) => x.steps[i].okRps),
        p99ms: rs.map((x) => x.steps[i].p99ms),
        failed: rs.reduce((a, x) => a + x.steps[i].non2xx + x.steps[i].socketErrors, 0),
        workers: rs.map((x) => `${x.steps[i].workersFirst}→${x.steps[i].workersLast}`),
      })),
      treeMs: rs.map((x) => x.treeMs),
      daemonMs: rs.map((x) => x.daemonMs),
      runs: rs,
    };
  });
  const rows = [];
  for (const s of summary) {
    for (const st of s.steps) {
      rows.push([s.label, `-c${st.connections}`, st.okRps.map(f0).join(', '), st.p99ms.map(f1).join(', '), st.workers.join(', '), String(st.failed)]);
    }
    rows.push([s.label, 'CPU, whole ramp: daemon + workers (daemon alone), ms', s.treeMs.map((x, i) => `${f0(x)} (${f0(s.daemonMs[i])})`).join(', '), '', '', '']);
  }
  console.log('\n' + table(['pool', 'step', '2xx req/s per round', 'p99 ms per round', 'workers (first → last poll in the step)', 'failed'], rows));
  report.ramp = { stepSecs: opt.rampStep, steps, pools: summary };
}

// ---------------------------------------------------------------------------

async function main() {
  const opt = options();
  installExitHandlers();
  const need = {
    restart: ['nginx', 'wrk', 'supervisord', 'supervisorctl', PHP_FPM],
    status: ['hyperfine', 'curl'],
    hung: [],
    ramp: ['nginx', 'wrk'],
  };
  const missing = new Set(['php-cgi', ...opt.parts.flatMap((p) => need[p])].filter((t) => !which(t)));
  if (missing.size > 0) throw new Error(`missing ${[...missing].join(', ')}; install them (apt-get install nginx wrk php-cgi php-fpm supervisor hyperfine curl)`);
  if (!existsSync(path.join(root, 'dist/cli/fcgid.js'))) throw new Error('dist/ is missing: run npm run build first');
  if (!existsSync('/proc/self/syscall')) throw new Error('needs /proc/<pid>/syscall (Linux)');

  workDir = tempDir(os.tmpdir(), 'fcgid-bench-control-');
  const shm = spawnSync('stat', ['-f', '-c', '%T', '/dev/shm'], { encoding: 'utf8' }).stdout.trim();
  runDir = tempDir(shm === 'tmpfs' ? '/dev/shm' : os.tmpdir(), 'fcgid-bench-control-run-');
  const report = { when: new Date().toISOString(), machine: versions(), options: opt, load: {}, commands: [] };
  console.log('# fcgid control-path benchmark\n');
  for (const [k, v] of Object.entries(report.machine)) console.log(`- ${k}: ${v}`);
  console.log(`- parts: ${opt.parts.join(', ')}; temp dir ${workDir}; control sockets in ${runDir}`);

  const nVariants = 4 + (opt.fpmControlTimeout !== null ? 1 : 0);
  const limits = {
    restart: nVariants * (3 + opt.rounds * (opt.loadSecs + 4)) + 90,
    status: opt.statusWorkers * 0.1 + opt.statusRuns * 8 + 120,
    hung: opt.hungRuns * 20 + 30,
    ramp: opt.rampRounds * 2 * (3 * opt.rampStep + 15) + 30,
  };
  const parts = { restart, status, hung, ramp };
  for (const p of opt.parts) {
    const load = loadNow();
    console.log(`\n## ${p} (load average before: ${load})\n`);
    const foreign = foreignCpu();
    await bounded(p, limits[p], () => parts[p](opt, report));
    report.load[p] = { before: load, after: loadNow(), foreignMsPerS: foreign() };
    console.log(`(load average after: ${report.load[p].after}; processes other than this benchmark's used ${f0(report.load[p].foreignMsPerS)} ms/s of CPU during the part, of ${os.cpus().length * 1000})`);
  }
  console.log('\n## Commands\n\n```');
  for (const c of report.commands) console.log(c);
  console.log('```');
  if (opt.json) writeFileSync(opt.json, JSON.stringify(report, null, 2));
}

await runMain(main);
