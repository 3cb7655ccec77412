// planReload decides what a reload does from the old and the new config alone:
// which pools to add, remove, restart (rolling), move to a new socket, scale, or
// re-permission, and what waits for a daemon restart. Each case edits one thing
// in a config as an operator would write it (YAML through parseConfig) and
// checks the whole plan, so that a change never does more than it must.

import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { planReload, type ReloadPlan } from '../../src/supervisor/reload-plan.js';

const FILE = '/etc/fcgid/app.yaml';

type Doc = { control?: Record<string, unknown>; log?: Record<string, unknown>; metrics?: Record<string, unknown>; pools: Record<string, Record<string, unknown>> };

/** Two pools, as an operator would write them. */
function base(): Doc {
  return {
    control: { socket: '/run/fcgid/app.ctl' },
    log: { level: 'info' },
    pools: {
      app: {
        command: ['/usr/bin/php-cgi'],
        listen: 'unix:/run/fcgid/app.sock',
        workers: 2,
        env: { PHP_FCGI_CHILDREN: '0' },
        socket_mode: '0660',
      },
      api: {
        command: '/usr/bin/node /srv/api/server.mjs',
        listen: 'tcp://127.0.0.1:9000',
        socket_fd: 3,
        workers: 1,
      },
    },
  };
}

function load(doc: Doc): Config {
  return parseConfig(stringify(doc), FILE, { uid: 0, env: {} });
}

interface Summary {
  add: string[];
  remove: string[];
  restart: string[];
  hardRestart: string[];
  relisten: string[];
  scale: ReloadPlan['scale'];
  permissions: string[];
  needsDaemonRestart: string[];
  unchanged: string[];
}

/** The plan with pools reduced to names, so a whole plan fits in one toEqual. */
function summary(plan: ReloadPlan): Summary {
  return {
    add: plan.add.map((p) => p.name),
    remove: plan.remove,
    restart: plan.restart.map((p) => p.name),
    hardRestart: plan.hardRestart.map((p) => p.name),
    relisten: plan.relisten.map((p) => p.name),
    scale: plan.scale,
    permissions: plan.permissions.map((p) => p.name),
    needsDaemonRestart: plan.needsDaemonRestart,
    unchanged: plan.unchanged,
  };
}

const NOTHING: Summary = { add: [], remove: [], restart: [], hardRestart: [], relisten: [], scale: [], permissions: [], needsDaemonRestart: [], unchanged: [] };

interface Case {
  what: string;
  edit: (d: Doc) => void;
  plan: Partial<Summary>;
}

const app = (d: Doc): Record<string, unknown> => d.pools.app!;

