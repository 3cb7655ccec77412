// Helpers shared by benchmarks/daemon.mjs and benchmarks/control.mjs (and a few
// by benchmarks/responder.mjs): starting and killing processes, temp dirs, hard
// time limits, /proc readers, nginx in front of FastCGI sockets, wrk and its
// output, and small statistics. Linux only: it reads /proc.
//
// Processes: everything started through launch() is tracked by pid + start
// time, and only those (and their descendants, found through /proc) are ever
// signalled: by pid (checked against the process start time) and by process
// group, also on failure, on SIGINT/SIGTERM and on exit.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const HOST = '127.0.0.1';
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
// accept(2) and accept4(2), as /proc/<pid>/syscall numbers them.
export const ACCEPT_SYSCALLS = { x64: ['43', '288'], arm64: ['202', '242'] }[process.arch] ?? ['43', '288'];
export const PHP_FPM = ['php-fpm8.2', 'php-fpm'].find((p) => which(p)) ?? 'php-fpm8.2';

export function which(program) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    if (dir && existsSync(path.join(dir, program))) return path.join(dir, program);
  }
  return null;
}

// ---------------------------------------------------------------------------
// Processes and temp dirs

/** pid -> entry (see launch()) */
export const started = new Map();
/** Temp dirs made by tempDir(), removed at the end (unless BENCH_KEEP_TMP is set). */
const tempDirs = [];
let cleaning = null;

/** True once cleanup() has begun (a failure after that is the cleanup's doing). */
export function isCleaning() {
  return cleaning !== null;
}

/** A new dir `parent/prefixXXXXXX`, removed by cleanup() and on exit. */
export function tempDir(parent, prefix) {
  const dir = mkdtempSync(path.join(parent, prefix));
  tempDirs.push(dir);
  return dir;
}

/**
 * Start a program in its own process group; stdout and stderr are collected:
 * stdout into `entry.stdout` with keepStdout (else into `entry.output`, with
 * stderr), or handed to onStdout. `entry.exited` resolves with { code, at }.
 */
export function launch(name, command, args, { env = process.env, cwd, onStdout = null, keepStdout = false } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env, cwd });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const entry = { name, child, pid: child.pid, start: procStat(child.pid)?.start ?? null, output: '', stdout: '', exited: null };
  entry.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code: code ?? signal, at: performance.now() })));
  child.once('exit', () => started.delete(child.pid));
  child.on('error', (err) => (entry.output += `\n${err.message}`));
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    if (onStdout) onStdout(d);
    else if (keepStdout) entry.stdout = (entry.stdout + d).slice(-200000);
    else entry.output = (entry.output + d).slice(-20000);
  });
  child.stderr.on('data', (d) => (entry.output = (entry.output + d).slice(-20000)));
  started.set(child.pid, entry);
  return entry;
}

/** Every live descendant of `pid`, with its start time. */
export function descendants(pid, out = []) {
  for (const tid of safeReaddir(`/proc/${pid}/task`)) {
    for (const c of readText(`/proc/${pid}/task/${tid}/children`)?.trim().split(/\s+/).filter(Boolean) ?? []) {
      const child = Number(c);
      const st = procStat(child);
      if (st) out.push({ pid: child, start: st.start });
      descendants(child, out);
    }
  }
  return out;
}

export function signalIfSame(p, signal) {
  // Never signal a recycled pid: compare the start time recorded when we saw it.
  if (p.start !== null && procStat(p.pid)?.start !== p.start) return;
  try {
    process.kill(p.pid, signal);
  } catch {
    // gone already
  }
}

export function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

/** SIGTERM (the program's own graceful stop), then SIGKILL to it, its group and its descendants. */
export async function stop(entry, graceMs = 5000) {
  if (!started.has(entry.pid)) return;
  const family = descendants(entry.pid);
  signalIfSame(entry, 'SIGTERM');
  const timer = new Promise((r) => setTimeout(r, graceMs, 'timeout'));
  const how = await Promise.race([entry.exited, timer]);
  if (how === 'timeout') console.error(`${entry.name} (pid ${entry.pid}) still alive ${graceMs} ms after SIGTERM; sending SIGKILL`);
  killFamily(entry, family);
  await entry.exited;
}

