// The debugging session Flask's FastCGI guide leaves to the operator ("switch
// to the correct user and execute the application by hand"), done with what
// fcgid knows: the pool's user, cwd, umask and environment, the file system as
// that user meets it, one run of the worker on a private socket with a request
// built as the web server builds it, then the probes its output calls for.
// Produces the Observation that diagnose.ts judges.

import { dirname, resolve } from 'node:path';
import { userInfo } from 'node:os';
import type { Config, PoolConfig } from '../config/types.js';
import { formatAddress } from '../fastcgi/address.js';
import { identityProblems, resolveIdentities, type Ids } from '../host/identity.js';
import { groupsGiven } from '../host/processes.js';
import { installedWebServers, socketReach, webServerUser } from '../host/reach.js';
import { buildEnv } from '../supervisor/pool.js';
import { webParams } from '../web/params.js';
import { relativeOpens, importError } from './clues.js';
import type { Cleanup } from './cleanup.js';
import { existsUnder, interpreterOptions, moduleIn, pathFacts, programFacts, scriptFacts } from './files.js';
import { askPython, pythonOf } from './python.js';
import type { Identity, Observation, WebReach } from './types.js';
import { runWorker } from './worker.js';

export interface DoctorOptions {
  /** The URL path to request; default: the pool's mount. */
  path: string | null;
  timeoutMs: number;
  /** The web server's user, instead of the installed servers' own. */
  webUser: string | null;
}

/** Variables whose shell values the fixes quote: they pick programs and modules, and hold no secrets. */
const PATH_LIKE = ['PATH', 'PYTHONPATH', 'VIRTUAL_ENV', 'PYTHONHOME', 'PERL5LIB', 'NODE_PATH', 'LD_LIBRARY_PATH'];
/** The shell's own bookkeeping, never what an app missed. */
const SHELL_NOISE = new Set(['_', 'OLDPWD', 'SHLVL', 'PWD', 'PS1', 'PS2', 'COLUMNS', 'LINES']);

export async function examine(config: Config, pool: PoolConfig, options: DoctorOptions, cleanup: Cleanup): Promise<Observation> {
  const shell = process.env;
  // Judged as fcgid runs, as root (the command checked that the doctor does).
  const problems = identityProblems({ ...config, pools: [pool], control: { ...config.control, group: null } }, true);
  const workerNames = problems.filter((p) => p.where === `pools.${pool.name}.user` || p.where === `pools.${pool.name}.group`);
  const ids = workerNames.length === 0 ? resolveIdentities([pool]).get(pool.name)! : { uid: null, gid: null };
  const user = identity(pool, ids);

  const env: Record<string, string> = { ...buildEnv(pool, shell), FCGID_WORKER: '0' };
  const path = options.path ?? pool.web.mount;
  const params = webParams(pool.web, { method: 'GET', url: path });
  const where = { cwd: pool.cwd, env, who: user, shellPath: shell.PATH };
  const program = pool.command.length > 0 ? programFacts(pool.command, where) : null;
  const script = scriptFacts(pool.command, pool.cwd, user);
  const scriptFilename = pool.web.kind === 'app' ? null : (params.SCRIPT_FILENAME ?? null);
  // Where the code lives: relative paths in it were usually meant from there. php-cgi runs a script from its own directory.
  const scriptDir = script
    ? dirname(script.path)
    : program?.resolved && program.format !== 'binary' && !program.interpreter
      ? dirname(program.resolved.path)
      : scriptFilename !== null && pool.web.kind === 'php'
        ? dirname(scriptFilename)
        : null;

  const run =
    workerNames.length === 0
      ? await runWorker(
          {
            spec: { command: pool.command, cwd: pool.cwd, env, uid: ids.uid, gid: ids.gid, groups: ids.groups ?? null, umask: pool.umask, targetFd: pool.socket_fd },
            params,
            timeoutMs: options.timeoutMs,
            backlog: 16,
          },
          cleanup,
        )
      : null;

  const text = run ? `${run.output.stderr}\n${run.output.fcgiStderr}\n${run.output.stdout}` : '';
  const files = relativeOpens(text).map((name) => ({ name, inCwd: existsUnder(pool.cwd, name), inScriptDir: scriptDir !== null && existsUnder(scriptDir, name) }));
  let python: Observation['python'] = null;
  let moduleFoundIn: string | null = null;
  const exe = pythonOf(program);
  const failedImport = run?.started ? importError(text) : null;
  if (failedImport && exe !== null) {
    python = await askPython(exe, {
      cwd: pool.cwd,
      env,
      uid: ids.uid,
      gid: ids.gid,
      groups: ids.groups ?? null,
      options: interpreterOptions(pool.command, script?.arg ?? null),
      first: scriptDir,
    });
    // "It works by hand" often means the shell ran it from where the package is.
    const top = failedImport.module?.split('.')[0];
    const onPath = new Set('path' in python ? python.path : []);
    const near = [pool.cwd, ...(scriptDir === null ? [] : [scriptDir, dirname(scriptDir)]), process.cwd()].filter((d) => !onPath.has(d));
    if (top) moduleFoundIn = moduleIn(top, [...new Set(near)]);
  }

  return {
    pool: pool.name,
    config: config.file,
    path,
    timeoutMs: options.timeoutMs,
    command: pool.command,
    listen: formatAddress(pool.listen),
    user,
    cwd: pathFacts(resolve(pool.cwd), user),
    socketFd: pool.socket_fd,
    clearEnv: pool.clear_env,
    kind: pool.web.kind,
    scriptFilename,
    identityProblems: problems,
    program,
    script,
    scriptDir,
    env: {
      worker: env,
      shellOnly: Object.keys(shell)
        .filter((k) => shell[k] !== undefined && env[k] === undefined && !SHELL_NOISE.has(k))
        .sort(),
      shellPaths: Object.fromEntries(PATH_LIKE.flatMap((k) => (shell[k] === undefined ? [] : [[k, shell[k]!]]))),
    },
    run,
    python,
    moduleFoundIn,
    files,
    web: webReach(pool, options.webUser),
  };
}

/** The worker's uid and gids: with a user, its group and the user's other groups (src/host/processes.ts, launchLine). */
function identity(pool: PoolConfig, ids: Ids): Identity {
  const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, username: '' };
  try {
    me.username = userInfo().username;
  } catch {
    // No passwd entry for this uid: it is shown as a number.
    me.username = String(me.uid);
  }
  const uid = ids.uid ?? me.uid;
  const gid = ids.gid ?? me.gid;
  const switched = ids.uid !== null || ids.gid !== null;
  return {
    user: pool.user ?? (ids.uid === null ? me.username : String(uid)),
    uid,
    gid,
    gids: switched ? [...(groupsGiven({ ...ids, groups: ids.groups ?? null }) ?? [gid])] : [...new Set([gid, ...(process.getgroups?.() ?? [])])],
  };
}

/** The users of the installed web servers (or --web-user), and what keeps each from connecting to the pool's socket. */
function webReach(pool: PoolConfig, given: string | null): WebReach {
  const users = new Map<string, string>();
  if (given !== null) users.set(given, '--web-user');
  else {
    for (const server of installedWebServers()) {
      const u = webServerUser(server);
      if (!users.has(u.name)) users.set(u.name, u.from);
    }
    if (users.size === 0) users.set('www-data', "Debian's default: no nginx, Apache or lighttpd config found");
  }
  const list = [...users].map(([name, from]) => ({ name, from }));
  return { users: list, problems: list.flatMap((u) => socketReach(pool, u.name).problems) };
}
