#!/usr/bin/env node
// What a large pool costs the daemon: one pool of N workers that do nothing
// (`sleep infinity`, so the figures are fcgid's own), for each N (100, then
// 1000), this build and, with --baseline, a build from before a change, run
// one after the other (A B, then B A on the next round) with ratios:
//
//   start       launch → N children forked (/proc/<pid>/task/*/children), and
//               → every slot `running` (start_secs: 1s, the default)
//   status      GET /v1/status on the control socket: median and p95 of 20;
//               `fcgictl status` (the CLI, a process each): median of 5
//   idle        daemon CPU ms per second over a window once all run (utime+stime
//               of every thread), and its RSS at the end of it; with
//               --rss-later-secs=S, its RSS again S seconds later (V8 gives back
//               the young generation the start-up burst grew at its first
//               collection once allocation is slow, which can take a minute)
//   kill        SIGKILL to 100 workers at once (by pid) → N children again with new
//               pids, and → every slot running again
//   stop        SIGTERM → the daemon has exited (workers gone: sleep dies on SIGKILL/SIGTERM at once)
//
//   node benchmarks/scale.mjs                          # 100 and 1000 workers, this build
//   node benchmarks/scale.mjs --baseline=/tmp/fcgid-baseline --rounds=2
//   options: --workers=100,1000 --idle-secs=10 --settle-secs=3 --rounds=1 --kill=100 --rss-later-secs=0
//            --profile=DIR (this build under node --cpu-prof: profiles of the whole run in DIR)
//            --node-flags="--max-semi-space-size=2" (node options for this build's daemon only;
//            with --baseline=. the same build runs without them beside it)
//
// Needs a build (npm run build). Linux only: it reads /proc. The control socket
// and registry go in a temp dir in /dev/shm (tmpfs, as /run is), removed at the
// end. Kills only what it started, by pid (start time checked), also on failure
// and SIGINT; every wait has a limit. Results are printed, never asserted;
// docs/benchmarks.md records them.

import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  bounded,
  controlRequest,
  cpuMs,
  f0,
  f1,
  f2,
  installExitHandlers,
  launch,
  loadNow,
  mainChildren,
  median,
  procStat,
  quantile,
  readText,
  runMain,
  signalIfSame,
  sleep,
  stop,
  table,
  tempDir,
  waitFor,
} from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function option(name, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}
const COUNTS = option('workers', '100,1000').split(',').map(Number);
const IDLE_SECS = Number(option('idle-secs', '10'));
const SETTLE_SECS = Number(option('settle-secs', '3'));
const LATER_SECS = Number(option('rss-later-secs', '0'));
const ROUNDS = Number(option('rounds', '1'));
const KILL = Number(option('kill', '100'));
const PROFILE = option('profile', null);
const NODE_FLAGS = (option('node-flags', '') ?? '').split(/\s+/).filter(Boolean);
const BASELINE = option('baseline', null);
const BUILDS = [{ name: 'this', dir: root }, ...(BASELINE ? [{ name: 'baseline', dir: path.resolve(BASELINE) }] : [])];

/** Every child of the daemon (its main thread forks the workers). */
const children = (pid) => mainChildren(pid);

function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readText(`/proc/${pid}/status`) ?? '');
  return m ? Number(m[1]) * 1024 : NaN;
}

async function status(ctl) {
  const r = await controlRequest(ctl, '/v1/status', { timeoutMs: 30_000 });
  return JSON.parse(r.text);
}

const allRunning = async (ctl, n, exclude = new Set()) => {
  const s = await status(ctl).catch(() => null);
  const slots = s?.pools[0]?.slots ?? [];
  return slots.length === n && slots.every((x) => x.state === 'running' && !exclude.has(x.pid));
};

