// Descriptors the daemon inherited from whoever started it (a shell, a CI
// runner) would pass on to every worker: Node marks its own descriptors
// close-on-exec, but cannot know about these. They are found by the missing
// O_CLOEXEC flag in /proc/self/fdinfo and closed at start-up, except the
// sockets systemd passes (LISTEN_FDS, sd_listen_fds(3)).

import { closeSync, readFileSync, readdirSync } from 'node:fs';

const O_CLOEXEC = 0o2000000;

export function closeInheritedFds(env: NodeJS.ProcessEnv = process.env): number[] {
  const keep = new Set<number>();
  if (env.LISTEN_PID === String(process.pid)) {
    const n = Number(env.LISTEN_FDS ?? 0);
    for (let fd = 3; fd < 3 + n; fd++) keep.add(fd);
  }
  const closed: number[] = [];
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return closed;
  }
  for (const name of fds) {
    const fd = Number(name);
    if (fd <= 2 || keep.has(fd)) continue;
    let flags: number;
    try {
      const m = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (!m) continue;
      flags = parseInt(m[1]!, 8);
    } catch {
      continue; // the descriptor readdir itself used, already closed
    }
    if ((flags & O_CLOEXEC) === 0) {
      try {
        closeSync(fd);
        closed.push(fd);
      } catch {
        // not ours to close after all
      }
    }
  }
  return closed;
}
