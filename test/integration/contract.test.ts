// The operator's contract (issue 12): exit statuses and messages that tell the
// truth, as scripts and operators read them. fcgictl status says when a pool
// is degraded or failed; a restart of a broken pool fails with its stderr; a
// reload through -c of a broken file reports every problem; fcgictl finds
// root's fcgid for a control.group member; `check` refuses what `start` would;
// socket_owner takes user:group; a dynamic pool is not scaled below
// min_workers; a second config of the same name is told to set control.socket;
// and `fcgictl logs` carries the pool's own events.

import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { defaultControlSocket } from '../../src/config/paths.js';
import type { DaemonStatus, LogEntry } from '../../src/control/wire.js';
import { fcgictl, poolWhen } from '../helpers/control.js';
import { FCGID_BIN, Fcgid, tearDown, writeConfig } from '../helpers/daemon.js';
import { Processes, Scratch, missingPeers, run, runToEnd } from '../helpers/peers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/daemon/', import.meta.url));
const ENV_WORKER = join(FIXTURES, 'env.mjs');
const BROKEN = ['sh', '-c', "echo \"ModuleNotFoundError: No module named 'yourapplication'\" >&2; exit 1"];

/** A Node pool of `workers` (or `{min, max}`: a dynamic one); `failSlot`: that slot's worker dies at start with an import error. */
function nodePool(scratch: Scratch, name: string, workers: number | { min: number; max: number }, failSlot?: number): Record<string, unknown> {
  const node = `${process.execPath} ${ENV_WORKER}`;
  const command =
    failSlot === undefined
      ? [process.execPath, ENV_WORKER]
      : ['sh', '-c', `if [ "$FCGID_WORKER" = ${failSlot} ]; then echo "ImportError: slot ${failSlot} is broken" >&2; exit 1; fi; exec ${node}`];
  const size = typeof workers === 'number' ? { workers } : { min_workers: workers.min, max_workers: workers.max };
  return { command, listen: `unix:${scratch.path(`${name}.sock`)}`, socket_fd: 3, ...size, start_secs: '300ms', start_retries: 2 };
}

function idOf(kind: 'passwd' | 'group', name: string): number {
  return Number(run('getent', [kind, name]).stdout.split(':')[2]);
}

