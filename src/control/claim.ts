// Who may take a control socket path. Kept apart from server.ts (and its
// node:http) so that `fcgid start` can check it before spawning anything.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { clearStaleSocket } from '../fastcgi/unix-socket.js';

/** A control socket left by a crashed fcgid is removed; a live one means another fcgid runs this config. */
export async function claimControlPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const blocked = await clearStaleSocket(path);
  if (blocked === 'not-a-socket') throw new Error(`control.socket ${path}: a file that is not a socket is in the way`);
  if (blocked === 'live') throw new Error(`control.socket ${path}: another fcgid is running with it; stop that one first (fcgictl -s ${path} shutdown)`);
}
