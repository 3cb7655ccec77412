// A short-lived helper that gets one listening socket to the daemon as a raw
// descriptor (DESIGN.md §5, "the daemon must never accept on the shared
// socket"): it listens on an address, or on a socket the daemon gave it as
// fd 4 (listeners.ts, handOver; listen(2) again only sets the backlog), sends
// the raw handle back over IPC, and exits within the same tick,
// so its event loop never polls the socket and no connection can be accepted
// here. The daemon then holds a plain descriptor that no libuv watcher of its
// own polls.
//
// One socket per helper: Node queues every handle sent after the first until
// the receiver acknowledges that one, and a helper that exits at once never
// sees the acknowledgement, so a second handle would never leave.

import net from 'node:net';

interface Target {
  fd?: number;
  /** The socket is fd 0 of live libfcgi workers: keep it blocking (see below). */
  blocking?: boolean;
  path?: string;
  host?: string;
  port?: number;
  backlog: number;
}

const target = JSON.parse(process.argv[2] ?? '{}') as Target;
const send = process.send!.bind(process);

const server = net.createServer();
// Both events come on a nextTick after listen(2) (for a numeric host, after
// dns.lookup's own nextTick), so before the event loop first polls the socket.
// A host name waits for the resolver, but nothing is listening yet then.
server.once('error', (err: NodeJS.ErrnoException) => {
  send({ ok: false, code: err.code ?? 'ERR', message: err.message });
  process.exit(0);
});
server.once('listening', () => {
  // Opening a libuv handle on the daemon's socket set O_NONBLOCK on the
  // description its workers share; a libfcgi worker whose accept() now saw
  // EAGAIN would exit (DESIGN.md §5). Clear it in the same tick.
  if (target.blocking) (server as unknown as { _handle: { setBlocking(on: boolean): number } })._handle.setBlocking(true);
  send({ ok: true }, (server as unknown as { _handle: net.Server })._handle);
  // Exit before the event loop polls anything. The handle is already on its way
  // (the IPC write is attempted synchronously); if it were not, the daemon
  // sees no handle and reports it.
  process.exit(0);
});
server.listen(
  target.fd !== undefined
    ? { fd: target.fd, backlog: target.backlog }
    : target.path !== undefined
      ? { path: target.path, backlog: target.backlog }
      : { host: target.host, port: target.port, backlog: target.backlog },
);
