#!/usr/bin/env node
// Side-by-side throughput of three "hello" backends behind ONE nginx: our FastCGI
// responder (dist/fastcgi), the npm package node-fastcgi, and a plain Node http
// server behind proxy_pass. Each backend is one Node worker process; each is
// measured with a connection per request and with kept connections, in
// alternating rounds so that drift in the (shared) machine's load hits all of
// them alike. Results are printed, never asserted: docs/benchmarks.md records them.
//
//   node benchmarks/responder.mjs              # 5 rounds x 6 s, about 3.5 minutes
//   node benchmarks/responder.mjs --quick      # 1 round x 2 s, about 20 seconds
//   options: --rounds=N --duration=S --warmup=S --connections=N --threads=N
//            --only=ours,node-fastcgi,http --modes=close,keep --json=FILE
//            --profile=DIR (run the workers under node --cpu-prof, profiles in DIR/KIND)
//            --baseline=DIR (adds backend "baseline": our responder from DIR/dist, e.g. a
//            build of the code before a change, measured in the same rounds as "ours")
//   (or env BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS; with
//   BENCH_COUNT_CONNECTIONS=1 each worker prints how many connections it accepted; with
//   BENCH_KEEP_TMP=1 the temp dir with nginx.conf and error.log is kept)
//
// Needs nginx and wrk on PATH and a build (npm run build). Everything listens on
// 127.0.0.1. The script kills only the processes it started, by pid, also on
// failure and SIGINT, and gives up after a hard time limit.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { f0 as fmt, median, sleep } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const cacheDir = path.join(here, '.cache');
const HOST = '127.0.0.1';
const BODY = 'hello\n';

// ---------------------------------------------------------------------------
// Worker mode: `responder.mjs --worker KIND PORT [DIST]` serves "hello" on 127.0.0.1:PORT.

async function runWorker(kind, port, dist) {
  // The parent holds an IPC channel; when it goes away (even by SIGKILL) so do we.
  process.on('disconnect', () => process.exit(0));
  // Connections are counted only when asked, so that the measured path has no extra listener.
  const counting = Boolean(process.env.BENCH_COUNT_CONNECTIONS);
  let connections = 0;
  const count = () => connections++;
  // Exit normally on SIGTERM so that --cpu-prof writes its profile.
  process.on('SIGTERM', () => {
    if (counting) console.error(`worker ${kind}: ${connections} connections accepted`);
    process.exit(0);
  });
  const handler = (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(BODY.length) });
    res.end(BODY);
  };
  if (kind === 'ours' || kind === 'baseline') {
    const { createResponder } = await import(pathToFileURL(path.join(dist, 'fastcgi/index.js')).href);
    const responder = createResponder(handler);
    if (counting) responder.on('connection', count);
    await responder.listen(`tcp://${HOST}:${port}`);
  } else if (kind === 'node-fastcgi') {
    const { createRequire } = await import('node:module');
    const fcgi = createRequire(path.join(cacheDir, 'package.json'))('node-fastcgi');
    const server = fcgi.createServer(handler);
    if (counting) server.on('connection', count);
    await new Promise((resolve, reject) => server.once('error', reject).listen(port, HOST, resolve));
  } else if (kind === 'http') {
    const http = await import('node:http');
    const server = http.createServer(handler);
    if (counting) server.on('connection', count);
    // Longer than nginx's upstream keepalive_timeout (60 s), so that Node never
    // closes a connection nginx is about to reuse (the usual advice for Node behind a proxy).
    server.keepAliveTimeout = 65_000;
    await new Promise((resolve, reject) => server.once('error', reject).listen(port, HOST, resolve));
  } else {
    throw new Error(`unknown worker kind ${kind}`);
  }
  process.send({ ready: true });
}

// ---------------------------------------------------------------------------
// Parent mode.

