// The daemon's log sink (src/host/log-sink.ts) on real descriptors: a FIFO
// nobody reads (in blocking and in non-blocking mode, as fd 1 may be either),
// one read again later, and one whose reader is gone.

import { spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, readSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { LogSink, OUTPUT_QUEUE_LIMIT, pinoLevel, terminalLine, type SinkOptions } from '../../src/host/log-sink.js';
import type { LogDrops } from '../../src/supervisor/port.js';
import { Scratch, poll } from '../helpers/peers.js';

const scratches: Scratch[] = [];
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // closed by the test
    }
  }
  for (const s of scratches.splice(0)) s.remove();
});

/** A FIFO: its read end (non-blocking, so the test can drain what is there) and its write end. */
function fifo(writeMode: 'blocking' | 'non-blocking'): { read: number; write: number } {
  const s = new Scratch('fcgid-sink-');
  scratches.push(s);
  const path = s.path('fifo');
  expect(spawnSync('mkfifo', [path]).status).toBe(0);
  const read = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const write = openSync(path, constants.O_WRONLY | (writeMode === 'non-blocking' ? constants.O_NONBLOCK : 0));
  fds.push(read, write);
  return { read, write };
}

/** Everything readable now from a non-blocking fd. */
function drain(fd: number): string {
  const buf = Buffer.alloc(1 << 16);
  let out = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return out;
      throw err;
    }
    if (n === 0) return out;
    out += buf.toString('utf8', 0, n);
  }
}

function sink(fd: number, options: Partial<SinkOptions> = {}): { sink: LogSink; drops: LogDrops[] } {
  const drops: LogDrops[] = [];
  const s = new LogSink({
    target: { fd },
    journal: false,
    terminal: false,
    outputEnabled: () => true,
    now: () => Date.parse('2026-12-05T10:00:00.000Z'),
    dropped: (d) => drops.push(d),
    ...options,
  });
  return { sink: s, drops };
}

const own = (level: number, msg: string): string => `{"level":${level},"time":"2026-12-05T10:00:00.000Z","msg":"${msg}"}\n`;

