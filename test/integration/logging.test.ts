// Logging never blocks the daemon (issue 12): fcgid's stdout a pipe nobody
// reads while a worker floods its stderr, followers of the log that stop
// reading, and the priorities journald gets. The daemon keeps answering; what
// it could not log is dropped, counted and said. (How fast it answers is
// measured in benchmarks/logging.mjs, never asserted here.)

import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FOLLOWERS } from '../../src/control/server.js';
import { httpGet, poolWhen, sample, statusOf } from '../helpers/control.js';
import { FCGID_BIN, Fcgid, tearDown, writeConfig } from '../helpers/daemon.js';
import { Processes, Scratch, poll } from '../helpers/peers.js';

const FLOOD = fileURLToPath(new URL('../fixtures/daemon/flood.cjs', import.meta.url));
const O_NONBLOCK = 0o4000;

function floodPool(scratch: Scratch, what: 'stderr' | 'lines'): Record<string, unknown> {
  return { command: [process.execPath, FLOOD, what], listen: `unix:${scratch.path(`${what}.sock`)}`, workers: 1, start_secs: '200ms' };
}

describe('a flooding worker, and a stdout nobody reads', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  const ctl = (): string => scratch.path('flood.ctl');

  beforeAll(async () => {
    scratch = new Scratch('fcgid-log-');
    d = new Fcgid(processes, writeConfig(scratch, 'flood', { log: { level: 'info' }, pools: { noisy: floodPool(scratch, 'stderr') } }));
    await d.waitForLog((l) => /^fcgid \S+ running 1 pool/.test(l.msg));
    await poolWhen(ctl(), 'noisy', 'the noisy worker running', (p) => p.workers.running === 1);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it("regression: fcgid made its stdout pipe non-blocking (process.stdout), so every log write met EAGAIN and slept 100 ms; now fd 1 keeps the mode it was given", () => {
    const flags = /^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/${d.pid}/fdinfo/1`, 'utf8'))![1]!;
    expect(Number.parseInt(flags, 8) & O_NONBLOCK).toBe(0);
  });

  it('regression: with stdout not read and a worker writing 1 MiB lines, status took up to 2.5 s; now the daemon answers, drops worker output, counts it, and says so once its log drains', async () => {
    d.proc.child.stdout!.pause();
    // Every request answers while nothing reads fcgid's stdout.
    for (let i = 0; i < 20; i++) expect((await statusOf(ctl())).state).toBe('running');
    const dropped = await poll('worker lines dropped', async () => {
      const log = (await statusOf(ctl())).log;
      return log && log.dropped_worker_lines > 0 ? log : null;
    });
    expect(dropped).toMatchObject({ dropped_fcgid_lines: 0, failed_writes: 0 });
    const metrics = (await httpGet({ socketPath: ctl(), path: '/metrics' })).body;
    expect(sample(metrics, 'fcgid_log_lines_dropped_total', { source: 'worker' })).toBeGreaterThan(0);
    expect(sample(metrics, 'fcgid_log_lines_dropped_total', { source: 'fcgid' })).toBe(0);
    // Stop the flood, then read again: the log says what it left out.
    const from = d.mark();
    const pid = (await statusOf(ctl())).pools[0]!.slots[0]!.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      d.proc.child.stdout!.resume();
      const said = await d.waitForLog((l) => /^the log fell behind its reader: left out \d+ lines of worker output, [\d,]+ bytes; fcgid never waits for its log/.test(l.msg), from);
      expect(said.level).toBe(40);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it(`followers of the log that stop reading are cut off, not waited for; at most ${MAX_FOLLOWERS} at once`, async () => {
    const stalled: http.ClientRequest[] = [];
    const follow = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = http.request({ socketPath: ctl(), path: '/v1/logs?follow=1&n=0', agent: false }, (res) => {
          // Read nothing more: the answer's headers only.
          res.pause();
          res.socket.pause();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        stalled.push(req);
        req.end();
      });
    try {
      const first = await Promise.all(Array.from({ length: MAX_FOLLOWERS }, follow));
      expect(first.every((s) => s === 200)).toBe(true);
      // The flood fills their buffers; fcgid answers meanwhile and cuts them off, so a new follower is let in again.
      expect((await statusOf(ctl())).state).toBe('running');
      await poll('a follower let in once the stalled ones are cut off', async () => ((await follow()) === 200 ? true : null));
    } finally {
      for (const r of stalled) r.destroy();
    }
  });

  it(`follower ${MAX_FOLLOWERS + 1} is refused while ${MAX_FOLLOWERS} read`, async () => {
    // Without the flood, followers that read are never cut off.
    const pid = (await statusOf(ctl())).pools[0]!.slots[0]!.pid!;
    process.kill(pid, 'SIGSTOP');
    const open: http.ClientRequest[] = [];
    try {
      const follow = (): Promise<{ status: number; body: string }> =>
        new Promise((resolve, reject) => {
          const req = http.request({ socketPath: ctl(), path: '/v1/logs?follow=1&n=0', agent: false }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            if (res.statusCode === 200) resolve({ status: 200, body });
            else res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          open.push(req);
          req.end();
        });
      // The stalled followers of the test before may still be on their way out.
      await poll('room for every follower', async () => {
        const all = await Promise.all(Array.from({ length: MAX_FOLLOWERS }, follow));
        if (all.every((r) => r.status === 200)) return true;
        for (const r of open.splice(0)) r.destroy();
        return null;
      });
      const refused = await follow();
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'FCGID_BUSY', message: `${MAX_FOLLOWERS} followers of the log already; stop one (or read the log from journald or log.file)` } });
    } finally {
      for (const r of open) r.destroy();
      process.kill(pid, 'SIGCONT');
    }
  });
});

describe('under journald', () => {
  const processes = new Processes();
  let scratch: Scratch;

  beforeAll(() => {
    scratch = new Scratch('fcgid-journal-');
  });

  afterAll(async () => {
    await processes.killAll();
    scratch.remove();
  });

  it("each line starts with its syslog priority: fcgid's warnings <4>, a worker's stdout <6> and its stderr <5>", async () => {
    const config = writeConfig(scratch, 'journal', {
      log: { level: 'info' },
      pools: {
        lines: floodPool(scratch, 'lines'),
        // A pool that cannot start: fcgid warns and then errs about it.
        broken: { command: ['/nonexistent/program'], listen: `unix:${scratch.path('broken.sock')}`, workers: 1, start_retries: 2, fatal_retry: 0 },
      },
    });
    // journald's stream stands in as a file: what matters is that JOURNAL_STREAM names fd 1.
    const out = scratch.path('journal.out');
    const fd = openSync(out, 'w');
    const st = fstatSync(fd, { bigint: true });
    const p = processes.start(process.execPath, [FCGID_BIN, 'start', '-c', config], { stdio: ['ignore', fd, 'pipe'], env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` } });
    closeSync(fd);
    const lines = await poll('both worker lines and the fatal slot in the journal', () => {
      const text = readFileSync(out, 'utf8');
      return /to stdout/.test(text) && /to stderr/.test(text) && /slot is fatal/.test(text) ? text.trimEnd().split('\n') : null;
    });
    const find = (re: RegExp): string => lines.find((l) => re.test(l)) ?? `(no line matching ${re})`;
    expect(find(/"msg":"to stdout"/).slice(0, 3)).toBe('<6>');
    expect(find(/"msg":"to stderr"/).slice(0, 3)).toBe('<5>');
    expect(find(/restarting in/).slice(0, 3)).toBe('<4>');
    expect(find(/slot is fatal/).slice(0, 3)).toBe('<3>');
    expect(find(/running 2 pools/).slice(0, 3)).toBe('<6>');
    // Every line has one, and the rest of it is the JSON line it would be without journald.
    for (const l of lines) expect(JSON.parse(l.replace(/^<[0-7]>/, ''))).toHaveProperty('level');
    await processes.stop(p);
  });
});
