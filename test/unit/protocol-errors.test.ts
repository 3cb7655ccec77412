// Every ProtocolError the codec raises, one table row per way of raising it: the
// stable `code`, the request it concerns, and a message that names the record type
// and request (STYLE.md principle 5). Then the leniency the spec requires: records
// for inactive ids are ignored (§3.3), unknown management types are answered
// (§4.2), refusals go to onReject with the §5.5 protocolStatus.

import { describe, expect, it } from 'vitest';
import {
  ClientSession,
  ProtocolError,
  ProtocolStatus,
  RecordType,
  Role,
  ServerSession,
  encodeBeginRequest,
  encodeEndRequest,
  encodeParams,
  encodeStreamEnd,
  isProtocolError,
  recordTypeName,
  type ClientSessionOptions,
  type ProtocolErrorCode,
  type ServerSessionOptions,
} from '../../src/protocol/index.js';
import { PROTOCOL_ERROR_CODES, clientRecorder, rawRecord, serverRecorder, type Event } from '../helpers/protocol.js';

const { BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR, DATA, GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE } =
  RecordType;

/** One record built field by field (§3.3), so malformed ones can be made too. */
const frame = (type: number, id: number, content: number[] | string = [], padding = 0): Buffer => rawRecord(type, id, content, padding);

const zeros = (n: number): number[] => new Array<number>(n).fill(0);
const begin = (id: number, role: number = Role.RESPONDER): Buffer => encodeBeginRequest(id, role);
const paramsEnd = (id: number): Buffer => encodeStreamEnd(PARAMS, id);

// Stream content as latin1 text.
const TEXT = { bytes: (chunk: Buffer) => chunk.toString('latin1') };
const serverHandler = (events: Event[]) => serverRecorder(events, TEXT);
const clientHandler = (events: Event[]) => clientRecorder(events, TEXT);

interface Row {
  name: string;
  code: ProtocolErrorCode;
  side: 'server' | 'client';
  input: Buffer[];
  /** Call end() after the input (for FCGI_TRUNCATED). */
  end?: boolean;
  server?: ServerSessionOptions;
  client?: ClientSessionOptions;
  /** Ids the client has sent BEGIN_REQUEST for. */
  active?: number[];
  requestId: number | undefined;
  /** Substrings the message must contain: the record type and the request, where known. */
  mentions: string[];
}

const FILTER = { roles: [Role.RESPONDER, Role.FILTER] };

