#!/usr/bin/env node
// Whether the daemon's logs can slow the daemon (issue 12): `GET /v1/status`
// latency on the control socket while one worker floods its stderr with
// 1 MiB lines and fcgid's stdout is
//
//   quiet      read as fast as it comes, the worker silent (the reference)
//   read       read as fast as it comes
//   blocked    a pipe nobody reads (a stuck journald, a `| less` left open)
//   slow       a pipe drained at 1 MB/s
//   followers  read as fast as it comes, with 100 `GET /v1/logs?follow=1`
//              clients that stop reading once they are connected
//
// Per case: status requests one after another (a fresh connection each, as
// fcgictl does, 5 s timeout, 100 ms apart) for --secs seconds after a 2 s
// warm-up; their median, p99 and worst latency, how many timed out, the
// daemon's CPU meanwhile (of one core) and its RSS at the end. This build and, with --baseline=DIR, another build,
// case by case side by side.
//
//   node benchmarks/logging.mjs [--baseline=DIR] [--secs=8] [--cases=quiet,blocked,...]
//
// Needs a build (npm run build). Everything runs on unix sockets in a temp dir,
// removed at the end; the script kills only the daemons it started (by pid and
// process group, also on failure and SIGINT), and each case ends by itself.
// Results are printed, never asserted; docs/benchmarks.md records them.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bounded, controlRequest, cpuMs, f0, f1, installExitHandlers, median, procStat, quantile, runMain, sleep, started, stop, table, tempDir } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Map(process.argv.slice(2).map((a) => /^--([a-z-]+)=(.*)$/.exec(a)?.slice(1) ?? [a, 'true']));
const SECS = Number(args.get('secs') ?? 8);
const FOLLOWERS = 100;
const ALL_CASES = ['quiet', 'read', 'blocked', 'slow', 'followers'];
const CASES = (args.get('cases') ?? ALL_CASES.join(',')).split(',');
for (const c of CASES) if (!ALL_CASES.includes(c)) throw new Error(`unknown case ${c}; cases: ${ALL_CASES.join(', ')}`);
const builds = [{ name: 'this build', bin: path.join(root, 'bin', 'fcgid') }];
if (args.get('baseline')) builds.push({ name: `baseline (${args.get('baseline')})`, bin: path.resolve(args.get('baseline'), 'bin', 'fcgid') });

let dir;

/** The worker: 1 MiB lines on stderr as fast as the pipe takes them (or nothing, for quiet). */
const FLOOD = `const line = 'x'.repeat(1 << 20) + '\\n';
if (process.argv[2] === 'flood') { const more = () => process.stderr.write(line, more); more(); }
setInterval(() => {}, 1 << 30);
`;

function config(name, flood) {
  return [
    `control: { socket: ${JSON.stringify(path.join(dir, `${name}.ctl`))} }`,
    'pools:',
    '  noisy:',
    `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(dir, 'flood.cjs'))}, ${flood ? 'flood' : 'quiet'}]`,
    `    listen: ${JSON.stringify(`unix:${path.join(dir, `${name}.sock`)}`)}`,
    '    workers: 1',
    '',
  ].join('\n');
}

/** fcgid with its stdout a pipe this script reads as `how` says: 'all', 'none' or bytes per second. */
function launchDaemon(build, name, how, flood) {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, config(name, flood));
  const child = spawn(process.execPath, [build.bin, 'start', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const entry = { name: `fcgid ${build.name}`, child, pid: child.pid, start: procStat(child.pid)?.start ?? null, output: '', stdout: '', exited: null };
  entry.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code: code ?? signal, at: performance.now() })));
  child.once('exit', () => started.delete(child.pid));
  started.set(child.pid, entry);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (entry.output = (entry.output + d).slice(-5000)));
  let drain = null;
  if (how === 'all') child.stdout.on('data', () => {});
  else if (typeof how === 'number') {
    // In paused mode Node reads ahead at most its highWaterMark; read() takes what is buffered, up to the budget.
    drain = setInterval(() => {
      for (let budget = how / 10; budget > 0; ) {
        const chunk = child.stdout.read();
        if (chunk === null) break;
        budget -= chunk.length;
      }
    }, 100);
  }
  return { entry, ctl: path.join(dir, `${name}.ctl`), stopDrain: () => drain && clearInterval(drain) };
}

