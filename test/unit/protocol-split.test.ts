// The parser takes arbitrary chunks (the node-postgres pg-protocol discipline): the
// same bytes split at every offset, or fed one byte at a time, must give the same
// events. The fixture is a realistic exchange: a GET_VALUES query, then an
// nginx-style POST (BEGIN_REQUEST with FCGI_KEEP_CONN, ~27 params spread over two
// PARAMS records, two STDIN records, the empty STDIN), and the PHP-FPM-style answer
// (STDOUT headers and body, a notice on STDERR, both stream ends, END_REQUEST).
// Then encode -> parse round trips for random pairs and stream sizes.

import { describe, expect, it } from 'vitest';
import {
  MAX_CONTENT_LENGTH,
  ProtocolStatus,
  RecordParser,
  RecordType,
  Role,
  ServerSession,
  ValueName,
  decodePairs,
  encodeBeginRequest,
  encodeEndRequest,
  encodeGetValues,
  encodeGetValuesResult,
  encodePairs,
  encodeParams,
  encodeRecord,
  encodeStream,
  encodeStreamEnd,
  streamSize,
} from '../../src/protocol/index.js';
import {
  ALL_ROLES,
  bytewise,
  clientEvents,
  int,
  mulberry32,
  parserEvents,
  randomBytes,
  randomChunks,
  rawRecord,
  serverEvents,
  serverRecorder,
  type Event,
} from '../helpers/protocol.js';

// Consumers that turn chunks into a comparable event list (buffers as hex).
const serverRun = (chunks: Buffer[]): Event[] => serverEvents(chunks, ALL_ROLES);
const clientRun = (chunks: Buffer[], ids: number[] = [1]): Event[] => clientEvents(chunks, ids);
const parserRun = (chunks: Buffer[]): Event[] => parserEvents(chunks);

// ---------------------------------------------------------------------------
// The fixture.

const hexOf = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

/** A record with explicit padding bytes (encodeRecord always pads to 8 with zeros). */
const paddedRecord = (type: number, id: number, content: Buffer, padding: number, fill = 0xaa): Buffer => rawRecord(type, id, content, padding, fill);

const BODY =
  'title=Splitting+records&body=' +
  'Lorem+ipsum+dolor+sit+amet%2C+consectetur+adipiscing+elit%2C+sed+do+eiusmod+tempor+incididunt+ut+labore+'.repeat(3) +
  '&tags=fastcgi%2Cnginx&csrf_token=9f2c1e7ab04d4b7c8e3f5a6d7c8b9a0f';

