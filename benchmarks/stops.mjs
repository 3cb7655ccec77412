#!/usr/bin/env node
// Requests lost when fcgid stops workers under load, for each kind of program
// our users run, with the lossless stop (stop_mode: freeze, the default) and
// with the program's own shutdown (stop_mode: signal: SIGTERM, then SIGKILL
// after stop_timeout, which is what supervisord and spawn-fcgi setups do).
//
// Per program and mode: fcgid with one pool of 4 workers behind nginx, under
// `wrk -t1 -c4 -d8s`; 2 s in, one operation:
//   restart   fcgictl restart (replacements first)
//   scale     fcgictl scale POOL 2, and back to 4 at 5 s
//   recycle   (no command) max_lifetime 2s: every worker replaced about every 2 s
// Failed = wrk's non-2xx responses plus socket errors.
//
//   node benchmarks/stops.mjs [--peers=flup,flupfork,php,fcgiwrap,uwsgi,node] [--ops=restart,scale,recycle] [--secs=8]
//
// Needs a build, nginx, wrk, php-cgi, fcgiwrap, uwsgi (python3 plugin), python3
// with Flask, and ../shared/peers/flup-py3. Everything on 127.0.0.1 and unix
// sockets in a temp dir, removed at the end; only processes started here are
// killed (by pid and process group), also on failure. Results are printed,
// never asserted; docs/benchmarks.md records them.

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bounded, controlRequest, installExitHandlers, launch, runMain, runWrk, sleep, startNginx, stop, table, tempDir } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Map(process.argv.slice(2).map((a) => /^--([a-z-]+)=(.*)$/.exec(a)?.slice(1) ?? [a, 'true']));
const SECS = Number(args.get('secs') ?? 8);
const FIX = path.join(root, 'test/fixtures');
const FLUP = path.resolve(root, '../shared/peers/flup-py3');
const flupEnv = (server) => ({ PYTHONPATH: FLUP, PYTHONDONTWRITEBYTECODE: '1', FLUP_SERVER: server });
const PEERS = {
  flup: { command: ['python3', `${FIX}/flup/app.fcgi`], env: flupEnv('threaded') },
  flupfork: { command: ['python3', `${FIX}/flup/app.fcgi`], env: flupEnv('fork') },
  php: { command: ['php-cgi'], env: { PHP_FCGI_CHILDREN: '0', PHP_FCGI_MAX_REQUESTS: '0' }, script: `${FIX}/daemon/pid.php` },
  fcgiwrap: { command: ['fcgiwrap'], env: {}, script: `${FIX}/daemon/pid.sh` },
  uwsgi: { command: ['uwsgi', '--plugin=python3', '--protocol=fastcgi', `--wsgi-file=${FIX}/daemon/pid.py`, '--callable=app', '--need-app', '--die-on-term', '--disable-logging'], env: {} },
  node: { command: [process.execPath, `${FIX}/daemon/env.mjs`], env: {}, socketFd: 3 },
};
const peers = (args.get('peers') ?? Object.keys(PEERS).join(',')).split(',');
const ops = (args.get('ops') ?? 'restart,scale,recycle').split(',');

async function run(dir, peer, mode, op) {
  const p = PEERS[peer];
  const sock = path.join(dir, `${peer}.sock`);
  const ctl = path.join(dir, `${peer}.ctl`);
  const pool = {
    command: p.command,
    listen: `unix:${sock}`,
    workers: 4,
    start_secs: '500ms',
    stop_mode: mode,
    stop_timeout: '5s',
    env: p.env,
    ...(p.socketFd ? { socket_fd: p.socketFd } : {}),
    ...(op === 'recycle' ? { max_lifetime: '2s' } : {}),
  };
  const config = path.join(dir, `${peer}-${mode}-${op}.yaml`);
  writeFileSync(config, JSON.stringify({ control: { socket: ctl }, pools: { app: pool } }));
  const fcgid = launch('fcgid', process.execPath, [path.join(root, 'bin/fcgid'), 'start', '-c', config]);
  const nginx = await startNginx(dir, [{ id: 'app', sock, script: p.script ?? p.command.at(-1) }], `nginx-${peer}.conf`);
  try {
    for (let waited = 0; ; waited += 100) {
      const s = await controlRequest(ctl, '/v1/status').catch(() => null);
      if (s && JSON.parse(s.text).pools?.[0]?.workers?.running === 4) break;
      if (waited > 30_000) throw new Error(`${peer}: 4 workers not running after 30 s:\n${fcgid.output}`);
      await sleep(100);
    }
    const ctlDo = (url, body) => controlRequest(ctl, url, { method: 'POST', body });
    const wrk = runWrk(['-t1', '-c4', `-d${SECS}s`, '--timeout', '5s', `http://127.0.0.1:${nginx.port}/app/x`], SECS);
    await sleep(2000);
    if (op === 'restart') await ctlDo('/v1/restart', { pools: ['app'] });
    if (op === 'scale') {
      await ctlDo('/v1/pools/app/scale', { workers: 2 });
      await sleep(3000);
      await ctlDo('/v1/pools/app/scale', { workers: 4 });
    }
    const r = await wrk;
    return { failed: r.non2xx + r.socketErrors, total: r.total };
  } finally {
    await stop(nginx.entry);
    await stop(fcgid);
  }
}

async function main() {
  installExitHandlers();
  const dir = tempDir(os.tmpdir(), 'fcgid-bench-stops-');
  const rows = [];
  for (const peer of peers) {
    for (const op of ops) {
      const cells = [];
      for (const mode of ['freeze', 'signal']) {
        const r = await bounded(`${peer} ${op} ${mode}`, SECS + 90, () => run(dir, peer, mode, op));
        cells.push(`${r.failed} of ${r.total}`);
      }
      rows.push([peer, op, ...cells]);
      console.error(rows.at(-1).join('  '));
    }
  }
  console.log(`# requests lost to stops under load\n\n- cpu: ${os.cpus().length} x ${os.cpus()[0]?.model}; node ${process.version}; wrk -t1 -c4 -d${SECS}s, 4 workers\n`);
  console.log(table(['program', 'operation', 'failed: stop_mode freeze (default)', 'failed: stop_mode signal'], rows));
}

await runMain(main);
