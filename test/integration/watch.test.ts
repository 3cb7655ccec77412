// `watch:` globs: a change to a matching file makes one debounced rolling
// restart of the pool (new pids); a change elsewhere does nothing.

import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Fcgid, writeConfig } from '../helpers/daemon.js';
import { Processes, Scratch } from '../helpers/peers.js';

const processes = new Processes();
const scratch = new Scratch();
let fcgid: Fcgid | undefined;

afterAll(async () => {
  // The daemon's SIGTERM stops its workers; killWorkers() catches any it could not.
  if (fcgid) await processes.stop(fcgid.proc, 5000);
  fcgid?.killWorkers();
  await processes.killAll();
  scratch.remove();
});

/** Pids that reached running and have not exited since, read from the log (old and new workers overlap in a rolling restart). */
function livePids(fcgid: Fcgid): number[] {
  const live = new Set<number>();
  for (const l of fcgid.lines) {
    if (l.to === 'running' && typeof l.pid === 'number') live.add(l.pid);
    if (l.reason !== undefined && typeof l.pid === 'number') live.delete(l.pid);
  }
  return [...live];
}

describe('watch', () => {
  it('restarts the pool, rolling, when a watched file changes, and only then', async () => {
    mkdirSync(scratch.path('app', 'lib'), { recursive: true });
    const file = writeConfig(scratch, 'watch', {
      pools: {
        hello: {
          command: ['node', new URL('../../examples/hello.mjs', import.meta.url).pathname],
          listen: `unix:${scratch.path('hello.sock')}`,
          socket_fd: 3,
          workers: 2,
          start_secs: '200ms',
          cwd: scratch.dir,
          watch: ['app/**/*.js'],
        },
      },
    });
    const d = new Fcgid(processes, file);
    fcgid = d;
    const before = await d.waitForRunning('hello', 2);
    await d.waitForLog((l) => /running 1 pool/.test(l.msg));

    // An unwatched file, then a watched one: exactly one restart, naming the watched file.
    const mark = d.mark();
    writeFileSync(scratch.path('app', 'notes.txt'), 'ignored');
    writeFileSync(scratch.path('app', 'lib', 'a.js'), 'changed');
    const line = await d.waitForLog((l) => /changed; rolling restart/.test(l.msg), mark);
    expect(line.paths).toEqual([scratch.path('app', 'lib', 'a.js')]);
    await d.waitUntil(() => {
      const now = livePids(d);
      return now.length === 2 && now.every((p) => !before.includes(p)) ? now : undefined;
    });
    expect(d.lines.slice(mark).filter((l) => /changed; rolling restart/.test(l.msg))).toHaveLength(1);
  });
});