/** Followers of the log that read their first answer's headers, then nothing more. */
function stalledFollowers(ctl, n) {
  const sockets = [];
  const ready = Array.from(
    { length: n },
    () =>
      new Promise((resolve) => {
        const req = http.request({ socketPath: ctl, path: '/v1/logs?follow=1&n=0' }, (res) => {
          res.pause();
          res.socket.pause();
          sockets.push(res.socket);
          resolve();
        });
        req.on('error', () => resolve());
        req.end();
      }),
  );
  return { ready: Promise.all(ready), close: () => sockets.forEach((s) => s.destroy()) };
}

async function measure(ctl) {
  const latencies = [];
  let timeouts = 0;
  const until = performance.now() + SECS * 1000;
  while (performance.now() < until) {
    const t0 = performance.now();
    try {
      await controlRequest(ctl, '/v1/status', { timeoutMs: 5000 });
      latencies.push(performance.now() - t0);
    } catch {
      timeouts++;
    }
    await sleep(100);
  }
  return { latencies, timeouts };
}

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function runCase(build, kind, index) {
  const name = `log-${index}`;
  const how = { quiet: 'all', read: 'all', blocked: 'none', slow: 1_000_000, followers: 'all' }[kind];
  const d = launchDaemon(build, name, how, kind !== 'quiet');
  let followers = null;
  try {
    for (let waited = 0; (await controlRequest(d.ctl, '/v1/status', { timeoutMs: 5000 }).catch(() => null))?.status !== 200; waited += 50) {
      if (waited > 15_000) throw new Error(`${d.entry.name}: no control socket after 15 s:\n${d.entry.output}`);
      await sleep(50);
    }
    if (kind === 'followers') {
      followers = stalledFollowers(d.ctl, FOLLOWERS);
      await followers.ready;
    }
    await sleep(2000);
    const [cpu0, t0] = [cpuMs(d.entry.pid), performance.now()];
    const r = await measure(d.ctl);
    const cpu = (100 * (cpuMs(d.entry.pid) - cpu0)) / (performance.now() - t0);
    return { ...r, rss: rssMb(d.entry.pid), cpu };
  } finally {
    followers?.close();
    d.stopDrain();
    // A daemon whose stdout nobody reads may not get its last lines out: read them now, so it can stop.
    d.entry.child.stdout.on('data', () => {});
    d.entry.child.stdout.resume();
    await stop(d.entry);
  }
}

async function main() {
  installExitHandlers();
  dir = tempDir(os.tmpdir(), 'fcgid-bench-logging-');
  writeFileSync(path.join(dir, 'flood.cjs'), FLOOD);
  const cpus = os.cpus();
  console.log(`# logging and the daemon\n\n- cpu: ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}; node ${process.version}; ${SECS} s of status requests per case\n`);
  const rows = [];
  let index = 0;
  for (const kind of CASES) {
    for (const b of builds) {
      const r = await bounded(`${kind} (${b.name})`, SECS + 60, () => runCase(b, kind, index++));
      const l = r.latencies;
      const ms = (v) => (l.length ? `${f1(v)} ms` : '—');
      rows.push([kind, b.name, ms(median(l)), ms(quantile(l, 0.99)), ms(l.length ? Math.max(...l) : NaN), `${r.timeouts} of ${l.length + r.timeouts}`, `${f0(r.cpu)} %`, `${f0(r.rss)} MB`]);
    }
  }
  console.log(table(['stdout', 'build', 'status: median', 'p99', 'worst', 'timed out (5 s)', 'daemon CPU', 'daemon RSS'], rows));
}

await runMain(main);
