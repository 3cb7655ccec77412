#!/usr/bin/env node
// The smallest useful FastCGI application on fcgid's responder: answers "hello"
// to every request. Run it on an address:
//     node examples/hello.mjs unix:/tmp/fcgid-hello.sock
// or with no argument under fcgid (or spawn-fcgi), which hands it the socket.
import { createResponder } from '../dist/fastcgi/index.js';

const responder = createResponder((req, res) => {
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(`hello from pid ${process.pid}: ${req.method} ${req.url}\n`);
});

const target = process.argv[2];
await responder.listen(target);
process.stderr.write(`hello: pid ${process.pid} serving FastCGI on ${target ?? 'the inherited socket'}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    // Finish the requests in flight, then exit.
    responder.close().then(() => process.exit(0));
  });
}
