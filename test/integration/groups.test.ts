// A worker run as `user` gets that user's groups, as php-fpm and supervisord
// give them (initgroups(3)): its own group and every group listing the user as
// a member. Node's spawn() drops supplementary groups when it switches user,
// so fcgid starts such a worker through util-linux's setpriv. Real daemon, real
// users: www-data is made a member of a group created for this file (removed
// at the end, and before it if an earlier run was killed), and the worker's /proc/<pid>/status says what it got.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fcgid, tearDown, writeConfig } from '../helpers/daemon.js';
import { Processes, Scratch, missingPeers } from '../helpers/peers.js';

/** One name for every run: a run killed before its clean-up leaves it, and the next removes it first. */
const GROUP = 'fcgid-test-groups';
const skip = missingPeers('setpriv', 'groupadd', 'gpasswd', 'groupdel', 'getent', 'id') ?? (process.getuid?.() === 0 ? null : 'needs root (it creates a group)');

function removeGroup(): void {
  if (spawnSync('getent', ['group', GROUP]).status === 0) execFileSync('groupdel', [GROUP]);
}

/** Uid:, Gid: (real, effective, saved, filesystem) and Groups: of a process. */
function credentials(pid: number): { uids: number[]; gids: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number[] => (new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/).filter(Boolean).map(Number);
  return { uids: field('Uid'), gids: field('Gid'), groups: field('Groups') };
}

const idOf = (args: string[]): number => Number(execFileSync('id', args, { encoding: 'utf8' }).trim());

describe.skipIf(skip)('workers run as a user get its groups', () => {
  const processes = new Processes();
  let scratch: Scratch;
  const daemons: Fcgid[] = [];
  let gid: number;

  beforeAll(() => {
    scratch = new Scratch('fcgid-groups-');
    removeGroup();
    execFileSync('groupadd', ['--system', GROUP]);
    execFileSync('gpasswd', ['--add', 'www-data', GROUP], { stdio: 'ignore' });
    gid = Number(execFileSync('getent', ['group', GROUP], { encoding: 'utf8' }).split(':')[2]);
  });

  afterAll(async () => {
    try {
      await tearDown(processes, scratch, daemons);
    } finally {
      removeGroup();
    }
  });

  const sleeper = (name: string, extra: Record<string, unknown>): Record<string, unknown> => ({
    command: ['sleep', '600'],
    listen: `unix:${scratch.path(`${name}.sock`)}`,
    workers: 1,
    start_secs: '200ms',
    ...extra,
  });

  it('www-data, a member of another group: the worker has uid and gid 33 everywhere and both groups, and its pid is the program itself', async () => {
    const config = writeConfig(scratch, 'member', { pools: { app: sleeper('member', { user: 'www-data' }) } });
    const d = new Fcgid(processes, config);
    daemons.push(d);
    const [pid] = await d.waitForRunning('app', 1);
    const www = idOf(['-u', 'www-data']);
    const wwwGroup = idOf(['-g', 'www-data']);
    const c = credentials(pid!);
    expect(c.uids).toEqual([www, www, www, www]);
    expect(c.gids).toEqual([wwwGroup, wwwGroup, wwwGroup, wwwGroup]);
    expect(c.groups.sort()).toEqual([wwwGroup, gid].sort());
    // setpriv exec'd the program in place: the pid fcgid supervises is sleep's.
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sleep');
  });

  it('group: set to another group: that one is the worker\'s gid, the user\'s member groups stay, its passwd group does not (initgroups(user, group))', async () => {
    const config = writeConfig(scratch, 'other', { pools: { app: sleeper('other', { user: 'www-data', group: 'nogroup' }) } });
    const d = new Fcgid(processes, config);
    daemons.push(d);
    const [pid] = await d.waitForRunning('app', 1);
    const nogroup = Number(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2]);
    const c = credentials(pid!);
    expect(c.gids).toEqual([nogroup, nogroup, nogroup, nogroup]);
    expect(c.groups.sort()).toEqual([nogroup, gid].sort());
  });

  it('a program that is not there is a spawn failure ("could not start"), as for a worker started directly, not setpriv exiting 127', async () => {
    const config = writeConfig(scratch, 'missing', { pools: { app: sleeper('missing', { user: 'www-data', command: ['fcgid-no-such-program'], start_retries: 1 }) } });
    const d = new Fcgid(processes, config);
    daemons.push(d);
    const line = await d.waitForLog((l) => l.pool === 'app' && /could not start/.test(l.msg));
    expect(line.msg).toMatch(/^worker app\/0 could not start \(spawn fcgid-no-such-program ENOENT\) after \d+ms \(spawn failed\)/);
  });

  it('nobody, in no other group: its own group and none else (started directly: Node leaves the list empty, the gid is the group)', async () => {
    const config = writeConfig(scratch, 'alone', { pools: { app: sleeper('alone', { user: 'nobody' }) } });
    const d = new Fcgid(processes, config);
    daemons.push(d);
    const [pid] = await d.waitForRunning('app', 1);
    const c = credentials(pid!);
    const own = idOf(['-g', 'nobody']);
    expect(c.uids[0]).toBe(idOf(['-u', 'nobody']));
    expect(c.gids).toEqual([own, own, own, own]);
    expect(c.groups.filter((g) => g !== own)).toEqual([]);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sleep');
  });
});
