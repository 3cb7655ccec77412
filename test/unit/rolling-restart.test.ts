// Rolling and hard restarts of a pool, driven by a fake clock and fake
// processes: replacements start first, old workers stop only once the new ones
// count as started, and capacity never drops.

import { describe, expect, it } from 'vitest';
import { type FakeHost, reconcilingPool } from '../helpers/fake-host.js';

/** A pool wired like the daemon wires it: every state change or exit ends in a reconcile. */
const setup = (workers: number, startSecs = 1000) => reconcilingPool(workers, startSecs);

const livePids = (host: FakeHost): number[] => host.children.filter((c) => !c.exited && c.pid !== null).map((c) => c.pid!);

describe('rolling restart', () => {
  it('starts a replacement, waits until it counts as started, then stops the old worker; one slot at a time', async () => {
    const { host, pool, step, exitKilled } = setup(2);
    expect(pool.slots.map((s) => s.pid)).toEqual([100, 101]);
    let done = false;
    const result = pool.restart({ batch: 1 }).then((r) => ((done = true), r));
    // Replacement for slot 0 only (batch 1); nobody is stopped yet.
    expect(host.spawnCount).toBe(3);
    expect(host.kills).toEqual([]);
    step(999);
    expect(host.kills).toEqual([]);
    step(1);
    // The replacement counts as started: the old worker of slot 0 gets its stop signal.
    expect(host.kills).toEqual([{ pid: 100, signal: 'SIGTERM' }]);
    expect(livePids(host)).toEqual([100, 101, 102]);
    exitKilled();
    expect(pool.slots.map((s) => s.pid)).toEqual([102, 101]);
    // Then slot 1.
    expect(host.spawnCount).toBe(4);
    step(1000);
    expect(host.kills).toEqual([{ pid: 101, signal: 'SIGTERM' }]);
    exitKilled();
    expect(pool.slots.map((s) => s.pid)).toEqual([102, 103]);
    await Promise.resolve();
    await Promise.resolve();
    expect(done).toBe(true);
    expect(await result).toEqual({ pool: 'app', replaced: 2, failed: [], kept: [], stderr_tail: [] });
    // Nothing more happens afterwards.
    step(10_000);
    expect(host.spawnCount).toBe(4);
    expect(host.kills).toEqual([]);
  });

  it('by default turns every slot over at once: one start_secs for the whole pool', async () => {
    const { host, pool, step, exitKilled } = setup(3);
    const result = pool.restart();
    // Three replacements start together; nobody is stopped before they count as started.
    expect(host.spawnCount).toBe(6);
    expect(host.kills).toEqual([]);
    step(1000);
    expect(host.kills.map((k) => k.pid).sort()).toEqual([100, 101, 102]);
    exitKilled();
    expect(pool.slots.map((s) => s.pid)).toEqual([103, 104, 105]);
    expect(await result).toEqual({ pool: 'app', replaced: 3, failed: [], kept: [], stderr_tail: [] });
  });

  it('never has fewer running workers than wanted while it rolls', () => {
    const { host, pool, step, exitKilled } = setup(3);
    void pool.restart({ batch: 2 });
    for (let i = 0; i < 10; i++) {
      expect(pool.slots.filter((s) => s.state === 'running').length).toBeGreaterThanOrEqual(3);
      step(500);
      exitKilled();
    }
    expect(pool.rollout).toBeNull();
    expect(host.spawnCount).toBe(6);
  });

  it('keeps the old worker when its replacement dies at boot, and reports the slot', async () => {
    const { host, pool, step, settle } = setup(1);
    const result = pool.restart();
    host.line(101, 'stderr', 'SyntaxError: invalid syntax');
    host.exit(101, 1);
    settle();
    step(10_000);
    expect(pool.slots[0]!.pid).toBe(100);
    expect(pool.slots[0]!.state).toBe('running');
    expect(pool.replacements.size).toBe(0);
    expect(await result).toEqual({ pool: 'app', replaced: 0, failed: [0], kept: [0], stderr_tail: ['SyntaxError: invalid syntax'] });
  });
});

describe('restart of slots that are not serving (fatal, backing off)', () => {
  /** Every worker dies at once until the pool has failed. */
  function failAll(t: ReturnType<typeof setup>): void {
    for (let round = 0; round < 50 && t.pool.state !== 'failed'; round++) {
      for (const c of t.host.children.filter((ch) => !ch.exited && ch.pid !== null)) {
        t.host.line(c.pid!, 'stderr', `ImportError: No module named 'app' (pid ${c.pid})`);
        t.host.exit(c.pid!, 1);
      }
      t.settle();
      t.step(20_000); // past any backoff, well before start_secs
    }
    expect(t.pool.state).toBe('failed');
  }

  it('regression: reported "2 workers replaced" while both went straight back to fatal; now the slots fail, with the stderr tail', async () => {
    const t = setup(2, 100_000);
    failAll(t);
    let done = false;
    const result = t.pool.restart().then((r) => ((done = true), r));
    const started = t.host.children.filter((c) => !c.exited).map((c) => c.pid!);
    expect(started).toHaveLength(2);
    await Promise.resolve();
    expect(done).toBe(false); // no verdict while they start
    for (const pid of started) {
      t.host.line(pid, 'stderr', 'Traceback (most recent call last):');
      t.host.line(pid, 'stderr', "ModuleNotFoundError: No module named 'app'");
      t.host.exit(pid, 1);
    }
    t.settle();
    const r = await result;
    expect(r).toMatchObject({ pool: 'app', replaced: 0, failed: [0, 1], kept: [] });
    expect(r.stderr_tail.slice(-2)).toEqual(['Traceback (most recent call last):', "ModuleNotFoundError: No module named 'app'"]);
  });

  it('counts them replaced only once they count as started', async () => {
    const t = setup(2, 100_000);
    failAll(t);
    let done = false;
    const result = t.pool.restart().then((r) => ((done = true), r));
    t.step(99_999);
    await Promise.resolve();
    expect(done).toBe(false);
    t.step(1);
    expect(await result).toEqual({ pool: 'app', replaced: 2, failed: [], kept: [], stderr_tail: [] });
    expect(t.pool.state).toBe('running');
  });
});

describe('hard restart', () => {
  it('stops every worker, then starts them all', async () => {
    const { host, pool, step, exitKilled } = setup(2);
    const result = pool.restart({ hard: true });
    expect(host.kills.map((k) => k.pid).sort()).toEqual([100, 101]);
    expect(host.spawnCount).toBe(2);
    exitKilled();
    expect(host.spawnCount).toBe(4);
    step(1000);
    expect(pool.slots.map((s) => s.state)).toEqual(['running', 'running']);
    expect(await result).toEqual({ pool: 'app', replaced: 2, failed: [], kept: [], stderr_tail: [] });
  });

  it('regression: workers that exit one at a time keep their slots (the last ones were dropped as surplus and not counted)', async () => {
    const { host, pool, settle, step } = setup(4);
    pool.slots[3]!.restarts = 7;
    const result = pool.restart({ hard: true });
    // The daemon reconciles after each exit, and the last slot's worker goes first.
    for (const k of host.kills.splice(0).reverse()) {
      host.exit(k.pid, null, k.signal);
      settle();
    }
    step(1000);
    expect(pool.slots.map((s) => [s.index, s.state])).toEqual([0, 1, 2, 3].map((i) => [i, 'running']));
    expect(pool.slots[3]!.restarts).toBe(7); // the same slot, its history kept
    expect(await result).toEqual({ pool: 'app', replaced: 4, failed: [], kept: [], stderr_tail: [] });
  });
});
