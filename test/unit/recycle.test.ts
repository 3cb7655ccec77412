// Pool.recycle (max_memory, max_lifetime), driven by a fake clock and fake
// processes: the replacement starts first and the old worker stops only once it
// counts as started; a worker already waiting for its turn is not recycled
// (logged, counted) again at every scan.

import { describe, expect, it } from 'vitest';
import { type RecordingObserver, reconcilingPool } from '../helpers/fake-host.js';

/** A pool wired like the daemon wires it: every state change or exit ends in a reconcile. */
const setup = (workers: number, startSecs = 300) => reconcilingPool(workers, startSecs);

const recycleLines = (obs: RecordingObserver): string[] => obs.logs.filter((l) => /recycling it/.test(l.message)).map((l) => l.message);

describe('Pool.recycle', () => {
  it('starts the replacement first; the old worker is stopped once it counts as started, and its exit reads "recycled"', () => {
    const { host, obs, pool, step, exitKilled } = setup(1);
    const [old] = pool.slots.map((s) => s.pid);
    expect(pool.recycle(pool.slots[0]!, 'is old')).toBe(true);
    expect(host.spawnCount).toBe(2);
    expect(host.kills).toEqual([]);
    step(300);
    expect(host.kills).toEqual([{ pid: old, signal: 'SIGTERM' }]);
    exitKilled();
    expect(pool.slots.map((s) => s.pid)).toEqual([101]);
    expect(obs.logs.some((l) => l.fields.reason === 'recycled' && /its replacement has taken over$/.test(l.message))).toBe(true);
  });

  it('regression: a worker waiting for its turn (one replacement at a time) is not recycled again at the next scan', () => {
    const { host, obs, pool, step, exitKilled } = setup(2);
    const [a, b] = pool.slots;
    // One scan finds both past their limit: slot 0's replacement starts, slot 1 waits its turn.
    expect(pool.recycle(a!, 'is old')).toBe(true);
    expect(pool.recycle(b!, 'is old')).toBe(true);
    expect(host.spawnCount).toBe(3);
    // The next scan, while slot 0's replacement is still starting: nothing new to do or count.
    expect(pool.recycle(b!, 'is old')).toBe(false);
    expect(recycleLines(obs)).toHaveLength(2);
    // Slot 0 hands over; then slot 1's replacement starts, and slot 1 hands over too.
    step(300);
    exitKilled();
    expect(host.spawnCount).toBe(4);
    expect(pool.recycle(b!, 'is old')).toBe(false);
    step(300);
    exitKilled();
    expect(pool.slots.map((s) => s.pid)).toEqual([102, 103]);
    expect(pool.slots.every((s) => s.state === 'running')).toBe(true);
    expect(recycleLines(obs)).toHaveLength(2);
    expect(obs.exits.map((e) => e.pid)).toEqual([100, 101]);
  });
});
