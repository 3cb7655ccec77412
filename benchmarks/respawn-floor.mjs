#!/usr/bin/env node
// The floor of a respawn for a manager written in Node: no fcgid, only Node's
// child_process. A php-cgi (one process, PHP_FCGI_CHILDREN=0, on a unix socket
// of this script's) is killed with SIGKILL and a replacement spawned from the
// 'exit' event, 20 times (the first kill left out): how long until Node reports
// the exit, and until spawn() has returned the replacement (fork, then exec).
// docs/benchmarks.md sets fcgid's "new child" figure beside it.
//
//   node benchmarks/respawn-floor.mjs [--kills=20]
//
// Needs php-cgi. Kills only the processes it started, by pid; removes its
// socket; every wait is bounded (the whole run stops after 60 s).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const option = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const KILLS = Number(option('kills', '20'));
const PROGRAM = '/usr/bin/php-cgi';
const dir = mkdtempSync(path.join(os.tmpdir(), 'fcgid-bench-floor-'));
const server = net.createServer();
await new Promise((r) => server.listen(path.join(dir, 'floor.sock'), r));
const env = { ...process.env, PHP_FCGI_CHILDREN: '0' };
const live = new Set();
const start = () => {
  const c = spawn(PROGRAM, [], { stdio: [server._handle.fd, 'pipe', 'pipe'], detached: true, env });
  c.stdout.resume();
  c.stderr.resume();
  live.add(c);
  c.once('exit', () => live.delete(c));
  return c;
};
const cleanup = () => {
  for (const c of live) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {}
  }
  server.close();
  rmSync(dir, { recursive: true, force: true });
};
const limit = setTimeout(() => {
  console.error('respawn-floor: 60 s limit reached');
  cleanup();
  process.exit(1);
}, 60_000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const exited = [];
const spawned = [];
try {
  let c = start();
  for (let i = 0; i <= KILLS; i++) {
    await sleep(300);
    const t = performance.now();
    const next = new Promise((resolve) =>
      c.once('exit', () => {
        const e = performance.now() - t;
        const n = start();
        resolve({ e, s: performance.now() - t, n });
      }),
    );
    process.kill(c.pid, 'SIGKILL');
    const { e, s, n } = await next;
    c = n;
    if (i > 0) {
      exited.push(e);
      spawned.push(s);
    }
  }
} finally {
  clearTimeout(limit);
  cleanup();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`${PROGRAM} under bare Node (${os.cpus().length} CPUs, Node ${process.version}), ${KILLS} kills:`);
console.log(`  SIGKILL -> 'exit' event: median ${median(exited).toFixed(2)} ms`);
console.log(`  SIGKILL -> replacement spawned (spawn() returned): median ${median(spawned).toFixed(2)} ms`);