const rows: Row[] = [
  // §3.3: version must be FCGI_VERSION_1.
  { name: 'version 0', code: 'FCGI_BAD_VERSION', side: 'server', input: [Buffer.from([0, 1, 0, 1, 0, 8, 0, 0, ...zeros(8)])], requestId: undefined, mentions: ['version 0', 'expected 1'] },
  { name: 'version 2 on the client side', code: 'FCGI_BAD_VERSION', side: 'client', input: [Buffer.from([2, 6, 0, 1, 0, 0, 0, 0])], requestId: undefined, mentions: ['version 2'] },
  { name: 'HTTP instead of FastCGI', code: 'FCGI_BAD_VERSION', side: 'server', input: [Buffer.from('GET / HTTP/1.1\r\n\r\n')], requestId: undefined, mentions: ['version 71'] },

  // §8: types outside the set, or the wrong direction.
  { name: 'type 12 for a request', code: 'FCGI_UNKNOWN_TYPE', side: 'server', input: [frame(12, 1)], requestId: 1, mentions: ['type 12', 'request 1'] },
  { name: 'STDOUT sent to the application', code: 'FCGI_UNKNOWN_TYPE', side: 'server', input: [begin(1), frame(STDOUT, 1, 'x')], requestId: 1, mentions: ['STDOUT', 'request 1'] },
  { name: 'END_REQUEST sent to the application', code: 'FCGI_UNKNOWN_TYPE', side: 'server', input: [frame(END_REQUEST, 3, zeros(8))], requestId: 3, mentions: ['END_REQUEST', 'request 3'] },
  { name: 'BEGIN_REQUEST sent to the web server', code: 'FCGI_UNKNOWN_TYPE', side: 'client', active: [1], input: [begin(1)], requestId: 1, mentions: ['BEGIN_REQUEST', 'request 1'] },
  { name: 'GET_VALUES sent to the web server', code: 'FCGI_UNKNOWN_TYPE', side: 'client', input: [frame(GET_VALUES, 0)], requestId: 0, mentions: ['GET_VALUES'] },
  { name: 'type 200 sent to the web server', code: 'FCGI_UNKNOWN_TYPE', side: 'client', input: [frame(200, 0)], requestId: 0, mentions: ['type 200'] },

  // §8: fixed-size bodies are 8 bytes.
  { name: 'BEGIN_REQUEST of 7 bytes', code: 'FCGI_BAD_RECORD_LENGTH', side: 'server', input: [frame(BEGIN_REQUEST, 1, [0, 1, 0, 0, 0, 0, 0], 1)], requestId: 1, mentions: ['BEGIN_REQUEST', 'request 1', '7 bytes'] },
  { name: 'BEGIN_REQUEST of 16 bytes', code: 'FCGI_BAD_RECORD_LENGTH', side: 'server', input: [frame(BEGIN_REQUEST, 4, [0, 1, ...zeros(14)])], requestId: 4, mentions: ['BEGIN_REQUEST', 'request 4', '16 bytes'] },
  { name: 'END_REQUEST of 4 bytes', code: 'FCGI_BAD_RECORD_LENGTH', side: 'client', active: [2], input: [frame(END_REQUEST, 2, zeros(4), 4)], requestId: 2, mentions: ['END_REQUEST', 'request 2', '4 bytes'] },
  { name: 'UNKNOWN_TYPE of 9 bytes', code: 'FCGI_BAD_RECORD_LENGTH', side: 'client', input: [frame(UNKNOWN_TYPE, 0, zeros(9), 7)], requestId: 0, mentions: ['UNKNOWN_TYPE', '9 bytes'] },

  // A lowered maxContentLength rejects the header, before any of the body is read.
  { name: 'STDIN above maxContentLength (header only)', code: 'FCGI_RECORD_TOO_LARGE', side: 'server', server: { maxContentLength: 100 }, input: [begin(1), paramsEnd(1), frame(STDIN, 1, 'x'.repeat(101)).subarray(0, 8)], requestId: 1, mentions: ['STDIN', 'request 1', '101', '100'] },
  { name: 'STDOUT above maxContentLength', code: 'FCGI_RECORD_TOO_LARGE', side: 'client', client: { maxContentLength: 1024 }, active: [5], input: [Buffer.from([1, STDOUT, 0, 5, 0xff, 0xff, 1, 0])], requestId: 5, mentions: ['STDOUT', 'request 5', '65535', '1024'] },

  // §3.4: pairs whose lengths run past the end of their block.
  { name: 'PARAMS: truncated four-byte name length', code: 'FCGI_BAD_PAIR', side: 'server', input: [begin(1), frame(PARAMS, 1, [0x80, 0x00]), paramsEnd(1)], requestId: 1, mentions: ['PARAMS', 'request 1', 'name length'] },
  { name: 'PARAMS: block ends before the value length', code: 'FCGI_BAD_PAIR', side: 'server', input: [begin(1), frame(PARAMS, 1, [0x01]), paramsEnd(1)], requestId: 1, mentions: ['PARAMS', 'request 1', 'value length'] },
  { name: 'PARAMS: truncated four-byte value length', code: 'FCGI_BAD_PAIR', side: 'server', input: [begin(1), frame(PARAMS, 1, [0x01, 0x80, 0x00]), paramsEnd(1)], requestId: 1, mentions: ['PARAMS', 'request 1', 'value length'] },
  { name: 'PARAMS: lengths past the end', code: 'FCGI_BAD_PAIR', side: 'server', input: [begin(1), frame(PARAMS, 1, [0x05, 0x05, 0x41]), paramsEnd(1)], requestId: 1, mentions: ['PARAMS', 'request 1', '5+5'] },
  { name: 'PARAMS: a 2^31-1 name length', code: 'FCGI_BAD_PAIR', side: 'server', input: [begin(2), frame(PARAMS, 2, [0xff, 0xff, 0xff, 0xff, 0x00]), paramsEnd(2)], requestId: 2, mentions: ['PARAMS', 'request 2', '2147483647'] },
  { name: 'GET_VALUES: lengths past the end', code: 'FCGI_BAD_PAIR', side: 'server', input: [frame(GET_VALUES, 0, [0x0e, 0x00, 0x46, 0x43])], requestId: undefined, mentions: ['GET_VALUES', '14+0'] },
  { name: 'GET_VALUES_RESULT: truncated name length', code: 'FCGI_BAD_PAIR', side: 'client', input: [frame(GET_VALUES_RESULT, 0, [0x80])], requestId: undefined, mentions: ['GET_VALUES_RESULT', 'name length'] },

  { name: 'params block above maxParamsLength', code: 'FCGI_PARAMS_TOO_LARGE', side: 'server', server: { maxParamsLength: 16 }, input: [begin(3), frame(PARAMS, 3, zeros(10)), frame(PARAMS, 3, zeros(10))], requestId: 3, mentions: ['request 3', '16 bytes'] },

  // §3.3 / §5: the order of streams within a request.
  { name: 'STDIN before the params end', code: 'FCGI_OUT_OF_ORDER', side: 'server', input: [begin(1), frame(PARAMS, 1, [1, 1, 0x41, 0x42]), frame(STDIN, 1, 'x')], requestId: 1, mentions: ['STDIN', 'request 1', 'params stream has not ended'] },
  { name: 'PARAMS after the params end', code: 'FCGI_OUT_OF_ORDER', side: 'server', input: [begin(1), paramsEnd(1), frame(PARAMS, 1, [1, 1, 0x41, 0x42])], requestId: 1, mentions: ['PARAMS', 'request 1', 'already ended'] },
  { name: 'a second empty PARAMS', code: 'FCGI_OUT_OF_ORDER', side: 'server', input: [begin(1), paramsEnd(1), paramsEnd(1)], requestId: 1, mentions: ['PARAMS', 'request 1'] },
  { name: 'STDIN after the stdin end', code: 'FCGI_OUT_OF_ORDER', side: 'server', input: [begin(1), paramsEnd(1), encodeStreamEnd(STDIN, 1), frame(STDIN, 1, 'x')], requestId: 1, mentions: ['STDIN', 'request 1', 'already ended'] },
  { name: 'DATA for a RESPONDER', code: 'FCGI_OUT_OF_ORDER', side: 'server', input: [begin(1), paramsEnd(1), frame(DATA, 1, 'x')], requestId: 1, mentions: ['DATA', 'request 1', 'RESPONDER'] },
  { name: 'DATA before the params end (FILTER)', code: 'FCGI_OUT_OF_ORDER', side: 'server', server: FILTER, input: [begin(1, Role.FILTER), frame(DATA, 1, 'x')], requestId: 1, mentions: ['DATA', 'request 1'] },
  { name: 'DATA after the data end (FILTER)', code: 'FCGI_OUT_OF_ORDER', side: 'server', server: FILTER, input: [begin(1, Role.FILTER), paramsEnd(1), encodeStreamEnd(DATA, 1), frame(DATA, 1, 'x')], requestId: 1, mentions: ['DATA', 'request 1', 'already ended'] },
  { name: 'duplicate BEGIN_REQUEST', code: 'FCGI_OUT_OF_ORDER', side: 'server', input: [begin(9), begin(9)], requestId: 9, mentions: ['BEGIN_REQUEST', 'request 9', 'already active'] },
  { name: 'STDOUT after the stdout end', code: 'FCGI_OUT_OF_ORDER', side: 'client', active: [1], input: [encodeStreamEnd(STDOUT, 1), frame(STDOUT, 1, 'x')], requestId: 1, mentions: ['STDOUT', 'request 1', 'already ended'] },
  { name: 'STDERR after the stderr end', code: 'FCGI_OUT_OF_ORDER', side: 'client', active: [1], input: [encodeStreamEnd(STDERR, 1), encodeStreamEnd(STDERR, 1)], requestId: 1, mentions: ['STDERR', 'request 1'] },

  // §3.3: id 0 is for management records, and only for them.
  ...[BEGIN_REQUEST, ABORT_REQUEST, PARAMS, STDIN, DATA].map(
    (type): Row => ({ name: `${recordTypeName(type)} with request id 0`, code: 'FCGI_BAD_REQUEST_ID', side: 'server', input: [frame(type, 0, type === BEGIN_REQUEST ? [0, 1, ...zeros(6)] : [])], requestId: 0, mentions: [recordTypeName(type), 'request id 0'] }),
  ),
  { name: 'GET_VALUES with request id 1', code: 'FCGI_BAD_REQUEST_ID', side: 'server', input: [frame(GET_VALUES, 1)], requestId: 1, mentions: ['GET_VALUES', 'got 1'] },
  ...[STDOUT, STDERR, END_REQUEST].map(
    (type): Row => ({ name: `${recordTypeName(type)} with request id 0 (client)`, code: 'FCGI_BAD_REQUEST_ID', side: 'client', input: [frame(type, 0, type === END_REQUEST ? zeros(8) : [])], requestId: 0, mentions: [recordTypeName(type), 'request id 0'] }),
  ),
  { name: 'GET_VALUES_RESULT with request id 3', code: 'FCGI_BAD_REQUEST_ID', side: 'client', input: [frame(GET_VALUES_RESULT, 3)], requestId: 3, mentions: ['GET_VALUES_RESULT', 'got 3'] },
  { name: 'UNKNOWN_TYPE with request id 3', code: 'FCGI_BAD_REQUEST_ID', side: 'client', input: [frame(UNKNOWN_TYPE, 3, zeros(8))], requestId: 3, mentions: ['UNKNOWN_TYPE', 'got 3'] },

  // The connection ends inside a record.
  { name: 'end inside a header', code: 'FCGI_TRUNCATED', side: 'server', input: [Buffer.from([1, 1, 0])], end: true, requestId: undefined, mentions: ['record header'] },
  { name: 'end inside a BEGIN_REQUEST body', code: 'FCGI_TRUNCATED', side: 'server', input: [begin(1).subarray(0, 12)], end: true, requestId: 1, mentions: ['BEGIN_REQUEST', 'request 1'] },
  { name: 'end inside a STDOUT body', code: 'FCGI_TRUNCATED', side: 'client', active: [6], input: [frame(STDOUT, 6, 'hello', 3).subarray(0, 10)], end: true, requestId: 6, mentions: ['STDOUT', 'request 6'] },
  { name: 'end inside the padding of a STDOUT record', code: 'FCGI_TRUNCATED', side: 'client', active: [6], input: [frame(STDOUT, 6, 'hello', 3).subarray(0, 14)], end: true, requestId: 6, mentions: ['STDOUT', 'request 6', 'padding'] },
];