export function killFamily(entry, family = []) {
  const all = [...family, ...(procStat(entry.pid) ? descendants(entry.pid) : [])];
  signalIfSame(entry, 'SIGKILL');
  signalGroup(entry.pid, 'SIGKILL');
  for (const p of all) {
    signalIfSame(p, 'SIGKILL');
    // Workers of fcgid and supervisord lead their own process groups.
    if (procStat(p.pid)?.pgrp === p.pid) signalGroup(p.pid, 'SIGKILL');
  }
}

export async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    await Promise.all([...started.values()].map((e) => stop(e, 3000).catch(() => {})));
    removeDirs();
  })();
  return cleaning;
}

function removeDirs() {
  if (process.env.BENCH_KEEP_TMP) return;
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}

export function installExitHandlers() {
  const bail = (why, code) => {
    console.error(`\n${why}; stopping the processes this benchmark started`);
    cleanup().finally(() => process.exit(code));
  };
  process.on('SIGINT', () => bail('SIGINT', 130));
  process.on('SIGTERM', () => bail('SIGTERM', 143));
  // Last resort if we leave some other way: synchronous SIGKILL by pid and group.
  process.on('exit', () => {
    for (const e of started.values()) killFamily(e);
    removeDirs();
  });
}

/** Run a script's main(): on failure print the error (unless cleanup caused it) and exit 1; always clean up. */
export async function runMain(main) {
  try {
    await main();
  } catch (err) {
    if (!cleaning) console.error(err?.stack ?? String(err));
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

/** Run one part under a hard time limit; on expiry everything is stopped and the script fails. */
export async function bounded(name, limitS, fn) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`part ${name}: hard time limit of ${Math.round(limitS)} s reached`)), limitS * 1000);
  });
  try {
    return await Promise.race([fn(), limit]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One request to fcgid's control socket: { status, text }; rejects on an error or after timeoutMs. */
export function controlRequest(ctl, url, { method = 'GET', timeoutMs = 0, body } = {}) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) };
    const req = http.request({ socketPath: ctl, path: url, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: 'TIMEOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function waitFor(what, probe, limitMs, entry, everyMs = 5) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (entry && !started.has(entry.pid)) throw new Error(`${entry.name} exited while waiting for ${what}:\n${entry.output}${entry.stdout ? `\n${entry.stdout.slice(-3000)}` : ''}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}${entry ? `\n${entry.name} output:\n${entry.output}` : ''}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------
// /proc

export function readText(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function safeReaddir(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Fields of /proc/<pid>/stat that matter here; null when gone or a zombie. */
export function procStat(pid) {
  const text = readText(`/proc/${pid}/stat`);
  if (!text) return null;
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z' || f[0] === 'X') return null;
  return { state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]), utime: Number(f[11]), stime: Number(f[12]), start: f[19] };
}

/** CPU time of a whole process (all threads, living and gone), in ms; clock-tick resolution. */
export function cpuMs(pid) {
  const st = procStat(pid);
  return st ? ((st.utime + st.stime) * 1000) / CLK_TCK : null;
}

/**
 * CPU time of a process tree in ms: its own, its reaped children's (cutime,
 * cstime) and its live descendants'. Differences between two samples stay
 * right as processes come and go, since a reaped child's time moves into its
 * parent's cutime.
 */
export function treeCpuMs(pid) {
  const text = readText(`/proc/${pid}/stat`);
  if (!text) return 0;
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  let total = ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
  for (const tid of safeReaddir(`/proc/${pid}/task`)) {
    for (const c of readText(`/proc/${pid}/task/${tid}/children`)?.trim().split(/\s+/).filter(Boolean) ?? []) total += treeCpuMs(Number(c));
  }
  return total;
}

/** CPU time the whole machine spent busy, in ms (all CPUs; /proc/stat counts USER_HZ ticks). */
export function machineBusyMs() {
  const f = (readText('/proc/stat') ?? '').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return ((f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)) * 1000) / CLK_TCK;
}

/** Sample, then `foreign()`: CPU ms per s the machine spent on processes that are not this benchmark's. */
export function foreignCpu() {
  const t = performance.now();
  const busy = machineBusyMs();
  const ours = treeCpuMs(process.pid);
  return () => {
    const secs = (performance.now() - t) / 1000;
    return (machineBusyMs() - busy - (treeCpuMs(process.pid) - ours)) / secs;
  };
}

/** Children forked by the process's main thread (managers fork from it). Cheap enough to poll. */
export function mainChildren(pid) {
  const text = readText(`/proc/${pid}/task/${pid}/children`);
  return text ? text.trim().split(/\s+/).filter(Boolean).map(Number) : [];
}

/** True when the process sits in accept(2): ready for the next connection. */
export function inAccept(pid) {
  const s = readText(`/proc/${pid}/syscall`);
  return s !== null && ACCEPT_SYSCALLS.includes(s.slice(0, s.indexOf(' ')));
}

export function listeningTcp(port) {
  return readText('/proc/net/tcp')?.includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`) ?? false;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------
// PHP and fcgid

/** The environment for php-cgi: PHP_FCGI_* left out, but for those in `extra` (php-cgi's own defaults apply otherwise). */
export function phpEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const k of Object.keys(env)) if (k.startsWith('PHP_FCGI_') && !(k in extra)) delete env[k];
  return env;
}

/** fcgid's pino lines, parsed as they arrive. */
export function fcgidLog() {
  const lines = [];
  let partial = '';
  return {
    lines,
    onStdout(chunk) {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      for (const p of parts) {
        try {
          lines.push(JSON.parse(p));
        } catch {
          lines.push({ msg: p });
        }
      }
    },
  };
}

// ---------------------------------------------------------------------------
// nginx and wrk

/** nginx in `dir` (worker_processes 1, access_log off); `locations`: { id, script, sock }, /<id>/ to fastcgi_pass unix:<sock>. */
export function nginxConf(dir, port, locations) {
  const tmp = path.join(dir, 'nginx-tmp');
  mkdirSync(tmp, { recursive: true });
  const blocks = locations
    .map(
      (l) => `    location /${l.id}/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME ${l.script};
      fastcgi_param SCRIPT_NAME /${path.basename(l.script)};
      fastcgi_pass unix:${l.sock};
    }`,
    )
    .join('\n');
  return `worker_processes 1;
${process.getuid() === 0 ? 'user root;\n' : ''}pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'nginx-error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  fastcgi_temp_path ${tmp}/fastcgi;
  proxy_temp_path ${tmp}/proxy;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  server {
    listen ${HOST}:${port};
${blocks}
  }
}
`;
}

/** Write `dir/confName` (see nginxConf()) and start nginx on a free port; resolves once it listens. */
export async function startNginx(dir, locations, confName = 'nginx.conf') {
  const port = await freePort();
  const conf = path.join(dir, confName);
  writeFileSync(conf, nginxConf(dir, port, locations));
  const args = ['-p', dir, '-c', conf, '-e', path.join(dir, 'nginx-error.log'), '-g', 'daemon off;'];
  const entry = launch('nginx', 'nginx', args);
  await waitFor('nginx to listen', () => listeningTcp(port), 5000, entry);
  return { entry, port, command: `nginx ${args.join(' ')}   # worker_processes 1, access_log off; see nginxConf()`, errorLog: path.join(dir, 'nginx-error.log') };
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60000 };

