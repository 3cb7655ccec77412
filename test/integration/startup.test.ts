// `fcgid start` as shipped: the bundled daemon run by bin/fcgid through
// src/cli/launch.cts. The first workers are spawned before pino and the
// control server are loaded (src/cli/fcgid.ts); what the daemon logged
// meanwhile still comes out, in order, with its own times; V8's code is kept
// for the next start. Each test runs its own copy of bin/ and dist/, so that
// the code cache it looks at is its own.

import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Fcgid, lineTime, processStart, tearDown, writeConfig } from '../helpers/daemon.js';
import { Processes, Scratch, poll, runToEnd } from '../helpers/peers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HELLO = fileURLToPath(new URL('../../examples/hello.mjs', import.meta.url));

/** A copy of the build, as `npm install` would leave it, without any code cache. */
function install(scratch: Scratch): string {
  for (const part of ['bin', 'dist', 'package.json']) cpSync(`${ROOT}${part}`, scratch.path('install', part), { recursive: true });
  const bundles = scratch.path('install', 'dist', 'bundle');
  for (const f of readdirSync(bundles)) if (f.endsWith('.cache')) rmSync(`${bundles}/${f}`);
  return scratch.path('install', 'bin', 'fcgid');
}

describe('fcgid start: the first workers first', () => {
  let processes: Processes;
  let scratch: Scratch;
  let daemons: Fcgid[];
  let bin: string;

  beforeEach(() => {
    processes = new Processes();
    scratch = new Scratch('fcgid-startup-');
    daemons = [];
    bin = install(scratch);
  });
  afterEach(() => tearDown(processes, scratch, daemons));

  const hello = (): string =>
    writeConfig(scratch, 'hello', {
      pools: { hello: { command: [process.execPath, HELLO], listen: `unix:${scratch.path('hello.sock')}`, socket_fd: 3, workers: 2, start_secs: '300ms' } },
    });

  it('writes the code cache on the first start and uses it on the next', async () => {
    const config = hello();
    const first = new Fcgid(processes, config, {}, bin);
    daemons.push(first);
    expect((await first.waitForLog((l) => l.code_cache !== undefined)).msg).toBe('code cache: missing; written for the next start');
    expect(existsSync(scratch.path('install', 'dist', 'bundle', 'fcgid.cjs.cache'))).toBe(true);
    await processes.stop(first.proc, 5000);
    expect(await first.exited).toBe(0);

    const second = new Fcgid(processes, config, {}, bin);
    daemons.push(second);
    expect((await second.waitForLog((l) => l.code_cache !== undefined)).msg).toBe('code cache: used');
    await second.waitForRunning('hello', 2);
  });

  it('logs what it said before pino was loaded, in order and at the time it said it', async () => {
    const d = new Fcgid(processes, hello(), {}, bin);
    daemons.push(d);
    const running = await d.waitForLog((l) => /^fcgid .* running/.test(l.msg));
    const listening = d.lines.findIndex((l) => l.msg.startsWith('pool hello: listening on unix:'));
    const spawned = d.lines.findIndex((l) => /^worker hello\/0 started as pid \d+$/.test(l.msg));
    expect(listening).toBeGreaterThanOrEqual(0);
    expect(spawned).toBeGreaterThan(listening);
    expect(d.lines.indexOf(running)).toBeGreaterThan(spawned);
    // Replayed lines keep their own times: the log reads in time order.
    const times = d.lines.slice(0, d.lines.indexOf(running) + 1).map(lineTime);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('refuses a log.file it cannot open before any worker starts (exit 1)', async () => {
    mkdirSync(scratch.path('a-directory.log'));
    const config = writeConfig(scratch, 'badlog', {
      log: { file: scratch.path('a-directory.log') },
      pools: { hello: { command: [process.execPath, HELLO], listen: `unix:${scratch.path('badlog.sock')}`, socket_fd: 3, workers: 2 } },
    });
    const d = new Fcgid(processes, config, {}, bin);
    daemons.push(d);
    expect(await d.exited).toBe(1);
    expect(d.stderr()).toBe(`fcgid: log.file ${scratch.path('a-directory.log')}: EISDIR; fix its directory or permissions\n`);
    expect(existsSync(scratch.path('badlog.sock'))).toBe(false);
    expect(existsSync(scratch.path('badlog.ctl'))).toBe(false);
  });

  it('regression: log.file /proc/no/such/file.log hung start at 100 % CPU (a recursive mkdir loops there); now one line, exit 1', async () => {
    const config = writeConfig(scratch, 'proclog', {
      log: { file: '/proc/no/such/file.log' },
      pools: { hello: { command: [process.execPath, HELLO], listen: `unix:${scratch.path('proclog.sock')}`, socket_fd: 3, workers: 1 } },
    });
    const d = new Fcgid(processes, config, {}, bin);
    daemons.push(d);
    expect(await d.exited).toBe(1);
    expect(d.stderr()).toBe('fcgid: log.file /proc/no/such: cannot create /proc/no: ENOENT\n');
    expect(existsSync(scratch.path('proclog.sock'))).toBe(false);
  });

  it('SIGTERM while it stops a predecessor\'s leftovers: no worker is started, exit 0', async () => {
    // A leftover worker that ignores SIGTERM, still holding the pool's socket, keeps the sweep busy until its stop_timeout.
    const sock = scratch.path('sweep.sock');
    const leftover = processes.start(process.execPath, ['-e', `process.on('SIGTERM', () => {}); require('net').createServer().listen(${JSON.stringify(sock)})`]);
    await poll('the leftover listening', () => existsSync(sock));
    writeFileSync(
      scratch.path('sweep.workers.json'),
      JSON.stringify({ daemon: null, workers: [{ pid: leftover.pid, start: processStart(leftover.pid), pool: 'hello', listen: `unix:${sock}`, stop_signal: 'SIGTERM', stop_timeout: 1500 }] }),
    );
    const config = writeConfig(scratch, 'sweep', {
      pools: { hello: { command: [process.execPath, HELLO], listen: `unix:${scratch.path('sweep.sock')}`, socket_fd: 3, workers: 2 } },
    });
    const d = new Fcgid(processes, config, {}, bin);
    daemons.push(d);
    await d.waitForLog((l) => /left running by a previous fcgid/.test(l.msg));
    process.kill(d.pid, 'SIGTERM');
    expect(await d.exited, `${d.stderr()}\n${d.tail()}`).toBe(0);
    expect(await leftover.exited).toBe('SIGKILL');
    expect(d.lines.filter((l) => /starting \d+ worker|started as pid|running \d+ pool/.test(l.msg)).map((l) => l.msg)).toEqual([]);
    expect(existsSync(scratch.path('sweep.sock'))).toBe(false);
  });

  it('fcgictl keeps its code cache once a command ran, not after --version alone', async () => {
    const fcgictl = scratch.path('install', 'bin', 'fcgictl');
    const cache = scratch.path('install', 'dist', 'bundle', 'fcgictl.cjs.cache');
    const version = await runToEnd(processes, process.execPath, [fcgictl, '--version']);
    expect(version.status).toBe(0);
    expect(existsSync(cache)).toBe(false);
    // A command that fails (no daemon there) still ran: the cache is written on the way out.
    const status = await runToEnd(processes, process.execPath, [fcgictl, '-s', scratch.path('nobody.ctl'), 'status']);
    expect(status.status).not.toBe(0);
    expect(existsSync(cache)).toBe(true);
  });

  it('refuses an unknown control.group before any worker starts (exit 2)', async () => {
    const config = writeConfig(scratch, 'nogroup', {
      control: { socket: scratch.path('nogroup.ctl'), group: 'fcgid-no-such-group' },
      pools: { hello: { command: [process.execPath, HELLO], listen: `unix:${scratch.path('nogroup.sock')}`, socket_fd: 3, workers: 2 } },
    });
    const d = new Fcgid(processes, config, {}, bin);
    daemons.push(d);
    expect(await d.exited).toBe(2);
    expect(d.stderr()).toBe('fcgid: control.group: no such group "fcgid-no-such-group"; create it or remove the key\n');
    expect(d.lines.some((l) => /started as pid/.test(l.msg))).toBe(false);
    expect(existsSync(scratch.path('nogroup.sock'))).toBe(false);
    expect(existsSync(scratch.path('nogroup.ctl'))).toBe(false);
  });
});