/** Feed the row's input (as given, or one byte at a time); return what was thrown. */
function raise(row: Row, bytewise = false): unknown {
  const events: Event[] = [];
  let session: ServerSession | ClientSession;
  if (row.side === 'server') {
    session = new ServerSession(serverHandler(events), row.server);
  } else {
    const client = new ClientSession(clientHandler(events), row.client);
    for (const id of row.active ?? []) client.begin(id);
    session = client;
  }
  try {
    const input = bytewise ? [...Buffer.concat(row.input)].map((b) => Buffer.from([b])) : row.input;
    for (const chunk of input) session.push(chunk);
    if (row.end) session.end();
  } catch (err) {
    // Once failed, the session keeps failing with the same error.
    expect(() => session.push(Buffer.from([1]))).toThrow(err as Error);
    expect(() => session.end()).toThrow(err as Error);
    return err;
  }
  return undefined;
}

describe('ProtocolError table', () => {
  it.each(rows)('$code: $name', (row) => {
    const err = raise(row);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(isProtocolError(err)).toBe(true);
    const e = err as ProtocolError;
    expect(e.name).toBe('ProtocolError');
    expect(e.code).toBe(row.code);
    expect(e.requestId).toBe(row.requestId);
    for (const m of row.mentions) expect(e.message).toContain(m);
    // The same bytes fed one at a time fail the same way.
    const again = raise(row, true) as ProtocolError;
    expect([again.code, again.message]).toEqual([e.code, e.message]);
  });

  // PROTOCOL_ERROR_CODES is compile-time exhaustive: adding a code to
  // ProtocolErrorCode fails type-checking there, and then here until it gets a row.
  it('has a row for every code the codec raises', () => {
    const covered = new Set(rows.map((r) => r.code));
    const expected = Object.keys(PROTOCOL_ERROR_CODES);
    expect([...covered].sort()).toEqual(expected.sort());
  });
});