const NGINX_PARAMS: [string, string][] = [
  ['SCRIPT_FILENAME', '/srv/www/app/public/index.php'],
  ['QUERY_STRING', 'page=2&sort=desc'],
  ['REQUEST_METHOD', 'POST'],
  ['CONTENT_TYPE', 'application/x-www-form-urlencoded'],
  ['CONTENT_LENGTH', String(BODY.length)],
  ['SCRIPT_NAME', '/index.php'],
  ['REQUEST_URI', '/articles/42/comments?page=2&sort=desc'],
  ['DOCUMENT_URI', '/index.php'],
  ['DOCUMENT_ROOT', '/srv/www/app/public'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'https'],
  ['HTTPS', 'on'],
  ['GATEWAY_INTERFACE', 'CGI/1.1'],
  ['SERVER_SOFTWARE', 'nginx/1.24.0'],
  ['REMOTE_ADDR', '203.0.113.7'],
  ['REMOTE_PORT', '51234'],
  ['REMOTE_USER', ''],
  ['SERVER_ADDR', '10.0.0.5'],
  ['SERVER_PORT', '443'],
  ['SERVER_NAME', 'example.org'],
  ['REDIRECT_STATUS', '200'],
  ['PATH_INFO', ''],
  ['HTTP_HOST', 'example.org'],
  ['HTTP_USER_AGENT', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'],
  ['HTTP_ACCEPT', 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'],
  ['HTTP_ACCEPT_LANGUAGE', 'en-US,en;q=0.5'],
  ['HTTP_CONTENT_TYPE', 'application/x-www-form-urlencoded'],
  ['HTTP_CONTENT_LENGTH', String(BODY.length)],
  // Longer than 127 bytes: its value length takes the four-byte form (§3.4).
  ['HTTP_COOKIE', 'session=' + 'a1b2c3d4'.repeat(20) + '; theme=dark; consent=1'],
];

const GET_VALUES_NAMES = [ValueName.MAX_CONNS, ValueName.MAX_REQS, ValueName.MPXS_CONNS];
const VALUES = { [ValueName.MAX_CONNS]: '16', [ValueName.MAX_REQS]: '16', [ValueName.MPXS_CONNS]: '0' };

const paramsBlock = encodePairs(NGINX_PARAMS);
// Cut the params block inside a pair, as a web server with small records would.
const paramsCut = Math.floor(paramsBlock.length / 2) + 3;
const body = Buffer.from(BODY, 'latin1');
const bodyCut = 180;

const REQUEST = Buffer.concat([
  encodeGetValues(GET_VALUES_NAMES),
  encodeBeginRequest(1, Role.RESPONDER, true),
  encodeRecord(RecordType.PARAMS, 1, paramsBlock.subarray(0, paramsCut)),
  encodeRecord(RecordType.PARAMS, 1, paramsBlock.subarray(paramsCut)),
  encodeStreamEnd(RecordType.PARAMS, 1),
  encodeRecord(RecordType.STDIN, 1, body.subarray(0, bodyCut)),
  paddedRecord(RecordType.STDIN, 1, body.subarray(bodyCut), 13),
  encodeStreamEnd(RecordType.STDIN, 1),
]);

const HEADERS = 'Status: 201 Created\r\nContent-Type: text/html; charset=UTF-8\r\nX-Powered-By: PHP/8.3.4\r\n\r\n';
const NOTICE = 'PHP Notice:  Undefined index: draft in /srv/www/app/public/index.php on line 12\n';
const PAGE1 = '<!doctype html>\n<html><head><title>Comment saved</title></head>\n';
const PAGE2 = '<body>\n' + '<p>Your comment was saved and will appear after moderation.</p>\n'.repeat(10) + '</body></html>\n';

const RESPONSE = Buffer.concat([
  encodeGetValuesResult(VALUES),
  encodeRecord(RecordType.STDOUT, 1, Buffer.from(HEADERS)),
  encodeRecord(RecordType.STDERR, 1, Buffer.from(NOTICE)),
  // Some applications do not align to 8, others pad generously; both are legal (§3.3).
  paddedRecord(RecordType.STDOUT, 1, Buffer.from(PAGE1), 0),
  paddedRecord(RecordType.STDOUT, 1, Buffer.from(PAGE2), 200, 0x55),
  encodeStreamEnd(RecordType.STDERR, 1),
  encodeStreamEnd(RecordType.STDOUT, 1),
  encodeEndRequest(1, 0, ProtocolStatus.REQUEST_COMPLETE),
]);

const SERVER_EVENTS: Event[] = [
  ['getValues', GET_VALUES_NAMES],
  ['begin', 1, Role.RESPONDER, true],
  ['params', 1, Object.fromEntries(NGINX_PARAMS)],
  ['stdin', 1, body.subarray(0, bodyCut).toString('hex')],
  ['stdin', 1, body.subarray(bodyCut).toString('hex')],
  ['stdin', 1, ''],
];

const CLIENT_EVENTS: Event[] = [
  ['values', VALUES],
  ['stdout', 1, hexOf(HEADERS)],
  ['stderr', 1, hexOf(NOTICE)],
  ['stdout', 1, hexOf(PAGE1)],
  ['stdout', 1, hexOf(PAGE2)],
  ['stderr', 1, ''],
  ['stdout', 1, ''],
  ['end', 1, 0, ProtocolStatus.REQUEST_COMPLETE],
];

/** Offsets k where feeding bytes[0..k] then bytes[k..] gives other events than `expected`. */
function badSplits(bytes: Buffer, run: (chunks: Buffer[]) => Event[], expected: Event[]): number[] {
  const want = JSON.stringify(expected);
  const bad: number[] = [];
  for (let k = 0; k <= bytes.length; k++) {
    let got: string;
    try {
      got = JSON.stringify(run([bytes.subarray(0, k), bytes.subarray(k)]));
    } catch (err) {
      got = String(err);
    }
    if (got !== want) bad.push(k);
  }
  return bad;
}

describe('the fixture', () => {
  it('is as realistic as it claims', () => {
    expect(NGINX_PARAMS.length).toBeGreaterThanOrEqual(25);
    expect(paramsBlock.length).toBeGreaterThan(600);
    expect(NGINX_PARAMS.some(([, v]) => v.length > 127)).toBe(true);
    expect(REQUEST.length).toBeGreaterThan(1000);
  });

  it('decodes in one chunk to the expected events', () => {
    expect(serverRun([REQUEST])).toEqual(SERVER_EVENTS);
    expect(clientRun([RESPONSE])).toEqual(CLIENT_EVENTS);
  });
});

describe('split at every offset into two chunks', () => {
  it('RecordParser, request side', () => {
    const expected = parserRun([REQUEST]);
    expect(expected).toHaveLength(8);
    expect(badSplits(REQUEST, parserRun, expected)).toEqual([]);
  });

  it('RecordParser, response side', () => {
    const expected = parserRun([RESPONSE]);
    expect(expected).toHaveLength(8);
    expect(badSplits(RESPONSE, parserRun, expected)).toEqual([]);
  });

  it('ServerSession', () => {
    expect(badSplits(REQUEST, serverRun, SERVER_EVENTS)).toEqual([]);
  });

  it('ClientSession', () => {
    expect(badSplits(RESPONSE, (chunks) => clientRun(chunks), CLIENT_EVENTS)).toEqual([]);
  });
});

describe('one byte at a time', () => {
  it('RecordParser', () => {
    expect(parserRun(bytewise(REQUEST))).toEqual(parserRun([REQUEST]));
    expect(parserRun(bytewise(RESPONSE))).toEqual(parserRun([RESPONSE]));
  });

  it('ServerSession', () => {
    expect(serverRun(bytewise(REQUEST))).toEqual(SERVER_EVENTS);
  });

  it('ClientSession', () => {
    expect(clientRun(bytewise(RESPONSE))).toEqual(CLIENT_EVENTS);
  });
});

describe('random multi-way splits', () => {
  it('give the same events for 300 seeded splits of each side', () => {
    const rng = mulberry32(0x5eed);
    for (let i = 0; i < 300; i++) {
      expect(serverRun(randomChunks(rng, REQUEST))).toEqual(SERVER_EVENTS);
      expect(clientRun(randomChunks(rng, RESPONSE))).toEqual(CLIENT_EVENTS);
    }
  });

  it('content delivered earlier stays intact as later chunks arrive (no internal buffer is reused)', () => {
    // Fed one byte at a time, every record straddles chunks and is assembled in a
    // buffer of the parser's; keep the delivered Buffers without copying them and
    // check them only at the end.
    const kept: Buffer[] = [];
    const parser = new RecordParser((_type, _id, content) => kept.push(content));
    for (const chunk of bytewise(RESPONSE)) parser.push(chunk);
    expect(kept.map((b) => b.toString('hex'))).toEqual(parserRun([RESPONSE]).map((e) => e[2]));

    let params: Map<string, string> | undefined;
    const session = new ServerSession({ ...serverRecorder([]), onParams: (_id, p) => (params = p) });
    for (const chunk of bytewise(REQUEST)) session.push(chunk);
    expect(params && Object.fromEntries(params)).toEqual(Object.fromEntries(NGINX_PARAMS));
  });
});

describe('round trips: encode -> parse', () => {
  it('random name-value pairs, through decodePairs and the server session', () => {
    const rng = mulberry32(42);
    const sizes = (): number => {
      const r = rng();
      if (r < 0.1) return 0;
      if (r < 0.8) return int(rng, 1, 60);
      if (r < 0.95) return int(rng, 120, 135); // around the one/four-byte boundary
      return int(rng, 300, 80000); // long enough to span PARAMS records
    };
    for (let round = 0; round < 300; round++) {
      const pairs: [string, Buffer][] = [];
      const count = int(rng, 0, 30);
      for (let i = 0; i < count; i++) {
        // Names are ASCII (they go out as UTF-8 and come back as latin1); values are any bytes.
        let name = '';
        const nameLength = sizes();
        for (let j = 0; j < nameLength; j++) name += String.fromCharCode(int(rng, 0x20, 0x7e));
        pairs.push([name, randomBytes(rng, sizes())]);
      }
      // Later duplicates win on both sides.
      const expected = new Map(pairs.map(([n, v]) => [n, v.toString('latin1')]));
      expect(decodePairs(encodePairs(pairs))).toEqual(expected);

      const id = int(rng, 1, 0xffff);
      const wire = Buffer.concat([encodeBeginRequest(id), encodeParams(id, pairs), encodeStreamEnd(RecordType.STDIN, id)]);
      const events = serverRun(randomChunks(rng, wire));
      expect(events).toEqual([
        ['begin', id, Role.RESPONDER, false],
        ['params', id, Object.fromEntries(expected)],
        ['stdin', id, ''],
      ]);
    }
  });

  it('random stream sizes, for every stream type, in random chunks', () => {
    const rng = mulberry32(7);
    const boundaries = [0, 1, 7, 8, 9, 65527, 65528, 65534, 65535, 65536, 65537, 131069, 131070, 131071, 196605, 200000];
    const sizes = [...boundaries, ...Array.from({ length: 40 }, () => (rng() < 0.7 ? int(rng, 0, 2000) : int(rng, 0, 300000)))];
    for (const length of sizes) {
      const data = randomBytes(rng, length);
      const id = int(rng, 1, 0xffff);
      const fullRecords = Math.ceil(length / MAX_CONTENT_LENGTH);
      for (const type of [RecordType.STDIN, RecordType.DATA, RecordType.STDOUT, RecordType.STDERR]) {
        const stream = encodeStream(type, id, data, true);
        expect(stream.length).toBe(streamSize(length) + 8);
        expect(stream.length % 8).toBe(0);
        const chunks = randomChunks(rng, stream);
        const got: Buffer[] = [];
        if (type === RecordType.STDIN || type === RecordType.DATA) {
          const head = Buffer.concat([
            encodeBeginRequest(id, Role.FILTER),
            encodeParams(id, []),
            ...(type === RecordType.DATA ? [encodeStreamEnd(RecordType.STDIN, id)] : []),
          ]);
          const events = serverRun([head, ...chunks]);
          const name = type === RecordType.STDIN ? 'stdin' : 'data';
          for (const e of events) if (e[0] === name && e[1] === id) got.push(Buffer.from(e[2] as string, 'hex'));
        } else {
          const name = type === RecordType.STDOUT ? 'stdout' : 'stderr';
          for (const e of clientRun(chunks, [id])) if (e[0] === name) got.push(Buffer.from(e[2] as string, 'hex'));
        }
        // ceil(n / 65535) records of content, each full but the last, then the empty one.
        expect(got.length, `type ${type}, ${length} bytes`).toBe(fullRecords + 1);
        expect(got.slice(0, -1).every((c, i) => c.length === Math.min(MAX_CONTENT_LENGTH, length - i * MAX_CONTENT_LENGTH))).toBe(true);
        expect(got.at(-1)!.length).toBe(0);
        expect(Buffer.concat(got).equals(data), `type ${type}, ${length} bytes`).toBe(true);
      }
    }
  });
});
