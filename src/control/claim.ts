// Who may take a control socket path. Kept apart from server.ts (and its
// node:http) so that `fcgid start` can check it before spawning anything.

import { dirname } from 'node:path';
import { clearStaleSocket } from '../fastcgi/unix-socket.js';
import { trustedDir } from '../host/dirs.js';

/**
 * A control socket left by a crashed fcgid is removed; a live one means another
 * fcgid runs this config. Its directory also holds the worker registry, which
 * fcgid acts on at its next start: no one else may write there (src/host/dirs.ts).
 */
export async function claimControlPath(path: string): Promise<void> {
  trustedDir(dirname(path), 'private', 0o755, 'control.socket');
  const blocked = await clearStaleSocket(path);
  if (blocked === 'not-a-socket') throw new Error(`control.socket ${path}: a file that is not a socket is in the way`);
  if (blocked === 'live') throw new Error(`control.socket ${path}: another fcgid is running with it; stop that one first (fcgictl -s ${path} shutdown)`);
}