describe.skipIf(missingPeers('setpriv', 'getent'))('exit statuses and messages', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let config: string;
  let ctl: string;
  const ctlRun = (...args: string[]) => fcgictl(processes, ['-s', ctl, ...args]);

  beforeAll(async () => {
    scratch = new Scratch('fcgid-contract-');
    ctl = scratch.path('contract.ctl');
    config = writeConfig(scratch, 'contract', {
      pools: {
        good: nodePool(scratch, 'good', 1),
        half: nodePool(scratch, 'half', 2, 1),
        broken: { command: BROKEN, listen: `unix:${scratch.path('broken.sock')}`, workers: 2, start_secs: '300ms', start_retries: 2, fatal_retry: 0 },
        dyn: nodePool(scratch, 'dyn', { min: 2, max: 4 }),
      },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('good', 1);
    await poolWhen(ctl, 'broken', 'the broken pool failed', (p) => p.state === 'failed');
    await poolWhen(ctl, 'half', 'slot 1 fatal', (p) => p.slots[1]?.state === 'fatal');
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('status: 7 when a pool has failed, 6 when one is degraded, 0 when every pool it shows is fine; the table is printed all the same', async () => {
    const all = await ctlRun('status');
    expect(all.status, all.stderr).toBe(7);
    expect(all.stdout).toMatch(/^broken +\S+ +failed/m);
    expect((await ctlRun('status', 'broken')).status).toBe(7);
    const half = await ctlRun('status', 'half', '--json');
    expect(half.status).toBe(6);
    expect((JSON.parse(half.stdout) as DaemonStatus).pools[0]!.state).toBe('degraded');
    const good = await ctlRun('status', 'good');
    expect(good.status, good.stderr).toBe(0);
  });

  it('regression: restart of a failed pool printed "2 workers replaced", exit 0; now exit 1 with the slots that did not start and their stderr', async () => {
    const r = await ctlRun('restart', 'broken');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^fcgictl: broken: 0 workers replaced; slots 0, 1 did not start \(see fcgictl status broken and fcgictl logs broken\); its last stderr lines:\n/);
    expect(r.stderr).toContain("  ModuleNotFoundError: No module named 'yourapplication'");
    const fine = await ctlRun('restart', 'good');
    expect(fine.status, fine.stderr).toBe(0);
    expect(fine.stdout).toBe('good: 1 worker replaced\n');
  });

  it('regression: -c with a file broken since the start failed inside fcgictl (exit 2, first error only); now the daemon refuses the reload with every problem', async () => {
    const original = readFileSync(config, 'utf8');
    writeFileSync(config, `control:\n  socket: ${ctl}\npools:\n  good:\n    comand: [x]\n    listen: unix:/tmp/x.sock\n    wokers: 2\n`);
    try {
      const r = await fcgictl(processes, ['-c', config, 'reload']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^fcgictl: reload refused; fcgid keeps running the previous config:\n/);
      expect(r.stderr).toMatch(/pools\.good\.comand: unknown key; did you mean "command"\?/);
      expect(r.stderr).toMatch(/pools\.good\.wokers: unknown key; did you mean "workers"\?/);
      // And every other command still finds the daemon through the broken file.
      const status = await fcgictl(processes, ['-c', config, 'status', 'good']);
      expect(status.status, status.stderr).toBe(0);
    } finally {
      writeFileSync(config, original);
    }
  });

  it('scale of a dynamic pool below min_workers (or above max_workers) is refused, naming the range; nothing changes', async () => {
    await d.waitForRunning('dyn', 2);
    const low = await ctlRun('scale', 'dyn', '0');
    expect(low.status).toBe(1);
    expect(low.stderr).toBe('fcgictl: pool dyn is dynamic (min_workers 2, max_workers 4): scale it from 2 to 4, or stop its workers with fcgictl stop dyn\n');
    const high = await ctlRun('scale', 'dyn', '9');
    expect(high.status).toBe(1);
    expect(high.stderr).toContain('raise max_workers in the config and reload');
    const ok = await ctlRun('scale', 'dyn', '3');
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('dyn: 3 workers wanted\n');
  });

  it('regression: scale 0 then start started nothing, exit 0; now start brings the pool back at its configured size', async () => {
    const zero = await ctlRun('scale', 'good', '0');
    expect(zero.status, zero.stderr).toBe(0);
    await poolWhen(ctl, 'good', 'no worker', (p) => p.slots.length === 0);
    const start = await ctlRun('start', 'good');
    expect(start.status, start.stderr).toBe(0);
    expect(start.stdout).toBe('good: 1 worker wanted\n');
    await poolWhen(ctl, 'good', 'one worker running', (p) => p.workers.running === 1);
  });

  it('fcgictl logs carries the pool\'s own events: its start, a scale, and why each stopped worker stopped', async () => {
    const scaled = await ctlRun('scale', 'good', '2');
    expect(scaled.status, scaled.stderr).toBe(0);
    await poolWhen(ctl, 'good', 'two workers running', (p) => p.workers.running === 2);
    expect((await ctlRun('scale', 'good', '1')).status).toBe(0);
    await poolWhen(ctl, 'good', 'one worker', (p) => p.slots.length === 1);
    const r = await ctlRun('logs', 'good', '--json', '-n', '1000');
    expect(r.status, r.stderr).toBe(0);
    const msgs = r.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as LogEntry).msg);
    expect(msgs.some((m) => /^pool good: listening on unix:\S+good\.sock, starting 1 worker: /.test(m))).toBe(true);
    expect(msgs).toContain('pool good: scaling from 1 to 2 workers');
    expect(msgs).toContain('pool good: scaling from 2 to 1 workers');
    expect(msgs.some((m) => /^worker good\/1 pid \d+ .*\(stopped by fcgid\); scaled down to 1 worker \(fcgictl scale\)$/.test(m))).toBe(true);
    expect(msgs.some((m) => /^worker good\/0 pid \d+ .*; its replacement has taken over$/.test(m))).toBe(true);
    expect(msgs.some((m) => /wanted down/.test(m))).toBe(false);
  });
});