function options() {
  const args = new Map();
  for (const a of process.argv.slice(2)) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a}; see the header of benchmarks/responder.mjs`);
    args.set(m[1], m[2] ?? 'true');
  }
  const quick = args.has('quick');
  const num = (name, env, dflt) => {
    const v = Number(args.get(name) ?? process.env[env] ?? dflt);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
    return v;
  };
  const baseline = args.get('baseline') ? path.resolve(args.get('baseline'), 'dist') : null;
  const only = (args.get('only') ?? 'ours,node-fastcgi,http').split(',');
  if (baseline && !only.includes('baseline')) only.splice(1, 0, 'baseline');
  for (const b of only) if (!['ours', 'node-fastcgi', 'http', ...(baseline ? ['baseline'] : [])].includes(b)) throw new Error(`--only: unknown backend ${b}`);
  const modes = (args.get('modes') ?? 'close,keep').split(',');
  for (const m of modes) if (!ALL_MODES.some((x) => x.id === m)) throw new Error(`--modes: unknown mode ${m}`);
  return {
    rounds: num('rounds', 'BENCH_ROUNDS', quick ? 1 : 5),
    duration: num('duration', 'BENCH_DURATION', quick ? 2 : 6),
    warmup: num('warmup', 'BENCH_WARMUP', quick ? 1 : 2),
    connections: num('connections', 'BENCH_CONNECTIONS', 32),
    threads: num('threads', 'BENCH_THREADS', 1),
    backends: only,
    baseline,
    modes: ALL_MODES.filter((m) => modes.includes(m.id)),
    json: args.get('json') ?? null,
    profile: args.get('profile') ? path.resolve(args.get('profile')) : null,
  };
}

const ALL_MODES = [
  { id: 'close', label: 'connection per request' },
  { id: 'keep', label: 'kept connections' },
];

/** Every process this script started, by pid; the only ones it ever kills. */
const children = new Map();
let workDir = null;
let cleaning = null;

function track(name, child) {
  children.set(child.pid, { name, child });
  child.once('exit', () => children.delete(child.pid));
  return child;
}

async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    const pending = [...children.values()];
    for (const { child } of pending) {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + 3000;
    while (children.size > 0 && Date.now() < deadline) await sleep(50);
    for (const { child, name } of children.values()) {
      console.error(`${name} (pid ${child.pid}) ignored SIGTERM; sending SIGKILL`);
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (workDir && !process.env.BENCH_KEEP_TMP) rmSync(workDir, { recursive: true, force: true });
  })();
  return cleaning;
}

function installExitHandlers(hardLimitMs) {
  const bail = (why, code) => {
    console.error(`\n${why}; stopping the processes this benchmark started`);
    cleanup().finally(() => process.exit(code));
  };
  process.on('SIGINT', () => bail('SIGINT', 130));
  process.on('SIGTERM', () => bail('SIGTERM', 143));
  // Output piped into `head` that has exited: stop cleanly rather than crash.
  process.stdout.on('error', (err) => bail(`stdout: ${err.code ?? err.message}`, 1));
  // Last resort if we exit some other way: synchronous SIGKILL by pid.
  process.on('exit', () => {
    for (const { child } of children.values()) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (workDir && !process.env.BENCH_KEEP_TMP) rmSync(workDir, { recursive: true, force: true });
  });
  const timer = setTimeout(() => bail(`hard time limit of ${Math.round(hardLimitMs / 1000)} s reached`, 1), hardLimitMs);
  return timer;
}

async function main() {
  const opt = options();
  const nMeasurements = opt.rounds * opt.backends.length * opt.modes.length;
  const plannedS = opt.backends.length * opt.modes.length * opt.warmup + nMeasurements * opt.duration;
  const hardLimit = installExitHandlers((plannedS * 1.5 + 60) * 1000);
  try {
    await run(opt, plannedS);
  } catch (err) {
    // After SIGINT or the time limit, the failures of the processes we stopped are expected.
    if (!cleaning) console.error(err?.stack ?? String(err));
    process.exitCode = 1;
  } finally {
    clearTimeout(hardLimit);
    await cleanup();
  }
}

async function run(opt, plannedS) {
  const MODES = opt.modes;
  for (const tool of ['nginx', 'wrk']) {
    if (!which(tool)) throw new Error(`${tool} is not on PATH; install it (apt-get install nginx wrk)`);
  }
  if (!existsSync(path.join(root, 'dist/fastcgi/index.js'))) throw new Error('dist/ is missing: run npm run build first');
  if (opt.backends.includes('node-fastcgi')) ensureNodeFastcgi();

  const machine = machineInfo();
  console.log(`# fcgid responder benchmark\n`);
  for (const [k, v] of Object.entries(machine)) console.log(`- ${k}: ${v}`);
  console.log(
    `- plan: ${opt.rounds} round(s) x ${opt.backends.length} backend(s) x ${opt.modes.length} modes, ` +
      `${opt.duration} s each after ${opt.warmup} s warm-up per backend x mode (~${Math.round(plannedS)} s), ` +
      `wrk -t${opt.threads} -c${opt.connections}\n`,
  );

  workDir = mkdtempSync(path.join(os.tmpdir(), 'fcgid-bench-'));
  const ports = await freePorts(opt.backends.length * 2);
  const backends = opt.backends.map((kind, i) => ({ kind, workerPort: ports[2 * i], nginxPort: ports[2 * i + 1] }));

  const commands = [];
  for (const b of backends) {
    const nodeArgs = opt.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(opt.profile, b.kind)}`] : [];
    const dist = b.kind === 'baseline' ? [opt.baseline] : b.kind === 'ours' ? [path.join(root, 'dist')] : [];
    const args = [...nodeArgs, fileURLToPath(import.meta.url), '--worker', b.kind, String(b.workerPort), ...dist];
    commands.push(`node ${args.map(shellQuote).join(' ')}`);
    b.worker = await startWorker(b.kind, args);
  }

  const confPath = path.join(workDir, 'nginx.conf');
  writeFileSync(confPath, nginxConf(workDir, backends));
  const nginxArgs = ['-p', workDir, '-c', confPath, '-e', path.join(workDir, 'error.log'), '-g', 'daemon off;'];
  commands.unshift(`nginx ${nginxArgs.map(shellQuote).join(' ')}`);
  const nginx = track('nginx', spawn('nginx', nginxArgs, { stdio: ['ignore', 'inherit', 'inherit'] }));
  nginx.once('exit', (code, signal) => {
    if (!cleaning) console.error(`nginx exited early (code ${code}, signal ${signal})`);
  });
  for (const b of backends) await waitForPort(b.nginxPort, 5000);

  // Every backend must answer 200 "hello" in both modes before anything is timed.
  for (const b of backends) {
    for (const m of MODES) {
      const res = await fetch(url(b, m));
      const text = await res.text();
      if (res.status !== 200 || text !== BODY) {
        throw new Error(`${b.kind} ${m.id}: expected 200 ${JSON.stringify(BODY)}, got ${res.status} ${JSON.stringify(text)}`);
      }
    }
  }

  const wrkArgs = (u, seconds) => [`-t${opt.threads}`, `-c${opt.connections}`, `-d${seconds}s`, '--timeout', '2s', u];
  for (const b of backends) for (const m of MODES) commands.push(`wrk ${wrkArgs(url(b, m), opt.duration).join(' ')}`);
  console.log('## Commands\n\n```');
  for (const c of commands) console.log(c);
  console.log('```\n\n## nginx.conf\n\n```nginx');
  console.log(readFileSync(confPath, 'utf8').trim());
  console.log('```\n');

  const nginxWorkerPids = () => childPids(nginx.pid);
  const loadBefore = os.loadavg();

  console.log('## Warm-up');
  for (const b of backends) for (const m of MODES) await wrk(wrkArgs(url(b, m), opt.warmup), opt.warmup);
  console.log('done\n\n## Measurements\n');

  const results = new Map(); // `${kind}/${mode}` -> runs[]
  const nginxErrorsBy = new Map(); // `${kind}/${mode}` -> error-log lines
  for (let r = 0; r < opt.rounds; r++) {
    // Rotate the order each round so that no backend always runs first or last.
    const order = backends.map((_, i) => backends[(i + r) % backends.length]);
    const modes = r % 2 === 0 ? MODES : [...MODES].reverse();
    for (const m of modes) {
      for (const b of order) {
        const nginxWorkers = nginxWorkerPids();
        const pids = { worker: [b.worker.pid], nginx: nginxWorkers, ours: [nginx.pid, ...nginxWorkers, b.worker.pid, process.pid] };
        const before = sampleCpu(pids);
        const w = await wrk(wrkArgs(url(b, m), opt.duration), opt.duration);
        const after = sampleCpu(pids);
        const run = {
          ...w,
          workerCpuUsPerReq: (after.worker - before.worker) * 1e6 / ticksPerSecond() / Math.max(1, w.requests),
          nginxCpuUsPerReq: (after.nginx - before.nginx) * 1e6 / ticksPerSecond() / Math.max(1, w.requests),
          foreignCores: after.machineBusy === null
            ? null
            : ((after.machineBusy - before.machineBusy) - (after.ours - before.ours) - w.wrkTicks) / ticksPerSecond() / ((after.at - before.at) / 1000),
        };
        const key = `${b.kind}/${m.id}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key).push(run);
        console.log(
          `round ${r + 1} ${b.kind.padEnd(12)} ${m.id.padEnd(5)} ${fmt(run.rps).padStart(8)} req/s` +
            `  CPU µs/req: worker ${run.workerCpuUsPerReq.toFixed(1)}, nginx ${run.nginxCpuUsPerReq.toFixed(1)}` +
            `  non-2xx/3xx ${run.non2xx}` +
            `  socket errors ${run.socketErrors}` +
            (run.foreignCores === null ? '' : `  other load ${Math.max(0, run.foreignCores).toFixed(2)} cores`),
        );
      }
    }
  }
  const loadAfter = os.loadavg();
  const errorLog = readFileSync(path.join(workDir, 'error.log'), 'utf8');
  const nginxErrors = errorLog.split('\n').filter((l) => /\[(error|crit|alert|emerg)\]/.test(l));
  // Errors nginx recovered from (by retrying another connection) never reach wrk; count them per location.
  for (const l of nginxErrors) {
    const m = /request: "[A-Z]+ \/(\w+)\/hello[^"]*".*host: "[^:]+:(\d+)"/.exec(l);
    const b = m && backends.find((x) => String(x.nginxPort) === m[2]);
    const key = b ? `${b.kind}/${m[1]}` : 'other';
    nginxErrorsBy.set(key, (nginxErrorsBy.get(key) ?? 0) + 1);
  }

  report(opt, backends, results, { machine, loadBefore, loadAfter, nginxErrors, nginxErrorsBy, commands });
}

function report(opt, backends, results, extra) {
  const MODES = opt.modes;
  const med = (kind, mode) => median((results.get(`${kind}/${mode}`) ?? []).map((r) => r.rps));
  console.log('\n## Results (req/s; median of the rounds)\n');
  console.log(
    '| backend | mode | runs (req/s) | median req/s | CPU µs/req: worker | nginx | wrk non-2xx/3xx | wrk socket errors | nginx upstream errors |',
  );
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
  let bad = 0;
  for (const b of backends) {
    for (const m of MODES) {
      const runs = results.get(`${b.kind}/${m.id}`) ?? [];
      const non2xx = runs.reduce((s, r) => s + r.non2xx, 0);
      const sock = runs.reduce((s, r) => s + r.socketErrors, 0);
      bad += non2xx + sock;
      console.log(
        `| ${b.kind} | ${m.label} | ${runs.map((r) => fmt(r.rps)).join(', ')} | **${fmt(med(b.kind, m.id))}** | ` +
          `${median(runs.map((r) => r.workerCpuUsPerReq)).toFixed(1)} | ${median(runs.map((r) => r.nginxCpuUsPerReq)).toFixed(1)} | ` +
          `${non2xx} | ${sock} | ` +
          `${extra.nginxErrorsBy.get(`${b.kind}/${m.id}`) ?? 0} |`,
      );
    }
  }
  const ratios = [];
  const has = (k) => backends.some((b) => b.kind === k);
  if (has('ours') && has('node-fastcgi')) {
    for (const m of MODES) ratios.push([`ours / node-fastcgi, ${m.label}`, med('ours', m.id) / med('node-fastcgi', m.id), 3]);
  }
  if (has('ours') && has('http')) {
    ratios.push(['ours / http, connection per request', med('ours', 'close') / med('http', 'close'), 0.95]);
    ratios.push(['ours (fastcgi_keep_conn) / http (upstream keepalive)', med('ours', 'keep') / med('http', 'keep'), 0.8]);
  }
  if (has('ours') && has('baseline')) {
    for (const m of MODES) ratios.push([`ours / baseline, ${m.label}`, med('ours', m.id) / med('baseline', m.id), 1]);
  }
  for (let i = ratios.length - 1; i >= 0; i--) if (!Number.isFinite(ratios[i][1])) ratios.splice(i, 1);
  if (ratios.length > 0) {
    console.log('\n| ratio of medians | value | target | met |');
    console.log('|---|---:|---:|---|');
    for (const [name, v, target] of ratios) {
      console.log(`| ${name} | ${v.toFixed(2)}x | ≥ ${target}x | ${v >= target ? 'yes' : '**no**'} |`);
    }
  }
  const foreign = [...results.values()].flat().map((r) => r.foreignCores).filter((x) => x !== null);
  console.log(
    `\nload average before ${extra.loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${extra.loadAfter.map((x) => x.toFixed(2)).join(' ')}; ` +
      (foreign.length ? `CPU used by processes outside this benchmark: median ${median(foreign).toFixed(2)}, max ${Math.max(...foreign).toFixed(2)} cores` : ''),
  );
  console.log(
    `nginx error-log lines at level error or worse (warm-up included; nginx retried these on another connection, so wrk saw no error): ${extra.nginxErrors.length}`,
  );
  for (const l of extra.nginxErrors.slice(0, 3)) console.log(`  ${l}`);
  if (bad > 0) console.log(`\nWARNING: ${bad} non-2xx/3xx responses or socket errors; the figures above are suspect.`);
  if (opt.json) {
    const { nginxErrors, nginxErrorsBy, ...rest } = extra;
    const out = {
      options: opt,
      ...rest,
      nginxErrors: { count: nginxErrors.length, byLocation: Object.fromEntries(nginxErrorsBy), first: nginxErrors.slice(0, 20) },
      results: Object.fromEntries(results),
      ratios: ratios.map(([name, value, target]) => ({ name, value, target })),
    };
    writeFileSync(opt.json, JSON.stringify(out, null, 2));
    console.log(`\nraw results written to ${opt.json}`);
  }
}

// --- nginx ---

// nginx's stock fastcgi_params (1.22) less REMOTE_USER and the PHP-only REDIRECT_STATUS,
// plus SCRIPT_FILENAME, written out so the script does not depend on where a
// distribution keeps that file. HTTP_* headers are added by nginx itself.
const FASTCGI_PARAMS = `
      fastcgi_param QUERY_STRING       $query_string;
      fastcgi_param REQUEST_METHOD     $request_method;
      fastcgi_param CONTENT_TYPE       $content_type;
      fastcgi_param CONTENT_LENGTH     $content_length;
      fastcgi_param SCRIPT_NAME        $fastcgi_script_name;
      fastcgi_param REQUEST_URI        $request_uri;
      fastcgi_param DOCUMENT_URI       $document_uri;
      fastcgi_param DOCUMENT_ROOT      $document_root;
      fastcgi_param SERVER_PROTOCOL    $server_protocol;
      fastcgi_param REQUEST_SCHEME     $scheme;
      fastcgi_param HTTPS              $https if_not_empty;
      fastcgi_param GATEWAY_INTERFACE  CGI/1.1;
      fastcgi_param SERVER_SOFTWARE    nginx/$nginx_version;
      fastcgi_param REMOTE_ADDR        $remote_addr;
      fastcgi_param REMOTE_PORT        $remote_port;
      fastcgi_param SERVER_ADDR        $server_addr;
      fastcgi_param SERVER_PORT        $server_port;
      fastcgi_param SERVER_NAME        $server_name;
      fastcgi_param SCRIPT_FILENAME    $document_root$fastcgi_script_name;`.replace(/^ {6}/gm, '  ');

function nginxConf(dir, backends) {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const servers = backends.map((b) => {
    const up = b.kind.replace(/-/g, '_');
    const upstreams = `
  upstream ${up}_close { server ${HOST}:${b.workerPort}; }
  upstream ${up}_keep  { server ${HOST}:${b.workerPort}; keepalive 16; keepalive_requests 1000000; }`;
    const location = (mode) =>
      b.kind === 'http'
        ? mode === 'close'
          ? `proxy_pass http://${up}_close;`
          : `proxy_pass http://${up}_keep; proxy_http_version 1.1; proxy_set_header Connection "";`
        : `fastcgi_pass ${up}_${mode}; fastcgi_keep_conn ${mode === 'keep' ? 'on' : 'off'};`;
    return `${upstreams}
  server {
    listen ${HOST}:${b.nginxPort};
    root ${dir};
    location /close/ { ${location('close')} }
    location /keep/  { ${location('keep')} }
  }`;
  });
  for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, `${t}_temp`), { recursive: true });
  return `# written by benchmarks/responder.mjs
${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  # wrk's own connections to nginx stay up for a whole measurement.
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/client_body_temp;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  # Inherited by every fastcgi_pass location below.${FASTCGI_PARAMS}
${servers.join('\n')}
}
`;
}

