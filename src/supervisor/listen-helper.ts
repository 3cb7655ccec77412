// A short-lived helper that creates listening sockets for the daemon (DESIGN.md
// §5, "the daemon must never accept on the shared socket"). It listens, sends
// the raw handles back over IPC, and exits within the same tick, so its event
// loop never polls the sockets and no connection can be accepted here. The
// daemon then holds plain descriptors that no libuv watcher of its own polls.

import net from 'node:net';

interface Target {
  path?: string;
  host?: string;
  port?: number;
  backlog: number;
}

const targets = JSON.parse(process.argv[2] ?? '[]') as Target[];
const send = process.send!.bind(process);

const servers = targets.map((t) => {
  const server = net.createServer();
  server.on('error', () => {});
  return server;
});

let failed: { index: number; code: string; message: string } | null = null;
targets.forEach((t, index) => {
  if (failed) return;
  const server = servers[index]!;
  try {
    // listen() on a numeric address binds and listens synchronously.
    server.listen(t.path !== undefined ? { path: t.path, backlog: t.backlog } : { host: t.host, port: t.port, backlog: t.backlog });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    failed = { index, code: e.code ?? 'ERR', message: e.message };
  }
  const handle = (server as unknown as { _handle: unknown })._handle;
  if (!failed && !handle) failed = { index, code: 'ERR_NO_HANDLE', message: 'listen did not complete synchronously' };
});

if (failed) {
  send({ ok: false, ...(failed as object) });
} else {
  servers.forEach((server, index) => {
    send({ ok: true, index }, (server as unknown as { _handle: net.Server })._handle);
  });
}
// Exit before the event loop polls anything. The handles are already on their
// way (the IPC write is attempted synchronously); if one were not, the daemon
// sees fewer handles than asked for and reports it.
process.exit(0);
