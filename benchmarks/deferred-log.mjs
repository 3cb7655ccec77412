#!/usr/bin/env node
// What a log line costs through DeferredLog (src/cli/deferred-log.ts) once pino
// is attached, against pino alone: the pool loggers the daemon makes before
// pino is loaded keep forwarding to it. 200,000 lines of worker output to
// /dev/null, 5 runs each, medians printed. Needs a build (npm run build).
import pino from 'pino';
import { DeferredLog } from '../dist/cli/deferred-log.js';

const dest = pino.destination({ dest: '/dev/null', sync: true });
const N = 200_000;
const perLineNs = (log) => {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) log.info({ worker: 1, pid: 42, stream: 'stdout' }, 'a line of worker output');
  return ((performance.now() - t0) / N) * 1e6;
};
const direct = [];
const deferred = [];
for (let r = 0; r < 5; r++) {
  direct.push(perLineNs(pino({ base: null }, dest).child({ pool: 'php' })));
  const root = new DeferredLog('info');
  const child = root.child({ pool: 'php' });
  root.attach(pino({ base: null }, dest));
  deferred.push(perLineNs(child));
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`ns per line (median of 5 x ${N}): pino child ${median(direct).toFixed(0)}, through a DeferredLog child ${median(deferred).toFixed(0)}`);