/** One wrk run, killed if it overruns by 10 s; resolves with its parsed figures. */
export function runWrk(args, limitS) {
  return new Promise((resolve, reject) => {
    let out = '';
    const e = launch('wrk', 'wrk', args, { onStdout: (d) => (out += d) });
    const timer = setTimeout(() => killFamily(e), (limitS + 10) * 1000);
    e.exited.then(({ code }) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`wrk exited with ${code}:\n${out}\n${e.output}`));
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      const total = Number(/(\d+) requests in/.exec(out)?.[1]);
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      const p99 = /99%\s+([\d.]+)(us|ms|s|m)\b/.exec(out);
      const lat = /Latency\s+([\d.]+)(us|ms|s|m)\s+([\d.]+)(us|ms|s|m)\s+([\d.]+)(us|ms|s|m)/.exec(out);
      // Requests/sec counts every response; a 502 from nginx is not a served request.
      const okRps = total > 0 ? (rps * (total - non2xx)) / total : 0;
      resolve({
        rps,
        okRps,
        total,
        non2xx,
        socketErrors,
        socketDetail: sock ? sock[0] : null,
        p99ms: p99 ? Number(p99[1]) * UNIT_MS[p99[2]] : NaN,
        maxMs: lat ? Number(lat[5]) * UNIT_MS[lat[6]] : NaN,
      });
    });
  });
}

// ---------------------------------------------------------------------------
// Statistics and output

export function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
export const median = (xs) => quantile(xs, 0.5);
export const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
export const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
export const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');

export function table(header, rows) {
  const out = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n');
}

export function loadNow() {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}