async function pollAsync(what, probe, limitMs, entry) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await probe()) return;
    if (entry && entry.child.exitCode !== null) throw new Error(`${entry.name} exited while waiting for ${what}:\n${entry.output}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function measure(build, n) {
  const dir = tempDir('/dev/shm', 'fcgid-bench-scale-');
  const ctl = path.join(dir, 'scale.ctl');
  const config = path.join(dir, 'scale.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      control: { socket: ctl },
      log: { level: 'warn' },
      pools: { idle: { command: ['sleep', 'infinity'], listen: `unix:${path.join(dir, 'idle.sock')}`, workers: n, backlog: 128 } },
    }),
  );
  const nodeArgs = build.name === 'this' ? [...NODE_FLAGS, ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : [])] : [];
  const t0 = performance.now();
  const daemon = launch(`fcgid (${build.name})`, process.execPath, [...nodeArgs, path.join(build.dir, 'bin', 'fcgid'), 'start', '-c', config]);
  const out = { build: build.name, workers: n };
  try {
    await waitFor(`${n} children`, () => children(daemon.pid).length >= n, 60_000, daemon, 2);
    out.forked = performance.now() - t0;
    await pollAsync(`${n} running`, () => allRunning(ctl, n), 60_000, daemon);
    out.running = performance.now() - t0;

    // Status: the route, then the CLI.
    const route = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await status(ctl);
      route.push(performance.now() - t);
    }
    out.statusMedian = median(route);
    out.statusP95 = quantile(route, 0.95);
    const cli = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const c = launch('fcgictl', process.execPath, [path.join(build.dir, 'bin', 'fcgictl'), '-s', ctl, 'status', '--json']);
      await c.exited;
      cli.push(performance.now() - t);
    }
    out.cli = median(cli);

    // Idle.
    await sleep(SETTLE_SECS * 1000);
    const c0 = cpuMs(daemon.pid);
    const w0 = performance.now();
    await sleep(IDLE_SECS * 1000);
    out.idleCpu = (cpuMs(daemon.pid) - c0) / ((performance.now() - w0) / 1000);
    out.rss = rssBytes(daemon.pid);
    if (LATER_SECS > 0) {
      await sleep(LATER_SECS * 1000);
      out.rssLater = rssBytes(daemon.pid);
    }

    // Kill KILL workers at once → back to full.
    const victims = children(daemon.pid)
      .slice(0, Math.min(KILL, n))
      .map((pid) => ({ pid, start: procStat(pid)?.start ?? null }));
    const gone = new Set(victims.map((v) => v.pid));
    const k0 = performance.now();
    for (const v of victims) signalIfSame(v, 'SIGKILL');
    await waitFor(`${n} children after the kill`, () => {
      const now = children(daemon.pid);
      return now.length >= n && now.every((pid) => !gone.has(pid));
    }, 60_000, daemon, 2);
    out.killForked = performance.now() - k0;
    await pollAsync(`${n} running after the kill`, () => allRunning(ctl, n, gone), 60_000, daemon);
    out.killRunning = performance.now() - k0;

    // SIGTERM → exit.
    const s0 = performance.now();
    signalIfSame(daemon, 'SIGTERM');
    const exited = await Promise.race([daemon.exited, sleep(60_000).then(() => null)]);
    if (exited === null) throw new Error('fcgid still running 60 s after SIGTERM');
    out.stop = exited.at - s0;
    return out;
  } finally {
    await stop(daemon, 5000);
  }
}

async function main() {
  installExitHandlers();
  const cpus = os.cpus();
  console.log(`scale: ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, Node ${process.version}, Linux ${os.release()}; load ${loadNow()}`);
  console.log(`builds: ${BUILDS.map((b) => `${b.name} ${b.dir}`).join(', ')}; ${ROUNDS} round(s), idle window ${IDLE_SECS} s, kill ${KILL}\n`);
  const results = [];
  for (const n of COUNTS) {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? BUILDS : [...BUILDS].reverse();
      for (const b of order) results.push(await bounded(`${b.name} ${n}`, 300, () => measure(b, n)));
    }
  }
  const rows = [];
  for (const n of COUNTS) {
    const by = (name) => results.filter((r) => r.workers === n && r.build === name);
    const med = (name, key) => median(by(name).map((r) => r[key]));
    const fields = [
      ['start → all forked (ms)', 'forked', f0],
      ['start → all running (ms)', 'running', f0],
      ['GET /v1/status median (ms)', 'statusMedian', f1],
      ['GET /v1/status p95 (ms)', 'statusP95', f1],
      ['fcgictl status (ms)', 'cli', f0],
      ['idle CPU (ms/s)', 'idleCpu', f1],
      ['RSS (MB)', 'rss', (x) => f1(x / 1e6)],
      ...(LATER_SECS > 0 ? [[`RSS ${LATER_SECS} s later (MB)`, 'rssLater', (x) => f1(x / 1e6)]] : []),
      [`kill ${KILL} → all forked (ms)`, 'killForked', f0],
      [`kill ${KILL} → all running (ms)`, 'killRunning', f0],
      ['SIGTERM → exit (ms)', 'stop', f0],
    ];
    for (const [label, key, fmt] of fields) {
      const row = [`${n}: ${label}`, fmt(med('this', key))];
      if (BASELINE) row.push(fmt(med('baseline', key)), f2(med('baseline', key) / med('this', key)));
      rows.push(row);
    }
  }
  console.log(table(['workers: figure', 'this build', ...(BASELINE ? ['baseline', 'baseline / this'] : [])], rows));
  console.log(`\nload after: ${loadNow()}`);
}

await runMain(main);