describe.skipIf(missingPeers('setpriv', 'getent'))('names fcgid must resolve', () => {
  const processes = new Processes();
  let scratch: Scratch;
  beforeAll(() => (scratch = new Scratch('fcgid-contract-names-')));
  afterAll(() => tearDown(processes, scratch, []));

  const fcgid = (...args: string[]) => runToEnd(processes, process.execPath, [FCGID_BIN, ...args]);

  it('regression: check passed users and groups that do not exist (start failed later, or ignored them); now check and start refuse them all at once, exit 2', async () => {
    const file = writeConfig(scratch, 'names', {
      control: { group: 'nosuchgroup-c', mode: '0660' },
      pools: {
        app: { command: ['sleep', '600'], listen: `unix:${scratch.path('app.sock')}`, user: 'nosuchuser-u', socket_owner: 'nosuchuser-o', socket_group: 'nosuchgroup-s' },
      },
    });
    const check = await fcgid('check', '-c', file);
    expect(check.status).toBe(2);
    expect(check.stderr).toContain('names.yaml: pools.app.user: no such user "nosuchuser-u"; create it or fix the name');
    expect(check.stderr).toContain('names.yaml: pools.app.socket_owner: no such user "nosuchuser-o"');
    expect(check.stderr).toContain('names.yaml: pools.app.socket_group: no such group "nosuchgroup-s"');
    expect(check.stderr).toContain('names.yaml: control.group: no such group "nosuchgroup-c"; create it or remove the key');
    expect(check.stderr).toMatch(/fcgid: 4 problems in \S+names\.yaml; nothing was started\n$/);
    const start = await fcgid('start', '-c', file);
    expect(start.status).toBe(2);
    expect(start.stderr).toContain('pools.app.socket_owner: no such user "nosuchuser-o"');
    expect(statSync(scratch.dir).isDirectory()).toBe(true);
  });

  it('socket_owner: nobody:nogroup (supervisord\'s form) sets the owner and the group; naming the group twice differently is an error', async () => {
    const file = writeConfig(scratch, 'owner', {
      pools: { app: { command: ['sleep', '600'], listen: `unix:${scratch.path('owner.sock')}`, socket_owner: 'nobody:nogroup', start_secs: '100ms' } },
    });
    const d = new Fcgid(processes, file);
    try {
      await d.waitForRunning('app', 1);
      const st = statSync(scratch.path('owner.sock'));
      expect([st.uid, st.gid]).toEqual([idOf('passwd', 'nobody'), idOf('group', 'nogroup')]);
    } finally {
      await tearDown(processes, undefined, [d]);
    }
    const twice = writeConfig(scratch, 'twice', {
      pools: { app: { command: ['sleep', '600'], listen: `unix:${scratch.path('twice.sock')}`, socket_owner: 'nobody:nogroup', socket_group: 'root' } },
    });
    const check = await fcgid('check', '-c', twice);
    expect(check.status).toBe(2);
    expect(check.stderr).toContain('pools.app.socket_owner: names group "nogroup" and socket_group names "root"; keep one');
  });
});

describe.skipIf(missingPeers('setpriv', 'getent') ?? (process.getuid?.() !== 0 ? 'needs root' : null))('the default control socket', () => {
  const processes = new Processes();
  let scratch: Scratch;
  const daemons: Fcgid[] = [];
  // A name of its own: the default socket is /run/fcgid/<config name>.ctl, shared by every fcgid run as root.
  const name = `contract-${process.pid}`;

  beforeAll(() => {
    scratch = new Scratch('fcgid-contract-default-');
    chmodSync(scratch.dir, 0o755);
  });
  afterAll(() => tearDown(processes, scratch, daemons));

  function defaultConfig(dir: string, sock: string): string {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({ control: { group: 'nogroup', mode: '0660' }, log: { level: 'debug' }, pools: { app: { command: ['sleep', '600'], listen: `unix:${sock}`, start_secs: '100ms' } } }));
    chmodSync(file, 0o644);
    return file;
  }

  it('regression: a control.group member running fcgictl -c CONFIG was told fcgid is not running (it looked under its own uid); now it finds root\'s socket', async () => {
    const file = defaultConfig(scratch.dir, scratch.path('app.sock'));
    const d = new Fcgid(processes, file);
    daemons.push(d);
    await d.waitForRunning('app', 1);
    expect(statSync(defaultControlSocket(file, 0)).isSocket()).toBe(true);
    const r = await fcgictl(processes, ['-c', file, 'status', '--json'], { as: 'nobody', env: { ...process.env, XDG_RUNTIME_DIR: '' } });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as DaemonStatus).pid).toBe(d.pid);
  });

  it('regression: a second config of the same file name was told to stop the other daemon; now it is told to set control.socket', async () => {
    const other = join(scratch.dir, 'other');
    run('mkdir', ['-m', '0755', other]);
    const file = defaultConfig(other, join(other, 'app.sock'));
    const second = await runToEnd(processes, process.execPath, [FCGID_BIN, 'start', '-c', file]);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(`control.socket ${defaultControlSocket(file, 0)}: taken by the fcgid running ${scratch.path(`${name}.yaml`)} (both config files are named ${name}.yaml`);
    expect(second.stderr).toContain('give this config a control socket of its own (control.socket:');
  });
});