const url = (b, m) => `http://${HOST}:${b.nginxPort}/${m.id}/hello`;

// --- processes ---

function startWorker(kind, args) {
  return new Promise((resolve, reject) => {
    const child = track(`worker ${kind}`, spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const timer = setTimeout(() => reject(new Error(`worker ${kind} did not start within 10 s`)), 10_000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve(child);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!cleaning) reject(new Error(`worker ${kind} exited (code ${code}, signal ${signal})`));
    });
  });
}

/** One wrk run; resolves with its parsed figures. Killed if it overruns by 15 s. */
function wrk(args, seconds) {
  return new Promise((resolve, reject) => {
    const child = track('wrk', spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, (seconds + 15) * 1000);
    // wrk's CPU, sampled just before it is reaped, so it can be told apart from foreign load.
    let wrkTicks = 0;
    const poll = setInterval(() => (wrkTicks = cpuTicks(child.pid) ?? wrkTicks), 200);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      clearInterval(poll);
      if (code !== 0) return reject(new Error(`wrk ${args.join(' ')} failed (code ${code}, signal ${signal}):\n${out}`));
      try {
        resolve({ ...parseWrk(out), wrkTicks });
      } catch (err) {
        reject(err);
      }
    });
  });
}

function parseWrk(out) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const reqs = /(\d+) requests in/.exec(out);
  if (!rps || !reqs) throw new Error(`could not parse wrk output:\n${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const latency = /Latency\s+([\d.]+)(us|ms|s)/.exec(out);
  return {
    rps: Number(rps[1]),
    requests: Number(reqs[1]),
    socketErrors: sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    latencyMs: latency ? Number(latency[1]) * { us: 0.001, ms: 1, s: 1000 }[latency[2]] : null,
  };
}

function ensureNodeFastcgi() {
  if (existsSync(path.join(cacheDir, 'node_modules/node-fastcgi/package.json'))) return;
  mkdirSync(cacheDir, { recursive: true });
  const args = ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', cacheDir, 'node-fastcgi'];
  console.log(`installing node-fastcgi: npm ${args.join(' ')}`);
  execFileSync('npm', args, { stdio: 'inherit', timeout: 120_000 });
}

function freePorts(n) {
  // All open at once, so the ports are distinct; closed just before use.
  return Promise.all(
    Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, HOST, () => resolve(s));
    })),
  ).then((servers) => Promise.all(servers.map((s) => new Promise((resolve) => {
    const { port } = s.address();
    s.close(() => resolve(port));
  }))));
}

async function waitForPort(port, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: HOST, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${HOST}:${port} after ${ms} ms (see ${workDir}/error.log)`);
    await sleep(50);
  }
}