const CASES: Case[] = [
  { what: 'nothing changed', edit: () => {}, plan: { unchanged: ['app', 'api'] } },
  {
    what: 'a new pool: added, the others untouched',
    edit: (d) => (d.pools.extra = { command: ['/usr/bin/php-cgi'], listen: 'unix:/run/fcgid/extra.sock' }),
    plan: { add: ['extra'], unchanged: ['app', 'api'] },
  },
  { what: 'a pool left out: removed', edit: (d) => delete d.pools.api, plan: { remove: ['api'], unchanged: ['app'] } },
  {
    what: 'a pool renamed: the old one removed, the new one added',
    edit: (d) => {
      d.pools.web = d.pools.app!;
      delete d.pools.app;
    },
    plan: { add: ['web'], remove: ['app'], unchanged: ['api'] },
  },
  { what: 'command changed: rolling restart', edit: (d) => (app(d).command = ['/usr/bin/php-cgi8.2']), plan: { restart: ['app'], unchanged: ['api'] } },
  { what: 'env changed: rolling restart', edit: (d) => (app(d).env = { PHP_FCGI_CHILDREN: '0', APP_ENV: 'prod' }), plan: { restart: ['app'], unchanged: ['api'] } },
  { what: 'cwd changed: rolling restart', edit: (d) => (app(d).cwd = '/srv/app'), plan: { restart: ['app'], unchanged: ['api'] } },
  { what: 'clear_env and pass_env changed: rolling restart', edit: (d) => Object.assign(app(d), { clear_env: true, pass_env: ['TZ'] }), plan: { restart: ['app'], unchanged: ['api'] } },
  {
    what: 'allowed_clients changed (FCGI_WEB_SERVER_ADDRS): rolling restart',
    edit: (d) => (d.pools.api!.allowed_clients = ['127.0.0.1']),
    plan: { restart: ['api'], unchanged: ['app'] },
  },
  {
    what: 'the command written differently but splitting to the same argv: unchanged',
    edit: (d) => (d.pools.api!.command = ['/usr/bin/node', '/srv/api/server.mjs']),
    plan: { unchanged: ['app', 'api'] },
  },
  { what: 'listen changed: new socket (relisten), not a plain restart', edit: (d) => (app(d).listen = 'unix:/run/fcgid/app2.sock'), plan: { relisten: ['app'], unchanged: ['api'] } },
  {
    what: 'listen and env changed: relisten only (the restart onto the new socket uses the new env)',
    edit: (d) => Object.assign(app(d), { listen: 'tcp://127.0.0.1:9001', env: {} }),
    plan: { relisten: ['app'], unchanged: ['api'] },
  },
  {
    what: 'regression: socket_fd changed between Node descriptors: a rolling restart on the same socket (it was a relisten, refused as "something is listening there already")',
    edit: (d) => (d.pools.api!.socket_fd = 4),
    plan: { restart: ['api'], unchanged: ['app'] },
  },
  {
    what: 'socket_fd from 3 to 0 (a Node worker replaced by a FastCGI program): hard restart on the same socket',
    edit: (d) => Object.assign(d.pools.api!, { socket_fd: 0, command: ['/usr/bin/php-cgi'] }),
    plan: { hardRestart: ['api'], unchanged: ['app'] },
  },
  { what: 'socket_fd from 0 to 3: hard restart on the same socket', edit: (d) => (app(d).socket_fd = 3), plan: { hardRestart: ['app'], unchanged: ['api'] } },
  { what: 'workers only: scale only', edit: (d) => (app(d).workers = 5), plan: { scale: [{ pool: 'app', from: 2, to: 5 }], unchanged: ['api'] } },
  { what: 'workers down only: scale only', edit: (d) => (app(d).workers = 1), plan: { scale: [{ pool: 'app', from: 2, to: 1 }], unchanged: ['api'] } },
  {
    what: 'workers and env: rolling restart and scale',
    edit: (d) => Object.assign(app(d), { workers: 3, env: {} }),
    plan: { restart: ['app'], scale: [{ pool: 'app', from: 2, to: 3 }], unchanged: ['api'] },
  },
  { what: 'socket_mode: permissions in place', edit: (d) => (app(d).socket_mode = '0666'), plan: { permissions: ['app'], unchanged: ['api'] } },
  { what: 'socket_owner: permissions in place', edit: (d) => (app(d).socket_owner = 'www-data'), plan: { permissions: ['app'], unchanged: ['api'] } },
  { what: 'socket_group: permissions in place', edit: (d) => (app(d).socket_group = 'www-data'), plan: { permissions: ['app'], unchanged: ['api'] } },
  {
    what: 'backlog: needs a daemon restart (listen(2) is done), nothing applied now',
    edit: (d) => (app(d).backlog = 1024),
    plan: { needsDaemonRestart: ['pools.app.backlog'], unchanged: ['app', 'api'] },
  },
  {
    what: 'backlog with a new listen address: the new socket gets it, no daemon restart needed',
    edit: (d) => Object.assign(app(d), { backlog: 1024, listen: 'unix:/run/fcgid/app2.sock' }),
    plan: { relisten: ['app'], unchanged: ['api'] },
  },
  { what: 'idle_timeout only: unchanged (applied live)', edit: (d) => (app(d).idle_timeout = '30s'), plan: { unchanged: ['app', 'api'] } },
  {
    what: 'max_memory, max_lifetime and watch: unchanged (applied live)',
    edit: (d) => Object.assign(app(d), { max_memory: '256M', max_lifetime: '1h', watch: ['/srv/app/**/*.php'] }),
    plan: { unchanged: ['app', 'api'] },
  },
  { what: 'log.level: unchanged pools (the daemon adopts it)', edit: (d) => (d.log = { level: 'debug' }), plan: { unchanged: ['app', 'api'] } },
  { what: 'control.socket: needs a daemon restart', edit: (d) => (d.control = { socket: '/run/fcgid/other.ctl' }), plan: { needsDaemonRestart: ['control.socket'], unchanged: ['app', 'api'] } },
  {
    what: 'regression: control.mode and control.group need a daemon restart (a reload used to ignore them without a word)',
    edit: (d) => (d.control = { socket: '/run/fcgid/app.ctl', mode: '0660', group: 'www-data' }),
    plan: { needsDaemonRestart: ['control.mode', 'control.group'], unchanged: ['app', 'api'] },
  },
  {
    what: 'regression: metrics.listen needs a daemon restart (a reload used to ignore it without a word)',
    edit: (d) => (d.metrics = { listen: 'tcp://127.0.0.1:9400' }),
    plan: { needsDaemonRestart: ['metrics.listen'], unchanged: ['app', 'api'] },
  },
  { what: 'log.file: needs a daemon restart', edit: (d) => (d.log = { level: 'info', file: '/var/log/fcgid.log' }), plan: { needsDaemonRestart: ['log.file'], unchanged: ['app', 'api'] } },
  {
    what: 'several pools at once: each gets its own part of the plan',
    edit: (d) => {
      app(d).workers = 4;
      d.pools.api!.command = ['/usr/bin/node', '/srv/api/v2.mjs'];
      d.pools.extra = { command: ['/usr/bin/php-cgi'], listen: 'unix:/run/fcgid/extra.sock' };
    },
    plan: { add: ['extra'], restart: ['api'], scale: [{ pool: 'app', from: 2, to: 4 }] },
  },
];

describe('planReload', () => {
  it.each(CASES)('$what', ({ edit, plan }) => {
    const before = load(base());
    const doc = base();
    edit(doc);
    expect(summary(planReload(before, load(doc)))).toEqual({ ...NOTHING, ...plan });
  });

  it('hands over the new PoolConfig objects (added, restarted pools start from the new config)', () => {
    const doc = base();
    app(doc).env = {};
    doc.pools.extra = { command: ['/usr/bin/php-cgi'], listen: 'unix:/run/fcgid/extra.sock' };
    const next = load(doc);
    const plan = planReload(load(base()), next);
    expect(plan.restart[0]).toBe(next.pools.find((p) => p.name === 'app'));
    expect(plan.add[0]).toBe(next.pools.find((p) => p.name === 'extra'));
  });

  it('is pure: neither config is modified', () => {
    const from = load(base());
    const doc = base();
    app(doc).listen = 'unix:/run/fcgid/app2.sock';
    delete doc.pools.api;
    const to = load(doc);
    const snapshot = structuredClone({ from, to });
    planReload(from, to);
    expect({ from, to }).toEqual(snapshot);
  });
});
