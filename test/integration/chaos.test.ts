// Supervision that never gives up silently (issue 12): real php-cgi workers
// killed from outside while they recycle under requests, and a pool whose
// program cannot start until its cause is fixed. The pool comes back to full by
// itself, and says where it stands while it is not.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgiParams } from '../../src/fastcgi/index.js';
import { fastcgiOnce, poolStatus } from '../helpers/control.js';
import { Fcgid, phpPool, tearDown, writeConfig } from '../helpers/daemon.js';
import { Processes, Scratch, missingPeers, poll } from '../helpers/peers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/daemon/', import.meta.url));
// FCGID_CHAOS_BIN=/path/to/an/older/bin/fcgid runs the storm against another build (to see it fail there).
const BIN = process.env.FCGID_CHAOS_BIN;
const noPhp = missingPeers('php-cgi');

describe.skipIf(noPhp !== null)('chaos: the pool returns to full by itself', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  const ctl = (): string => scratch.path('storm.ctl');
  const sock = (): string => scratch.path('storm.sock');

  beforeAll(async () => {
    scratch = new Scratch('fcgid-chaos-');
    const config = writeConfig(scratch, 'storm', {
      // php-cgi recycles every 20 requests: under the paced request loop below, every few hundred ms.
      pools: { php: phpPool(`unix:${sock()}`, { workers: 2, start_secs: '1s', env: { PHP_FCGI_MAX_REQUESTS: '20' } }) },
    });
    d = BIN ? new Fcgid(processes, config, {}, BIN) : new Fcgid(processes, config);
    await d.waitForRunning('php', 2);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('regression: a kill storm (SIGKILL of a random worker every 100 ms, php-cgi recycling) left slots fatal (3 of 8 in 30 s; here each of 2 slots is hit every ~200 ms, inside start_secs); now no slot is fatal and the pool is full again', async () => {
    const until = Date.now() + 4000;
    let kills = 0;
    let requests = 0;
    const load = (async () => {
      while (Date.now() < until) {
        await fastcgiOnce(`unix:${sock()}`, cgiParams({ url: '/pid.php', scriptFilename: `${FIXTURES}pid.php`, documentRoot: FIXTURES }), 2000).catch(() => null);
        requests++;
        // About 100 requests a second: each worker recycles every ~400 ms, so kills and recycles interleave.
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    while (Date.now() < until) {
      const pids = (await poolStatus(ctl(), 'php')).slots.flatMap((s) => (s.pid === null ? [] : [s.pid]));
      const victim = pids[Math.floor(Math.random() * pids.length)];
      if (victim !== undefined) {
        try {
          process.kill(victim, 'SIGKILL');
          kills++;
        } catch {
          // gone meanwhile (a recycle)
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await load;
    expect(kills).toBeGreaterThan(10);
    expect(requests).toBeGreaterThan(0);
    const full = await poll('the pool full again', async () => {
      const p = await poolStatus(ctl(), 'php');
      return p.state === 'running' && p.workers.running === 2 ? p : null;
    });
    expect(full.slots.filter((s) => s.state === 'fatal')).toEqual([]);
    expect(d.lines.filter((l) => /slot is fatal/.test(l.msg))).toEqual([]);
    expect(d.lines.some((l) => /from outside fcgid: not a failed start/.test(l.msg))).toBe(true);
  });
});

describe.skipIf(noPhp !== null)('a fatal slot is tried again (fatal_retry)', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;

  beforeAll(() => {
    scratch = new Scratch('fcgid-fatal-retry-');
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('a program that cannot start goes fatal, status says when it is tried again, and once its cause is gone the pool comes back by itself', async () => {
    const flag = scratch.path('broken');
    writeFileSync(flag, '');
    // Exits at once while the flag file exists: a missing database, a half-done deploy.
    const script = scratch.path('app.sh');
    writeFileSync(script, `#!/bin/sh\n[ -e ${flag} ] && { echo "cannot connect to the database" >&2; exit 1; }\nexec php-cgi\n`, { mode: 0o755 });
    const config = writeConfig(scratch, 'retry', {
      pools: { app: phpPool(`unix:${scratch.path('retry.sock')}`, { command: [script], workers: 1, start_retries: 2, fatal_retry: '1s' }) },
    });
    d = new Fcgid(processes, config);
    const fatal = await d.waitForLog((l) => /slot is fatal; trying again in 1\.0s \(fatal_retry 1\.0s\)/.test(l.msg));
    expect(fatal.msg).toMatch(/cannot connect to the database/);
    const status = await poolStatus(scratch.path('retry.ctl'), 'app');
    expect(status.state).toBe('failed');
    expect(status.slots[0]!.retry_in_ms).toBeLessThanOrEqual(1000);
    // The cause goes away: the next retry starts a worker that stays.
    const { rmSync } = await import('node:fs');
    rmSync(flag);
    const back = await poll('the pool running again', async () => {
      const p = await poolStatus(scratch.path('retry.ctl'), 'app');
      return p.state === 'running' ? p : null;
    });
    expect(back.slots[0]!.state).toBe('running');
  });
});
