// Who may take a control socket path. Kept apart from server.ts (and its
// node:http) so that `fcgid start` can check it before spawning anything.

import { basename, dirname } from 'node:path';
import { clearStaleSocket } from '../fastcgi/unix-socket.js';
import { trustedDir } from '../host/dirs.js';
import { defaultControlSocket } from '../config/paths.js';

/**
 * A control socket left by a crashed fcgid is removed; a live one means another
 * fcgid runs this config. Its directory also holds the worker registry, which
 * fcgid acts on at its next start: no one else may write there (src/host/dirs.ts).
 */
export async function claimControlPath(path: string, configFile: string): Promise<void> {
  trustedDir(dirname(path), 'private', 0o755, 'control.socket');
  const blocked = await clearStaleSocket(path);
  if (blocked === 'not-a-socket') throw new Error(`control.socket ${path}: a file that is not a socket is in the way`);
  if (blocked !== 'live') return;
  const other = await runningConfig(path);
  if (other !== null && other !== configFile) {
    const why = path === defaultControlSocket(configFile) ? `both config files are named ${basename(configFile)}, and the default control socket comes from that name` : 'both configs name it';
    throw new Error(`control.socket ${path}: taken by the fcgid running ${other} (${why}); give this config a control socket of its own (control.socket: /run/fcgid/NAME.ctl)`);
  }
  throw new Error(`control.socket ${path}: another fcgid is running this config with it; stop that one first (fcgictl -s ${path} shutdown)`);
}

/** The config file of the fcgid answering at `path`, or null when it does not say within a second. */
async function runningConfig(path: string): Promise<string | null> {
  const { ControlClient } = await import('./client.js');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 1000)));
  const asked = new ControlClient({ path, how: 'control.socket' }).call<{ config?: unknown }>('GET', '/v1/status').then(
    (s) => (typeof s.config === 'string' ? s.config : null),
    () => null,
  );
  try {
    return await Promise.race([asked, late]);
  } finally {
    clearTimeout(timer);
  }
}
