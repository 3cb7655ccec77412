#!/usr/bin/env node
// What a large or hostile config costs (issue 11): `fcgid check` on configs
// with 1k to 100k keys and with nested YAML aliases, and a reload of the
// largest valid one against a running daemon while the benchmark measures how
// long the daemon's event loop is away: GET /v1/status sent back to back on the
// control socket, each answer's latency recorded, during and outside the reload.
// This build and, with --baseline=DIR, another build side by side.
//
//   node benchmarks/config.mjs [--baseline=DIR] [--runs=5] [--limit-secs=20]
//
// Needs a build (npm run build). Everything runs on unix sockets in a temp dir,
// removed at the end; the script kills only the daemons it started (by pid and
// process group, also on failure, SIGINT, and at the hard time limit of each
// check, --limit-secs). Results are printed, never asserted; docs/benchmarks.md
// records them.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest, f0, f1, installExitHandlers, launch, median, quantile, runMain, sleep, stop, table, tempDir } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Map(process.argv.slice(2).map((a) => /^--([a-z-]+)=(.*)$/.exec(a)?.slice(1) ?? [a, 'true']));
const RUNS = Number(args.get('runs') ?? 5);
const LIMIT_S = Number(args.get('limit-secs') ?? 20);
const builds = [{ name: 'this build', bin: path.join(root, 'bin', 'fcgid') }];
if (args.get('baseline')) builds.push({ name: `baseline (${args.get('baseline')})`, bin: path.resolve(args.get('baseline'), 'bin', 'fcgid') });
const HELLO = path.join(root, 'examples', 'hello.mjs');

let dir;

/** A one-pool config whose env has `keys` entries. */
function envConfig(name, keys) {
  const env = Array.from({ length: keys }, (_, i) => `      K${i}: v${i}`).join('\n');
  return [
    `control: { socket: ${JSON.stringify(path.join(dir, `${name}.ctl`))} }`,
    'log: { level: warn }',
    'pools:',
    '  app:',
    `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(HELLO)}]`,
    `    listen: ${JSON.stringify(`unix:${path.join(dir, `${name}.sock`)}`)}`,
    '    socket_fd: 3',
    '    workers: 1',
    '    env:',
    env,
    '',
  ].join('\n');
}

/** `levels` of nine aliases each, and a pool whose env names the last: 9^levels nodes once expanded. */
function bombConfig(name, levels) {
  const lines = ['x-bomb:', '  a0: &a0 [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= levels; i++) lines.push(`  a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
  return lines.join('\n') + '\n' + envConfig(name, 0).replace('    env:\n', `    env: *a${levels}\n`);
}

/** Wall-clock ms of `fcgid check -c file`, or null past the limit (then killed). */
function check(bin, file) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, 'check', '-c', file], { timeout: LIMIT_S * 1000, killSignal: 'SIGKILL', encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGKILL') return { ms: null, status: 'killed' };
  return { ms, status: r.status === 0 ? 'valid' : (r.stderr.split('\n')[0] ?? '').slice(0, 90) };
}

const get = (ctl, url) => controlRequest(ctl, url);
const post = (ctl, url) => controlRequest(ctl, url, { method: 'POST' });

/** Status requests back to back until `done` resolves: the latency of each, and how many. */
async function probe(ctl, done) {
  const latencies = [];
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    const t0 = performance.now();
    await get(ctl, '/v1/status');
    latencies.push(performance.now() - t0);
  }
  return latencies;
}

/** A daemon started on a small config, reloaded onto `big` RUNS times: event-loop delay during each reload. */
async function reload(build, big) {
  const name = `reload-${builds.indexOf(build)}`;
  const file = path.join(dir, `${name}.yaml`);
  const ctl = path.join(dir, `${name}.ctl`);
  writeFileSync(file, envConfig(name, 1));
  const d = launch(`fcgid ${build.name}`, process.execPath, [build.bin, 'start', '-c', file]);
  try {
    for (let waited = 0; (await get(ctl, '/v1/status').catch(() => null))?.status !== 200; waited += 50) {
      if (waited > 15_000) throw new Error(`${d.name}: no control socket after 15 s:\n${d.output}`);
      await sleep(50);
    }
    const quiet = await probe(ctl, sleep(1000));
    const rounds = [];
    for (let i = 0; i < RUNS; i++) {
      // Alternate the two configs, so that each reload has something to apply.
      writeFileSync(file, i % 2 === 0 ? big(name) : envConfig(name, 1));
      const t0 = performance.now();
      const answer = post(ctl, '/v1/reload');
      const latencies = await probe(ctl, answer);
      const { status } = await answer;
      rounds.push({ ms: performance.now() - t0, status, max: Math.max(...latencies), n: latencies.length });
      await sleep(300);
    }
    return { quietMedian: median(quiet), quietP99: quantile(quiet, 0.99), rounds };
  } finally {
    await stop(d);
  }
}

async function main() {
  installExitHandlers();
  dir = tempDir(os.tmpdir(), 'fcgid-bench-config-');
  const cpus = os.cpus();
  console.log(`# config cost\n\n- cpu: ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}; node ${process.version}; ${RUNS} runs each, ${LIMIT_S} s limit per check\n`);
  const cases = [
    ...[1000, 4096, 10_000, 100_000].map((keys) => ({ what: `env with ${keys.toLocaleString('en-US')} keys`, text: (n) => envConfig(n, keys) })),
    ...[6, 9, 12].map((levels) => ({ what: `alias bomb, ${levels} levels`, text: (n) => bombConfig(n, levels) })),
  ];
  const rows = [];
  for (const c of cases) {
    const file = path.join(dir, `check-${rows.length}.yaml`);
    writeFileSync(file, c.text(`check-${rows.length}`));
    const size = Buffer.byteLength(c.text('x'));
    const row = [c.what, `${f0(size)} B`];
    for (const b of builds) {
      const results = [];
      for (let i = 0; i < RUNS; i++) {
        const r = check(b.bin, file);
        results.push(r);
        if (r.ms === null) break; // one run past the limit says enough
      }
      const done = results.filter((r) => r.ms !== null).map((r) => r.ms);
      row.push(done.length === results.length ? `${f0(median(done))} ms` : `> ${LIMIT_S} s (killed)`, results[0].status);
    }
    rows.push(row);
  }
  console.log(table(['config', 'size', ...builds.flatMap((b) => [`${b.name}: fcgid check, median`, 'outcome'])], rows));

  console.log('\nreload of a pool onto an env of 4,096 keys and back, with GET /v1/status back to back meanwhile:\n');
  const reloadRows = [];
  for (const b of builds) {
    const r = await reload(b, (n) => envConfig(n, 4096));
    const big = r.rounds.filter((_, i) => i % 2 === 0);
    reloadRows.push([
      b.name,
      `${f1(r.quietMedian)} / ${f1(r.quietP99)} ms`,
      `${f0(median(big.map((x) => x.ms)))} ms`,
      `${f1(median(big.map((x) => x.max)))} ms (max ${f1(Math.max(...big.map((x) => x.max)))})`,
      String(median(big.map((x) => x.n))),
      big.map((x) => x.status).join(', '),
    ]);
  }
  console.log(
    table(['build', 'status latency, no reload: median / p99', 'reload answered in (median)', 'slowest status answer during a reload (median of runs)', 'status answers during a reload', 'reload HTTP status'], reloadRows),
  );
}

await runMain(main);