describe('memory is bounded before the body arrives', () => {
  it('a record over maxContentLength is refused on its header alone', () => {
    const session = new ServerSession(serverHandler([]), { maxContentLength: 512 });
    session.push(Buffer.concat([begin(1), paramsEnd(1)]));
    // Only the 8-byte header of a 60000-byte STDIN record.
    expect(() => session.push(Buffer.from([1, STDIN, 0, 1, 0xea, 0x60, 0, 0]))).toThrow(
      expect.objectContaining({ code: 'FCGI_RECORD_TOO_LARGE' }),
    );
  });

  it('params are refused as soon as their total passes maxParamsLength', () => {
    const events: Event[] = [];
    const session = new ServerSession(serverHandler(events), { maxParamsLength: 1000 });
    session.push(begin(1));
    let accepted = 0;
    let error: unknown;
    try {
      for (let i = 0; i < 100; i++) {
        session.push(frame(PARAMS, 1, zeros(400)));
        accepted += 400;
      }
    } catch (err) {
      error = err;
    }
    expect((error as ProtocolError).code).toBe('FCGI_PARAMS_TOO_LARGE');
    expect(accepted).toBe(800);
  });
});

describe('spec leniency', () => {
  it('ignores PARAMS, STDIN, DATA and ABORT_REQUEST for an inactive request id (§3.3)', () => {
    const events: Event[] = [];
    const session = new ServerSession(serverHandler(events), FILTER);
    session.push(
      Buffer.concat([
        frame(PARAMS, 7, [1, 1, 0x41, 0x42]),
        paramsEnd(7),
        frame(STDIN, 7, 'body'),
        frame(DATA, 7, 'data'),
        frame(ABORT_REQUEST, 7),
        begin(8),
        encodeParams(8, { A: 'B' }),
      ]),
    );
    expect(events).toEqual([
      ['begin', 8, Role.RESPONDER, false],
      ['params', 8, { A: 'B' }],
    ]);
    expect(session.isActive(7)).toBe(false);
  });

  it('the client ignores STDOUT, STDERR and END_REQUEST for ids it is not waiting on', () => {
    const events: Event[] = [];
    const client = new ClientSession(clientHandler(events));
    client.begin(1);
    client.push(
      Buffer.concat([
        frame(STDOUT, 4, 'stray'),
        frame(STDERR, 4, 'stray'),
        encodeEndRequest(4),
        encodeEndRequest(1, 3),
        // Late output for a request that has ended.
        frame(STDOUT, 1, 'late'),
      ]),
    );
    expect(events).toEqual([['end', 1, 3, ProtocolStatus.REQUEST_COMPLETE]]);
    expect(client.isActive(1)).toBe(false);
    expect(client.activeCount).toBe(0);
  });

  it('an unknown management type (id 0) goes to onUnknownType, and the connection carries on (§4.2)', () => {
    const events: Event[] = [];
    const session = new ServerSession(serverHandler(events));
    session.push(Buffer.concat([frame(12, 0, 'xyz', 5), frame(GET_VALUES_RESULT, 0), frame(0, 0), begin(1)]));
    expect(events).toEqual([
      ['unknownType', 12],
      ['unknownType', GET_VALUES_RESULT],
      ['unknownType', 0],
      ['begin', 1, Role.RESPONDER, false],
    ]);
  });

  it('an unknown role is rejected with UNKNOWN_ROLE and the id stays inactive (§5.5)', () => {
    const events: Event[] = [];
    const session = new ServerSession(serverHandler(events));
    session.push(
      Buffer.concat([
        begin(1, Role.AUTHORIZER),
        begin(2, 0),
        begin(3, 9),
        // Whatever follows for the rejected ids is ignored.
        encodeParams(1, { A: 'B' }),
        frame(STDIN, 1, 'x'),
      ]),
    );
    expect(events).toEqual([
      ['reject', 1, ProtocolStatus.UNKNOWN_ROLE],
      ['reject', 2, ProtocolStatus.UNKNOWN_ROLE],
      ['reject', 3, ProtocolStatus.UNKNOWN_ROLE],
    ]);
    expect(session.activeCount).toBe(0);
  });

  it('multiplex:false rejects a second concurrent request with CANT_MPX_CONN', () => {
    const events: Event[] = [];
    const session = new ServerSession(serverHandler(events), { multiplex: false });
    session.push(Buffer.concat([begin(1), begin(2)]));
    expect(events).toEqual([
      ['begin', 1, Role.RESPONDER, false],
      ['reject', 2, ProtocolStatus.CANT_MPX_CONN],
    ]);
    session.finish(1);
    session.push(begin(2));
    expect(events.at(-1)).toEqual(['begin', 2, Role.RESPONDER, false]);
  });

  it('maxConcurrentRequests rejects the next request with OVERLOADED', () => {
    const events: Event[] = [];
    const session = new ServerSession(serverHandler(events), { maxConcurrentRequests: 2 });
    session.push(Buffer.concat([begin(1), begin(2), begin(3)]));
    expect(events).toEqual([
      ['begin', 1, Role.RESPONDER, false],
      ['begin', 2, Role.RESPONDER, false],
      ['reject', 3, ProtocolStatus.OVERLOADED],
    ]);
    expect(session.activeCount).toBe(2);
    session.finish(1);
    session.push(begin(3));
    expect(events.at(-1)).toEqual(['begin', 3, Role.RESPONDER, false]);
  });

  it('after finish(id) the same id can begin again (§3.3)', () => {
    const events: Event[] = [];
    const session = new ServerSession(serverHandler(events));
    const request = (id: number, body: string) =>
      Buffer.concat([begin(id), encodeParams(id, { N: body }), frame(STDIN, id, body), encodeStreamEnd(STDIN, id)]);
    session.push(request(1, 'one'));
    expect(session.isActive(1)).toBe(true);
    session.finish(1);
    expect(session.isActive(1)).toBe(false);
    session.push(request(1, 'two'));
    expect(events).toEqual([
      ['begin', 1, Role.RESPONDER, false],
      ['params', 1, { N: 'one' }],
      ['stdin', 1, 'one'],
      ['stdin', 1, ''],
      ['begin', 1, Role.RESPONDER, false],
      ['params', 1, { N: 'two' }],
      ['stdin', 1, 'two'],
      ['stdin', 1, ''],
    ]);
  });

  it('ABORT_REQUEST is reported once, and the aborted request delivers nothing more (§5.4)', () => {
    const events: Event[] = [];
    const session = new ServerSession(serverHandler(events));
    session.push(
      Buffer.concat([
        begin(1),
        frame(ABORT_REQUEST, 1),
        frame(ABORT_REQUEST, 1),
        encodeParams(1, { A: 'B' }),
        frame(STDIN, 1, 'x'),
        encodeStreamEnd(STDIN, 1),
      ]),
    );
    expect(events).toEqual([
      ['begin', 1, Role.RESPONDER, false],
      ['abort', 1],
    ]);
    expect(session.isActive(1)).toBe(true);
  });

  it('requests on several ids are tracked apart (§3.3 multiplexing)', () => {
    const events: Event[] = [];
    const session = new ServerSession(serverHandler(events));
    session.push(Buffer.concat([begin(1), begin(2), paramsEnd(2), frame(STDIN, 2, 'b'), paramsEnd(1), frame(STDIN, 1, 'a')]));
    expect(events).toEqual([
      ['begin', 1, Role.RESPONDER, false],
      ['begin', 2, Role.RESPONDER, false],
      ['params', 2, {}],
      ['stdin', 2, 'b'],
      ['params', 1, {}],
      ['stdin', 1, 'a'],
    ]);
  });
});
