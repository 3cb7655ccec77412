// A local user against root's fcgid (issue 11, "A local user can make root's
// fcgid kill or overwrite"): the real binary started as root with directories
// and files that another user (nobody) planted. Each case is named after what
// it did before: fcgid must refuse with one line, signal nothing it does not
// own, and write nothing through what it was handed.

import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fcgid, processStart, tearDown, writeConfig } from '../helpers/daemon.js';
import { Processes, Scratch, poll } from '../helpers/peers.js';

const ROOT = process.getuid?.() === 0;
const HELLO = fileURLToPath(new URL('../../examples/hello.mjs', import.meta.url));
/** nobody, as Debian has it. */
const NOBODY = 65534;

describe.skipIf(!ROOT)('a local user cannot turn root fcgid against the host', () => {
  const processes = new Processes();
  let scratch: Scratch;
  const daemons: Fcgid[] = [];
  /** A process fcgid must never signal: it outlives every case, and its start time proves it is the same. */
  let bystander: ReturnType<Processes['start']>;
  let bystanderStart: string | null;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-security-');
    bystander = processes.start('sleep', ['600']);
    await poll('the bystander running', () => processStart(bystander.pid) !== null);
    bystanderStart = processStart(bystander.pid);
  });

  afterAll(async () => {
    // The bystander was never signalled by any case.
    expect(processStart(bystander.pid)).toBe(bystanderStart);
    await tearDown(processes, scratch, daemons);
  });

  const hello = (name: string): Record<string, unknown> => ({ command: [process.execPath, HELLO], listen: `unix:${scratch.path(`${name}.sock`)}`, socket_fd: 3, workers: 1, start_secs: '200ms' });

  /** A directory as another user would have made it first. */
  const foreignDir = (name: string, mode = 0o755): string => {
    const dir = scratch.path(name);
    mkdirSync(dir);
    chmodSync(dir, mode);
    chownSync(dir, NOBODY, NOBODY);
    return dir;
  };

  it('regression: nobody created the control directory first and planted a registry naming a root process; fcgid SIGKILLed it. Now: refused, one line, nothing signalled or written', async () => {
    const dir = foreignDir('planted');
    const registry = `${dir}/app.workers.json`;
    writeFileSync(registry, JSON.stringify({ daemon: null, workers: [{ pid: bystander.pid, start: bystanderStart, pool: 'app', listen: 'unix:/x', stop_signal: 'SIGKILL', stop_timeout: 0 }] }));
    chownSync(registry, NOBODY, NOBODY);
    const config = writeConfig(scratch, 'planted', { control: { socket: `${dir}/app.ctl` }, pools: { app: hello('planted') } });
    const d = new Fcgid(processes, config);
    daemons.push(d);
    expect(await d.exited).toBe(1);
    expect(d.stderr()).toBe(
      `fcgid: control.socket: ${dir} cannot be trusted: ${dir} is owned by uid ${NOBODY}, not by root or fcgid's user (uid 0); use a directory that only root (or fcgid's user) can write, e.g. under /run\n`,
    );
    expect(existsSync(`${dir}/app.ctl`)).toBe(false);
    expect(existsSync(scratch.path('planted.sock'))).toBe(false);
    expect(processStart(bystander.pid)).toBe(bystanderStart);
  });

  it('a socket directory writable by another user (not sticky) is refused: fcgid chmods the socket by its path', async () => {
    const dir = foreignDir('sockets', 0o777);
    chownSync(dir, 0, 0); // root's, but writable by anyone and not sticky
    const config = writeConfig(scratch, 'opensock', { pools: { app: { ...hello('x'), listen: `unix:${dir}/app.sock` } } });
    const d = new Fcgid(processes, config);
    daemons.push(d);
    expect(await d.exited).toBe(1);
    expect(d.stderr()).toBe(
      `fcgid: cannot listen on unix:${dir}/app.sock: ${dir} cannot be trusted: ${dir} is writable by anyone and not sticky (mode 0777); use a directory that only root (or fcgid's user) can write, e.g. under /run\n`,
    );
  });

  it('a sticky directory such as /tmp is fine for a pool socket', async () => {
    const dir = scratch.path('sticky');
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    const config = writeConfig(scratch, 'sticky', { pools: { app: { ...hello('x'), listen: `unix:${dir}/app.sock` } } });
    const d = new Fcgid(processes, config);
    daemons.push(d);
    await d.waitForRunning('app', 1);
    process.kill(d.pid, 'SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('regression: a symlink planted at <name>.workers.json.tmp made fcgid overwrite its target; now the link is removed, not followed', async () => {
    const target = scratch.path('precious');
    writeFileSync(target, 'do not touch\n');
    symlinkSync(target, scratch.path('link.workers.json.tmp'));
    const config = writeConfig(scratch, 'link', { pools: { app: hello('link') } });
    const d = new Fcgid(processes, config);
    daemons.push(d);
    await d.waitForRunning('app', 1);
    await poll('the registry written', () => existsSync(scratch.path('link.workers.json')));
    expect(readFileSync(target, 'utf8')).toBe('do not touch\n');
    process.kill(d.pid, 'SIGTERM');
    expect(await d.exited).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('do not touch\n');
  });

  it.each([
    ['regression: {"pid":0,"start":null} made fcgid SIGKILL its own process group', { pid: 0, start: null }],
    ['regression: {"pid":32767,"start":null} made start loop for ever', { pid: 32767, start: null }],
    ['pid 1', { pid: 1, start: '1' }],
    ['a negative pid', { pid: -1, start: '1' }],
    ['a live process that holds no socket of the pool', 'bystander'],
    ['a live process of a pool this config does not have', 'other-pool'],
  ] as const)('%s: the record is not acted on, start goes on, nothing is signalled', async (_what, record) => {
    const name = `rec${Math.random().toString(36).slice(2, 8)}`;
    const rec =
      record === 'bystander'
        ? { pid: bystander.pid, start: bystanderStart, pool: 'app', listen: `unix:${scratch.path(`${name}.sock`)}`, stop_signal: 'SIGKILL', stop_timeout: 0 }
        : record === 'other-pool'
          ? { pid: bystander.pid, start: bystanderStart, pool: 'gone', listen: 'unix:/nowhere.sock', stop_signal: 'SIGKILL', stop_timeout: 0 }
          : { ...record, pool: 'app', listen: 'x', stop_signal: 'SIGKILL', stop_timeout: 0 };
    writeFileSync(scratch.path(`${name}.workers.json`), JSON.stringify({ daemon: null, workers: [rec] }));
    const config = writeConfig(scratch, name, { pools: { app: hello(name) } });
    const d = new Fcgid(processes, config);
    daemons.push(d);
    await d.waitForRunning('app', 1);
    expect(d.lines.some((l) => /1 record not acted on/.test(l.msg))).toBe(true);
    expect(processStart(bystander.pid)).toBe(bystanderStart);
    process.kill(d.pid, 'SIGTERM');
    expect(await d.exited).toBe(0);
  });
});