describe('LogSink', () => {
  it("writes fcgid's entries and workers' lines in order, workers' lines in pino's shape", async () => {
    const { read, write } = fifo('blocking');
    const { sink: s } = sink(write);
    s.write(own(30, 'first'));
    s.line('app', 2, 4242, 'stderr', 'Traceback "quoted"');
    s.write(own(40, 'last'));
    await s.flushed(5000);
    const lines = drain(read).trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['first', 'Traceback "quoted"', 'last']);
    expect(JSON.parse(lines[1]!)).toEqual({ level: 30, time: '2026-12-05T10:00:00.000Z', pool: 'app', worker: 2, pid: 4242, stream: 'stderr', msg: 'Traceback "quoted"' });
  });

  it('under journald, each line starts with its syslog priority; stderr and stdout differ', async () => {
    const { read, write } = fifo('blocking');
    const { sink: s } = sink(write, { journal: true });
    s.write(own(20, 'debug'));
    s.write(own(30, 'info'));
    s.write(own(40, 'warn'));
    s.write(own(50, 'error'));
    s.line('app', 0, 1, 'stdout', 'out');
    s.line('app', 0, 1, 'stderr', 'err');
    await s.flushed(5000);
    expect(
      drain(read)
        .trimEnd()
        .split('\n')
        .map((l) => l.slice(0, 3)),
    ).toEqual(['<7>', '<6>', '<4>', '<3>', '<6>', '<5>']);
  });

  it('on a terminal, one readable line per entry', async () => {
    const { read, write } = fifo('blocking');
    const { sink: s } = sink(write, { terminal: true });
    s.write(`{"level":40,"time":"2026-12-05T10:00:00.000Z","pool":"app","msg":"slow"}\n`);
    s.line('app', 1, 99, 'stderr', 'boom');
    await s.flushed(5000);
    expect(drain(read)).toBe('10:00:00.000 WARN  app: slow\n10:00:00.000 INFO  app/1 99 stderr: boom\n');
  });

  it("workers' lines are left out below log.level info", async () => {
    const { read, write } = fifo('blocking');
    const { sink: s } = sink(write, { outputEnabled: () => false });
    s.line('app', 0, 1, 'stderr', 'hidden');
    s.write(own(40, 'shown'));
    await s.flushed(5000);
    expect(drain(read)).toBe(own(40, 'shown'));
  });

  for (const mode of ['blocking', 'non-blocking'] as const) {
    it(`regression: a reader that stops (a ${mode} fd 1) made every log call wait (100 ms per EAGAIN); now nothing waits, workers' lines are dropped and counted, fcgid's own are kept`, async () => {
      const { read, write } = fifo(mode);
      const { sink: s, drops } = sink(write);
      const line = 'x'.repeat(8192);
      // 16 MiB of worker output into a pipe that holds 64 KiB: every call returns (the test would hang otherwise).
      for (let i = 0; i < 2048; i++) s.line('app', 0, 7, 'stderr', line);
      s.write(own(50, 'still here'));
      const counted = s.dropped();
      expect(counted.workerLines).toBeGreaterThan(2048 - Math.ceil((2 * OUTPUT_QUEUE_LIMIT + (1 << 16)) / line.length) - 1);
      expect(counted.fcgidLines).toBe(0);
      // The reader comes back: everything kept gets out, ending with fcgid's entry, and the drops are reported once.
      let out = '';
      await poll('the sink drained', () => {
        out += drain(read);
        return out.endsWith(own(50, 'still here')) ? true : null;
      });
      await s.flushed(5000);
      expect(drops).toHaveLength(1);
      expect(drops[0]).toMatchObject({ workerLines: counted.workerLines, fcgidLines: 0, failedWrites: 0 });
      expect(drops[0]!.bytes).toBe(counted.workerLines * line.length);
    });
  }

  it('a reader that is gone (EPIPE): the write is counted as failed, and later lines are tried again', async () => {
    const { read, write } = fifo('blocking');
    closeSync(read);
    const { sink: s, drops } = sink(write);
    s.write(own(30, 'lost'));
    await s.flushed(5000);
    expect(s.dropped()).toMatchObject({ failedWrites: 1, lastError: 'EPIPE' });
    // Not said in a log that takes nothing (status and metrics count it).
    expect(drops).toEqual([]);
  });

  it('regression: a log that keeps failing (/dev/full) fed itself its own drop reports, 24,000 a second; now it is told nothing until a write gets through', async () => {
    const fd = openSync('/dev/full', 'w');
    try {
      let s!: LogSink;
      const drops: LogDrops[] = [];
      ({ sink: s } = sink(fd, { dropped: (d) => (drops.push(d), s.write(own(30, 'dropped'))) }));
      s.write(own(30, 'one'));
      await s.flushed(2000);
      await new Promise((r) => setTimeout(r, 200));
      expect(drops).toEqual([]);
      expect(s.dropped()).toMatchObject({ failedWrites: 1, lastError: 'ENOSPC' });
    } finally {
      closeSync(fd);
    }
  });

  it('log.file: appended to by name, and reopened by name (logrotate)', async () => {
    const s0 = new Scratch('fcgid-sink-');
    scratches.push(s0);
    const file = s0.path('fcgid.log');
    const { sink: s } = sink(0, { target: { file } });
    s.write(own(30, 'one'));
    await s.flushed(5000);
    const { renameSync } = await import('node:fs');
    renameSync(file, `${file}.1`);
    s.reopen();
    s.write(own(30, 'two'));
    await s.flushed(5000);
    s.close();
    expect(readFileSync(`${file}.1`, 'utf8')).toBe(own(30, 'one'));
    expect(readFileSync(file, 'utf8')).toBe(own(30, 'two'));
  });
});

describe('pinoLevel and terminalLine', () => {
  it('reads the level pino writes first, and nothing else', () => {
    expect(pinoLevel('{"level":40,"time":"x"}')).toBe(40);
    expect(pinoLevel('{"time":"x","level":40}')).toBeNull();
    expect(pinoLevel('{"level":,')).toBeNull();
    expect(pinoLevel('plain text')).toBeNull();
  });

  it('terminalLine passes through what is not JSON', () => {
    expect(terminalLine('not json\n')).toBe('not json\n');
  });
});
