// Regression: a handler that ends its response from the request's 'aborted'
// listener (a natural way to clean up) made the responder send END_REQUEST twice
// for one id after an FCGI_ABORT_REQUEST: once from res.end(), once as the abort's
// answer (§5.4). The response must already be destroyed when 'aborted' fires.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResponder, type Responder } from '../../src/fastcgi/index.js';
import {
  NULL_REQUEST_ID,
  RecordParser,
  RecordType,
  ValueName,
  encodeAbortRequest,
  encodeBeginRequest,
  encodeGetValues,
  encodeParams,
} from '../../src/protocol/index.js';
import { Scratch } from '../helpers/peers.js';

describe('regression: duplicate END_REQUEST when a handler ends the response on abort', () => {
  let scratch: Scratch;
  let responder: Responder;
  let sock: string;
  const observed: Array<{ destroyed: boolean; headersSent: boolean }> = [];

  beforeAll(async () => {
    scratch = new Scratch('fcgid-dup-end-');
    sock = scratch.path('app.sock');
    responder = createResponder((req, res) => {
      req.on('aborted', () => {
        observed.push({ destroyed: res.destroyed, headersSent: res.headersSent });
        res.end('cleaned up\n');
      });
    });
    await responder.listen(`unix:${sock}`);
  });

  afterAll(async () => {
    await responder.close();
    scratch.remove();
  });

  it('answers ABORT_REQUEST with exactly one END_REQUEST and no output', async () => {
    const socket = net.connect(sock);
    const seen: Array<{ type: number; id: number }> = [];
    // GET_VALUES_RESULT is the barrier: the responder writes in order, so anything it
    // sent for request 1 arrives before the answer to a query sent after the abort.
    const barrier = new Promise<void>((resolve) => {
      const parser = new RecordParser((type, id) => {
        seen.push({ type, id });
        if (type === RecordType.GET_VALUES_RESULT) resolve();
      });
      socket.on('data', (chunk: Buffer) => parser.push(chunk));
    });
    socket.write(
      Buffer.concat([
        encodeBeginRequest(1, undefined, true),
        encodeParams(1, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/']]),
        encodeAbortRequest(1),
        encodeGetValues([ValueName.MPXS_CONNS]),
      ]),
    );
    await barrier;
    socket.destroy();
    expect(observed).toEqual([{ destroyed: true, headersSent: false }]);
    expect(seen).toEqual([
      { type: RecordType.END_REQUEST, id: 1 },
      { type: RecordType.GET_VALUES_RESULT, id: NULL_REQUEST_ID },
    ]);
  });
});
