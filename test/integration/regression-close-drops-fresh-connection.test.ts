// Regression: Responder.close() (what a Node worker does on SIGTERM) ended every
// connection without a request in progress, including one accepted just before
// whose first request was still unread in the socket buffer. The web server had
// sent that request and saw "closed the connection before ending the request":
// failed requests on every restart of fcgid under load (seen in
// test/integration/systemd.test.ts). Such a connection is now served its first
// request, then closed; one that sends nothing is closed after a grace.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FastCGIClient, cgiParams, createResponder, type Responder } from '../../src/fastcgi/index.js';
import { Scratch } from '../helpers/peers.js';

describe('regression: close() dropped the first request of a connection accepted just before', () => {
  let scratch: Scratch | undefined;
  const cleanups: Array<() => unknown> = [];

  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
    scratch?.remove();
  });

  async function listening(): Promise<{ responder: Responder; sock: string }> {
    scratch = new Scratch('fcgid-close-fresh-');
    const sock = scratch.path('app.sock');
    const responder = createResponder((req, res) => res.end(`served ${req.url}\n`));
    await responder.listen(`unix:${sock}`);
    return { responder, sock };
  }

  it('a request whose connection was accepted when close() began is answered, and close() then resolves', async () => {
    const { responder, sock } = await listening();
    let closing: Promise<void> | undefined;
    // close() from the accept itself: the request's records are not read yet.
    responder.once('connection', () => (closing = responder.close()));
    const client = new FastCGIClient({ address: `unix:${sock}`, keepConn: false });
    cleanups.push(() => client.close());
    const r = await client.fetch({ params: cgiParams({ url: '/during-close' }) });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('served /during-close\n');
    expect(closing).toBeDefined();
    await closing;
  });

  it('a connection that sends nothing does not keep close() from resolving', async () => {
    const { responder, sock } = await listening();
    const silent = net.connect({ path: sock });
    silent.on('error', () => {});
    cleanups.push(() => silent.destroy());
    await new Promise<void>((resolve) => responder.once('connection', () => resolve()));
    const ended = new Promise<void>((resolve) => silent.once('end', () => resolve()));
    await responder.close();
    await ended;
  });
});
