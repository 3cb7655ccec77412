// Where fcgid keeps its control socket (and, beside it, the worker registry)
// when the config does not say: the one rule that `fcgid start` uses to listen
// and `fcgictl` uses to find it (docs/configuration.md, control.socket).

import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';

/** The directory of default control sockets for this user: /run/fcgid as root, else $XDG_RUNTIME_DIR/fcgid, else a per-user tmp dir. */
export function defaultControlDir(uid = process.getuid?.() ?? 0, env: NodeJS.ProcessEnv = process.env): string {
  if (uid === 0) return '/run/fcgid';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'fcgid');
  return join(tmpdir(), `fcgid-${uid}`);
}

/** The default control socket of a config file: `<dir>/<config basename>.ctl`. */
export function defaultControlSocket(file: string, uid?: number, env?: NodeJS.ProcessEnv): string {
  return join(defaultControlDir(uid, env), `${basename(file, extname(file))}.ctl`);
}
