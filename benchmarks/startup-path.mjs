#!/usr/bin/env node
// Where `fcgid start` spends the time before its first worker, from inside the
// daemon: a preload module (node -r) records performance.now(), milliseconds
// since the process began, at each step of bin/fcgid (src/cli/launch.cts), and
// at the first spawn() a line goes to stderr. One php-cgi master forking 8
// children (config/php-cgi.yaml's arrangement) on a socket in a temp dir; a
// bare `node -e 0` beside it, alternating, medians.
//
//   node benchmarks/startup-path.mjs [--runs=10] [--fcgid=bin/fcgid]
//
//   node ready        the preload runs: Node's own start-up is over
//   bundle read       dist/bundle/fcgid.cjs read (after the bin/ shims and launch.cjs)
//   code cache read   its V8 code cache read
//   code loaded       new vm.Script() returned (cache checksum, then V8 deserialising it)
//   first spawn       fcgid calls spawn() for the first worker
//   8 in accept()     php-cgi's 8 children blocked in accept() (polled every 1 ms)
//
// A first start, not measured, writes the code cache if the build has none yet.
// Needs a build (npm run build) and php-cgi. Kills only what it started, by
// pid (also on failure and SIGINT); every wait has a limit. Results are
// printed, never asserted; docs/benchmarks.md records them.

import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { f1, inAccept, installExitHandlers, launch, mainChildren, median, runMain, sleep, stop, table, tempDir, waitFor, which } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const option = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const RUNS = Math.min(100, Math.max(1, Number(option('runs', '10'))));
const FCGID = path.resolve(option('fcgid', path.join(root, 'bin', 'fcgid')));
const CHILDREN = 8;

const PRELOAD = `
const { performance } = require('node:perf_hooks');
const marks = { 'node ready': performance.now() };
const fs = require('node:fs');
const read = fs.readFileSync;
fs.readFileSync = function (file, ...rest) {
  const out = read.call(this, file, ...rest);
  if (typeof file === 'string' && file.endsWith('/fcgid.cjs')) marks['bundle read'] ??= performance.now();
  if (typeof file === 'string' && file.endsWith('/fcgid.cjs.cache')) marks['code cache read'] ??= performance.now();
  return out;
};
const vm = require('node:vm');
const Script = vm.Script;
vm.Script = function (...args) {
  const s = new Script(...args);
  marks['code loaded'] ??= performance.now();
  return s;
};
const cp = require('node:child_process');
const spawn = cp.spawn;
cp.spawn = function (...args) {
  if (!marks['first spawn']) {
    marks['first spawn'] = performance.now();
    process.stderr.write('startup-path ' + JSON.stringify(marks) + '\\n');
  }
  return spawn.apply(this, args);
};
`;

async function main() {
  installExitHandlers();
  if (!which('php-cgi')) throw new Error('php-cgi is not installed (apt-get install php-cgi)');
  const dir = tempDir(os.tmpdir(), 'fcgid-bench-startup-path-');
  const preload = path.join(dir, 'marks.cjs');
  writeFileSync(preload, PRELOAD);
  const config = path.join(dir, 'php.json');
  writeFileSync(
    config,
    JSON.stringify({
      control: { socket: path.join(dir, 'ctl.sock') },
      log: { level: 'warn' },
      pools: { php: { command: ['/usr/bin/php-cgi'], listen: `unix:${path.join(dir, 'php.sock')}`, workers: 1, env: { PHP_FCGI_CHILDREN: String(CHILDREN) } } },
    }),
  );
  // One start first, run until it has written V8's code cache (it does once
  // running), as any start after the first finds it.
  const cache = path.join(path.dirname(FCGID), '..', 'dist', 'bundle', 'fcgid.cjs.cache');
  const warm = launch('fcgid (warm-up)', process.execPath, [FCGID, 'start', '-c', config]);
  try {
    await waitFor(`${cache}`, () => existsSync(cache), 10_000, warm);
  } finally {
    await stop(warm, 5000);
  }
  const runs = [];
  const bare = [];
  for (let i = 0; i < RUNS; i++) {
    const b0 = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    bare.push(performance.now() - b0);
    let marks = null;
    const t0 = performance.now();
    const daemon = launch('fcgid', process.execPath, ['-r', preload, FCGID, 'start', '-c', config]);
    daemon.child.stderr.on('data', () => {
      const m = /^startup-path (.*)$/m.exec(daemon.output);
      if (m) marks ??= JSON.parse(m[1]);
    });
    try {
      await waitFor(
        `${CHILDREN} children in accept()`,
        () => {
          const master = mainChildren(daemon.pid)[0];
          const kids = master === undefined ? [] : mainChildren(master);
          return kids.length >= CHILDREN && kids.every(inAccept);
        },
        10_000,
        daemon,
        1,
      );
      const accepting = performance.now() - t0;
      await waitFor('the marks', () => marks !== null, 5000, daemon);
      runs.push({ ...marks, '8 in accept()': accepting });
    } finally {
      await stop(daemon, 5000);
    }
    await sleep(100);
  }
  const steps = ['node ready', 'bundle read', 'code cache read', 'code loaded', 'first spawn', '8 in accept()'];
  console.log(`startup-path: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; ${RUNS} runs; ${FCGID}\n`);
  console.log(
    table(
      ['step', 'ms since launch (median)', 'min', 'max', 'step took (median of differences)'],
      steps.map((s, i) => {
        const xs = runs.map((r) => r[s]);
        const took = i === 0 ? xs : runs.map((r) => r[s] - r[steps[i - 1]]);
        return [s, f1(median(xs)), f1(Math.min(...xs)), f1(Math.max(...xs)), f1(median(took))];
      }),
    ),
  );
  console.log(`\nbare \`node -e 0\`, launch to exit: ${f1(median(bare))} ms (median of ${RUNS})`);
  console.log(`command: node -r <marks.cjs> ${FCGID} start -c ${config}`);
}

await runMain(main);
