// What is at a unix socket path before something listens there: nothing, a
// socket left by a process that died (stale: safe to remove), a socket someone
// still listens on (live: never take it over), or another kind of file.
// One probe serves the responder, the daemon's pool sockets and its control socket.

import { statSync, unlinkSync } from 'node:fs';
import net from 'node:net';

export type SocketFileState = 'absent' | 'stale' | 'live' | 'not-a-socket';

export async function socketFileState(path: string): Promise<SocketFileState> {
  try {
    if (!statSync(path).isSocket()) return 'not-a-socket';
  } catch {
    return 'absent';
  }
  return new Promise((resolve) => {
    const probe = net.connect({ path }, () => {
      probe.destroy();
      resolve('live');
    });
    // Refused or gone: nobody listens. Anything else (EAGAIN on a full backlog) means someone does.
    probe.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'stale' : 'live'));
  });
}

/**
 * Make way for a listener at `path`: a stale socket file is removed. Returns
 * what is in the way and must stay ('live', 'not-a-socket'), or null.
 */
export async function clearStaleSocket(path: string): Promise<'live' | 'not-a-socket' | null> {
  const state = await socketFileState(path);
  if (state === 'stale') unlinkSync(path);
  return state === 'live' || state === 'not-a-socket' ? state : null;
}
