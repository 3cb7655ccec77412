// DeferredLog holds what the daemon logs while `fcgid start` spawns the first
// workers, before pino is loaded; attached to a real pino logger, every entry
// comes out in order, with its bindings and the time it was logged at.

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DeferredLog } from '../../src/cli/deferred-log.js';

function collector(log: DeferredLog, level = 'debug'): { lines: Array<Record<string, unknown>>; logger: pino.Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level, base: null, timestamp: () => `,"time":${log.now()}` },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { lines, logger };
}

describe('DeferredLog', () => {
  it('replays entries in order, with their bindings and their own time, then writes straight through', async () => {
    const log = new DeferredLog('debug');
    const pool = log.child({ pool: 'php' });
    log.info('first');
    pool.warn({ worker: 0 }, 'second');
    const loggedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 30));
    pool.child({ slot: 'php/1' }).debug({ pid: 7 }, 'third');
    expect(log.attached).toBe(false);

    const { lines, logger } = collector(log);
    log.attach(logger);
    expect(log.attached).toBe(true);
    expect(lines.map((l) => [l.msg, l.level, l.pool, l.worker, l.slot, l.pid])).toEqual([
      ['first', 30, undefined, undefined, undefined, undefined],
      ['second', 40, 'php', 0, undefined, undefined],
      ['third', 20, 'php', undefined, 'php/1', 7],
    ]);
    // Replayed with the time they were logged, not the time of attach().
    expect(lines[0]!.time as number).toBeLessThanOrEqual(loggedAt);
    expect(lines[2]!.time as number).toBeGreaterThanOrEqual(loggedAt);

    pool.error({ worker: 1 }, 'after');
    log.child({ pool: 'app' }).info('new child');
    expect(lines.slice(3).map((l) => [l.msg, l.pool, l.worker])).toEqual([
      ['after', 'php', 1],
      ['new child', 'app', undefined],
    ]);
    expect(lines[3]!.time as number).toBeGreaterThan(loggedAt);
  });

  it('applies its level to the logger it is attached to, and later changes to it', () => {
    const log = new DeferredLog('info');
    log.debug('dropped');
    log.info('kept');
    const { lines, logger } = collector(log, 'debug');
    log.attach(logger);
    expect(lines.map((l) => l.msg)).toEqual(['kept']);
    log.level = 'debug';
    expect(logger.level).toBe('debug');
    log.debug('now kept');
    expect(lines.map((l) => l.msg)).toEqual(['kept', 'now kept']);
  });
});