// --- /proc sampling: worker CPU per request, and CPU used by everything else ---

let clkTck = null;
function ticksPerSecond() {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return null;
  }
}

function machineBusyTicks() {
  try {
    const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const v = f.map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal
    return total - v[3] - v[4]; // minus idle and iowait
  } catch {
    return null;
  }
}

function sampleCpu(pids) {
  const sum = (list) => list.reduce((s, p) => s + (cpuTicks(p) ?? 0), 0);
  return { at: Date.now(), worker: sum(pids.worker), nginx: sum(pids.nginx), ours: sum(pids.ours), machineBusy: machineBusyTicks() };
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// --- misc ---

function machineInfo() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  // nginx -v prints on stderr; wrk -v prints on stdout and exits 1.
  const version = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0].trim() || 'unknown';
  };
  let fastcgiVersion = 'n/a';
  try {
    fastcgiVersion = JSON.parse(readFileSync(path.join(cacheDir, 'node_modules/node-fastcgi/package.json'), 'utf8')).version;
  } catch {
    // not installed
  }
  return {
    cpus: `${os.availableParallelism?.() ?? os.cpus().length} x ${model}`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nginx: version('nginx', ['-v']).replace('nginx version: ', ''),
    wrk: version('wrk', ['-v']).replace(/\s+Copyright.*/, ''),
    'node-fastcgi': fastcgiVersion,
    'load average at start': os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

function which(cmd) {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && existsSync(path.join(d, cmd)));
}

const shellQuote = (s) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

// Dispatch last, once every module-level constant above is initialised.
if (process.argv[2] === '--worker') {
  await runWorker(process.argv[3], Number(process.argv[4]), process.argv[5]);
} else {
  await main();
}
