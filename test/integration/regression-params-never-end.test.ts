// Regression (issue 11): the responder kept requests whose params never end.
// 40 connections x 100 requests x 256 KiB of params that never finish held
// 770 MiB in one worker. The responder now has a budget for such params across
// all its connections (maxBufferedParams, 32 MiB by default): past it, the
// connection holding the most is closed, and a request that completes is
// still served.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createResponder, DEFAULT_MAX_BUFFERED_PARAMS, type ResponderLogger } from '../../src/fastcgi/responder.js';
import { FastCGIClient } from '../../src/fastcgi/client.js';
import { encodeBeginRequest, encodePairs, RecordType, Role } from '../../src/protocol/index.js';
import { RawWebServer, until } from '../helpers/fcgi-raw.js';
import { rawRecord } from '../helpers/protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'fcgid-params-budget-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** BEGIN_REQUEST and `kib` KiB of PARAMS for request `id`, without the empty PARAMS record that would end them. */
function unfinished(id: number, kib: number): Buffer {
  const value = 'x'.repeat(1024 - 16);
  const records: Buffer[] = [encodeBeginRequest(id, Role.RESPONDER, true)];
  for (let i = 0; i < kib; i++) records.push(rawRecord(RecordType.PARAMS, id, encodePairs(new Map([[`HTTP_X_${i}`, value]]))));
  return Buffer.concat(records);
}

describe('params that never end are held within a budget', () => {
  it('regression: many connections x many requests x 256 KiB of unfinished params; the worker holds at most the budget, sheds the largest holders, and still serves', async () => {
    const warnings: string[] = [];
    const logger: ResponderLogger = { error: () => {}, warn: (_f, m) => void warnings.push(m) };
    const limit = 4 * 1024 * 1024;
    const responder = createResponder((_req, res) => res.end('ok'), { maxBufferedParams: limit, logger });
    const path = join(dir, 'budget.sock');
    await responder.listen(`unix:${path}`);
    try {
      const peers: RawWebServer[] = [];
      let peak = 0;
      // 8 connections x 4 requests x 256 KiB = 8 MiB, twice the budget.
      for (let c = 0; c < 8; c++) {
        const peer = await RawWebServer.connect({ path });
        peers.push(peer);
        for (let r = 1; r <= 4; r++) peer.send(unfinished(r, 256));
      }
      await until(() => {
        peak = Math.max(peak, responder.bufferedParams);
        return peers.filter((p) => p.socket.destroyed).length >= 4;
      }, 'the largest holders closed');
      expect(peak).toBeLessThanOrEqual(limit);
      expect(responder.bufferedParams).toBeLessThanOrEqual(limit);
      expect(warnings[0]).toMatch(/^closing the FastCGI connection that holds the most unfinished request params \(\d+ bytes\): the worker's budget for them is 4194304 bytes \(maxBufferedParams\)$/);
      // A web server's request, params sent whole, is served all the same.
      const client = new FastCGIClient({ address: `unix:${path}` });
      const r = await client.fetch({ params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '/', REQUEST_URI: '/' } });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('ok');
      client.close();
      for (const p of peers) p.destroy();
      await until(() => responder.bufferedParams === 0, 'every connection gone');
    } finally {
      await responder.close();
    }
  });

  it('the default budget is 32 MiB', () => {
    expect(DEFAULT_MAX_BUFFERED_PARAMS).toBe(32 * 1024 * 1024);
  });
});
