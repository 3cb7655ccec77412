// Byte-exact vectors for every FastCGI 1.0 record type, written out by hand from
// the layouts in the spec (§3.3 FCGI_Header, §3.4 name-value pairs, §5.1
// FCGI_BeginRequestBody, §5.5 FCGI_EndRequestBody, §4.1/§4.2 management records),
// in the manner of Go's net/http/fcgi table tests. The expected bytes never come
// from our own encoder: each test asserts the encoder produces them and that the
// parser and the two sessions decode them back to the values they stand for.

import { describe, expect, it } from 'vitest';
import {
  ProtocolStatus,
  RecordType,
  Role,
  decodePairs,
  encodeAbortRequest,
  encodeBeginRequest,
  encodeEndRequest,
  encodeGetValues,
  encodeGetValuesResult,
  encodePairs,
  encodeParams,
  encodeRecord,
  encodeStream,
  encodeStreamEnd,
  encodeUnknownType,
  END_REQUEST_SIZE,
  streamSize,
  writeEndRequest,
  writeStream,
  type ServerSessionOptions,
} from '../../src/protocol/index.js';
import { ALL_ROLES, clientEvents as recordClient, parserEvents, serverEvents as recordServer, type Event } from '../helpers/protocol.js';

/** Hex with any spaces or `|` separators; rejects anything that is not whole hex bytes. */
function hex(text: string): Buffer {
  const clean = text.replace(/[\s|]/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(clean)) throw new Error(`bad hex vector: ${text}`);
  return Buffer.from(clean, 'hex');
}

/** Buffer equality that stays fast for large buffers and reports the first differing byte. */
function expectBytes(actual: Buffer, expected: Buffer): void {
  if (actual.equals(expected)) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  const around = (b: Buffer) => b.subarray(Math.max(0, at - 8), at + 8).toString('hex');
  expect.fail(
    `bytes differ at offset ${at} (got ${actual.length} bytes, expected ${expected.length}): ` +
      `got …${around(actual)}… expected …${around(expected)}…`,
  );
}

// Events keep copies of the content, compared as Buffers.
const COPY = { bytes: (chunk: Buffer) => Buffer.from(chunk) };

function serverEvents(input: Buffer, options: ServerSessionOptions = {}): Event[] {
  return recordServer([input], { ...ALL_ROLES, ...options }, COPY);
}

function clientEvents(input: Buffer, activeIds: number[] = []): Event[] {
  return recordClient([input], activeIds, undefined, COPY);
}

/** What the bare parser sees: [type, requestId, content] per record. */
function parseRecords(input: Buffer): Event[] {
  return parserEvents([input], COPY.bytes);
}

// Header bytes in the order of §8 FCGI_Header:
//   version type requestIdB1 requestIdB0 contentLengthB1 contentLengthB0 paddingLength reserved

describe('BEGIN_REQUEST (§5.1)', () => {
  // body: roleB1 roleB0 flags reserved[5]
  const rows = [
    { id: 1, role: Role.RESPONDER, keepConn: false, bytes: '01 01 00 01 00 08 00 00 | 00 01 00 00 00 00 00 00' },
    { id: 1, role: Role.RESPONDER, keepConn: true, bytes: '01 01 00 01 00 08 00 00 | 00 01 01 00 00 00 00 00' },
    { id: 0x0102, role: Role.AUTHORIZER, keepConn: false, bytes: '01 01 01 02 00 08 00 00 | 00 02 00 00 00 00 00 00' },
    { id: 0x0102, role: Role.AUTHORIZER, keepConn: true, bytes: '01 01 01 02 00 08 00 00 | 00 02 01 00 00 00 00 00' },
    { id: 0xffff, role: Role.FILTER, keepConn: false, bytes: '01 01 ff ff 00 08 00 00 | 00 03 00 00 00 00 00 00' },
    { id: 0xffff, role: Role.FILTER, keepConn: true, bytes: '01 01 ff ff 00 08 00 00 | 00 03 01 00 00 00 00 00' },
  ];

  it.each(rows)('role $role keepConn $keepConn id $id', ({ id, role, keepConn, bytes }) => {
    const wire = hex(bytes);
    expect(encodeBeginRequest(id, role, keepConn)).toEqual(wire);
    expect(parseRecords(wire)).toEqual([[RecordType.BEGIN_REQUEST, id, wire.subarray(8)]]);
    expect(serverEvents(wire)).toEqual([['begin', id, role, keepConn]]);
  });

  it('defaults to RESPONDER without FCGI_KEEP_CONN', () => {
    expect(encodeBeginRequest(1)).toEqual(hex('01 01 00 01 00 08 00 00 | 00 01 00 00 00 00 00 00'));
  });

  it('reads only bit 0 of flags and ignores the reserved bytes', () => {
    // §5.1: the other flag bits and the reserved bytes are not defined in 1.0.
    const wire = hex('01 01 00 05 00 08 00 00 | 00 01 fe ff ff ff ff ff');
    expect(serverEvents(wire)).toEqual([['begin', 5, Role.RESPONDER, false]]);
  });
});

describe('ABORT_REQUEST (§5.4)', () => {
  it('is a header with no content', () => {
    const wire = hex('01 02 01 02 00 00 00 00');
    expect(encodeAbortRequest(0x0102)).toEqual(wire);
    expect(parseRecords(wire)).toEqual([[RecordType.ABORT_REQUEST, 0x0102, Buffer.alloc(0)]]);
    const begin = hex('01 01 01 02 00 08 00 00 | 00 01 00 00 00 00 00 00');
    expect(serverEvents(Buffer.concat([begin, wire]))).toEqual([
      ['begin', 0x0102, Role.RESPONDER, false],
      ['abort', 0x0102],
    ]);
  });
});

describe('END_REQUEST (§5.5)', () => {
  // body: appStatusB3..B0 protocolStatus reserved[3]
  const rows = [
    { id: 1, appStatus: 0, status: ProtocolStatus.REQUEST_COMPLETE, decoded: 0, bytes: '01 03 00 01 00 08 00 00 | 00 00 00 00 00 00 00 00' },
    { id: 1, appStatus: 0, status: ProtocolStatus.CANT_MPX_CONN, decoded: 0, bytes: '01 03 00 01 00 08 00 00 | 00 00 00 00 01 00 00 00' },
    { id: 2, appStatus: 0, status: ProtocolStatus.OVERLOADED, decoded: 0, bytes: '01 03 00 02 00 08 00 00 | 00 00 00 00 02 00 00 00' },
    { id: 3, appStatus: 0, status: ProtocolStatus.UNKNOWN_ROLE, decoded: 0, bytes: '01 03 00 03 00 08 00 00 | 00 00 00 00 03 00 00 00' },
    { id: 1, appStatus: 255, status: ProtocolStatus.REQUEST_COMPLETE, decoded: 255, bytes: '01 03 00 01 00 08 00 00 | 00 00 00 ff 00 00 00 00' },
    { id: 0x1234, appStatus: 0x01020304, status: ProtocolStatus.REQUEST_COMPLETE, decoded: 0x01020304, bytes: '01 03 12 34 00 08 00 00 | 01 02 03 04 00 00 00 00' },
    { id: 1, appStatus: 0x80000000, status: ProtocolStatus.REQUEST_COMPLETE, decoded: 0x80000000, bytes: '01 03 00 01 00 08 00 00 | 80 00 00 00 00 00 00 00' },
    { id: 1, appStatus: 0xffffffff, status: ProtocolStatus.REQUEST_COMPLETE, decoded: 0xffffffff, bytes: '01 03 00 01 00 08 00 00 | ff ff ff ff 00 00 00 00' },
    // A negative exit status goes out as its 32-bit two's complement and reads back unsigned.
    { id: 1, appStatus: -1, status: ProtocolStatus.REQUEST_COMPLETE, decoded: 0xffffffff, bytes: '01 03 00 01 00 08 00 00 | ff ff ff ff 00 00 00 00' },
  ];

  it.each(rows)('appStatus $appStatus protocolStatus $status id $id', ({ id, appStatus, status, decoded, bytes }) => {
    const wire = hex(bytes);
    expect(encodeEndRequest(id, appStatus, status)).toEqual(wire);
    expect(parseRecords(wire)).toEqual([[RecordType.END_REQUEST, id, wire.subarray(8)]]);
    expect(clientEvents(wire, [id])).toEqual([['end', id, decoded, status]]);
  });

  it.each(rows)('writeEndRequest writes the same bytes in place (appStatus $appStatus)', ({ id, appStatus, status, bytes }) => {
    // Prefilled with 0xee so that reserved bytes left unwritten would show.
    const out = Buffer.alloc(5 + END_REQUEST_SIZE + 3, 0xee);
    expect(writeEndRequest(out, 5, id, appStatus, status)).toBe(5 + END_REQUEST_SIZE);
    expect(out).toEqual(Buffer.concat([Buffer.alloc(5, 0xee), hex(bytes), Buffer.alloc(3, 0xee)]));
  });

  it('defaults to appStatus 0, REQUEST_COMPLETE', () => {
    expect(encodeEndRequest(7)).toEqual(hex('01 03 00 07 00 08 00 00 | 00 00 00 00 00 00 00 00'));
  });
});

describe('PARAMS (§5.2), padded to a multiple of 8 (§3.3)', () => {
  const begin1 = hex('01 01 00 01 00 08 00 00 | 00 01 00 00 00 00 00 00');
  const rows = [
    {
      name: 'one short pair, 4 bytes of padding',
      params: [['A', 'b']] as [string, string][],
      bytes: '01 04 00 01 00 04 04 00 | 01 01 41 62 | 00 00 00 00' + '01 04 00 01 00 00 00 00',
    },
    {
      name: 'content of exactly 8 bytes, no padding',
      params: [['AB', 'CDEF']] as [string, string][],
      bytes: '01 04 00 01 00 08 00 00 | 02 04 41 42 43 44 45 46' + '01 04 00 01 00 00 00 00',
    },
    {
      name: 'SCRIPT_NAME, 23 bytes and 1 of padding',
      params: [['SCRIPT_NAME', '/index.php']] as [string, string][],
      bytes:
        '01 04 00 01 00 17 01 00 | 0b 0a 53 43 52 49 50 54 5f 4e 41 4d 45 2f 69 6e 64 65 78 2e 70 68 70 | 00' +
        '01 04 00 01 00 00 00 00',
    },
    {
      name: 'two pairs, one with an empty value',
      params: [['A', ''], ['B', 'c']] as [string, string][],
      bytes: '01 04 00 01 00 07 01 00 | 01 00 41 01 01 42 63 | 00' + '01 04 00 01 00 00 00 00',
    },
    {
      name: 'no pairs: only the empty record',
      params: [] as [string, string][],
      bytes: '01 04 00 01 00 00 00 00',
    },
  ];

  it.each(rows)('$name', ({ params, bytes }) => {
    const wire = hex(bytes);
    expect(encodeParams(1, params)).toEqual(wire);
    expect(serverEvents(Buffer.concat([begin1, wire]))).toEqual([
      ['begin', 1, Role.RESPONDER, false],
      ['params', 1, Object.fromEntries(params)],
    ]);
  });

  it('accepts a plain object of params', () => {
    expect(encodeParams(1, { A: 'b' })).toEqual(hex('01 04 00 01 00 04 04 00 | 01 01 41 62 | 00 00 00 00 | 01 04 00 01 00 00 00 00'));
  });
});

describe('stream records STDIN, STDOUT, STDERR, DATA (§5.3, §6.4)', () => {
  it('STDIN', () => {
    const wire = hex('01 05 00 01 00 05 03 00 | 68 65 6c 6c 6f | 00 00 00' + '01 05 00 01 00 00 00 00');
    expect(encodeStream(RecordType.STDIN, 1, Buffer.from('hello'), true)).toEqual(wire);
    const head = hex('01 01 00 01 00 08 00 00 | 00 01 00 00 00 00 00 00 | 01 04 00 01 00 00 00 00');
    expect(serverEvents(Buffer.concat([head, wire]))).toEqual([
      ['begin', 1, Role.RESPONDER, false],
      ['params', 1, {}],
      ['stdin', 1, Buffer.from('hello')],
      ['stdin', 1, Buffer.alloc(0)],
    ]);
  });

  it('STDOUT', () => {
    const wire = hex('01 06 00 01 00 03 05 00 | 6f 6b 0a | 00 00 00 00 00');
    expect(encodeRecord(RecordType.STDOUT, 1, Buffer.from('ok\n'))).toEqual(wire);
    expect(encodeStream(RecordType.STDOUT, 1, Buffer.from('ok\n'))).toEqual(wire);
    expect(clientEvents(wire, [1])).toEqual([['stdout', 1, Buffer.from('ok\n')]]);
  });

  it('STDERR', () => {
    const wire = hex('01 07 00 01 00 03 05 00 | 65 72 72 | 00 00 00 00 00');
    expect(encodeRecord(RecordType.STDERR, 1, Buffer.from('err'))).toEqual(wire);
    expect(clientEvents(wire, [1])).toEqual([['stderr', 1, Buffer.from('err')]]);
  });

  it('DATA (FILTER role)', () => {
    const wire = hex('01 08 00 01 00 08 00 00 | 30 31 32 33 34 35 36 37' + '01 08 00 01 00 00 00 00');
    expect(encodeStream(RecordType.DATA, 1, Buffer.from('01234567'), true)).toEqual(wire);
    const head = hex(
      '01 01 00 01 00 08 00 00 | 00 03 00 00 00 00 00 00' + // BEGIN_REQUEST FILTER
        '01 04 00 01 00 00 00 00' + // empty PARAMS
        '01 05 00 01 00 00 00 00', // empty STDIN
    );
    expect(serverEvents(Buffer.concat([head, wire]))).toEqual([
      ['begin', 1, Role.FILTER, false],
      ['params', 1, {}],
      ['stdin', 1, Buffer.alloc(0)],
      ['data', 1, Buffer.from('01234567')],
      ['data', 1, Buffer.alloc(0)],
    ]);
  });

  // contentLength -> paddingLength that rounds the record to a multiple of 8.
  const padding = [
    [1, 7], [2, 6], [3, 5], [4, 4], [5, 3], [6, 2], [7, 1], [8, 0], [9, 7], [15, 1], [16, 0], [17, 7],
  ] as const;
  it.each(padding)('%i bytes of content take %i bytes of padding', (length, pad) => {
    const content = Buffer.alloc(length, 0x61);
    const wire = Buffer.concat([hex(`01 06 00 09 00 ${length.toString(16).padStart(2, '0')} 0${pad} 00`), content, Buffer.alloc(pad)]);
    expect(encodeRecord(RecordType.STDOUT, 9, content)).toEqual(wire);
    expect(wire.length % 8).toBe(0);
    expect(clientEvents(wire, [9])).toEqual([['stdout', 9, content]]);
  });

  it('ignores padding whatever its bytes and length (§3.3: the receiver skips it)', () => {
    // 3 bytes of content, 255 bytes of 0xff padding, then the stream end.
    const wire = Buffer.concat([
      hex('01 06 00 01 00 03 ff 00 | 6f 6b 0a'),
      Buffer.alloc(255, 0xff),
      hex('01 06 00 01 00 00 02 00 | ee ee'),
    ]);
    expect(clientEvents(wire, [1])).toEqual([
      ['stdout', 1, Buffer.from('ok\n')],
      ['stdout', 1, Buffer.alloc(0)],
    ]);
  });
});

describe('empty stream-end record (§3.3)', () => {
  const rows = [
    { type: RecordType.PARAMS, bytes: '01 04 00 01 00 00 00 00' },
    { type: RecordType.STDIN, bytes: '01 05 00 01 00 00 00 00' },
    { type: RecordType.STDOUT, bytes: '01 06 00 01 00 00 00 00' },
    { type: RecordType.STDERR, bytes: '01 07 00 01 00 00 00 00' },
    { type: RecordType.DATA, bytes: '01 08 00 01 00 00 00 00' },
  ];
  it.each(rows)('type $type', ({ type, bytes }) => {
    const wire = hex(bytes);
    expect(encodeStreamEnd(type, 1)).toEqual(wire);
    expect(encodeStream(type, 1, Buffer.alloc(0), true)).toEqual(wire);
    expect(encodeRecord(type, 1)).toEqual(wire);
    expect(parseRecords(wire)).toEqual([[type, 1, Buffer.alloc(0)]]);
  });

  it('is decoded by the client as the end of STDOUT and STDERR', () => {
    expect(clientEvents(hex('01 06 00 01 00 00 00 00 | 01 07 00 01 00 00 00 00'), [1])).toEqual([
      ['stdout', 1, Buffer.alloc(0)],
      ['stderr', 1, Buffer.alloc(0)],
    ]);
  });

  it('writes nothing for empty content without end', () => {
    expect(encodeStream(RecordType.STDOUT, 1, Buffer.alloc(0))).toEqual(Buffer.alloc(0));
    expect(streamSize(0)).toBe(0);
  });
});

describe('management records (§4)', () => {
  const GET_VALUES = hex(
    '01 09 00 00 00 30 00 00' +
      '0e 00 46 43 47 49 5f 4d 41 58 5f 43 4f 4e 4e 53' + //       FCGI_MAX_CONNS
      '0d 00 46 43 47 49 5f 4d 41 58 5f 52 45 51 53' + //          FCGI_MAX_REQS
      '0f 00 46 43 47 49 5f 4d 50 58 53 5f 43 4f 4e 4e 53', //     FCGI_MPXS_CONNS
  );
  const GET_VALUES_RESULT = hex(
    '01 0a 00 00 00 35 03 00' +
      '0e 02 46 43 47 49 5f 4d 41 58 5f 43 4f 4e 4e 53 31 30' + //  FCGI_MAX_CONNS=10
      '0d 02 46 43 47 49 5f 4d 41 58 5f 52 45 51 53 35 30' + //     FCGI_MAX_REQS=50
      '0f 01 46 43 47 49 5f 4d 50 58 53 5f 43 4f 4e 4e 53 31' + //  FCGI_MPXS_CONNS=1
      '00 00 00',
  );

  it('GET_VALUES', () => {
    const names = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'];
    expect(encodeGetValues(names)).toEqual(GET_VALUES);
    expect(parseRecords(GET_VALUES)).toEqual([[RecordType.GET_VALUES, 0, GET_VALUES.subarray(8)]]);
    expect(serverEvents(GET_VALUES)).toEqual([['getValues', names]]);
  });

  it('GET_VALUES_RESULT', () => {
    const values = { FCGI_MAX_CONNS: '10', FCGI_MAX_REQS: '50', FCGI_MPXS_CONNS: '1' };
    expect(encodeGetValuesResult(values)).toEqual(GET_VALUES_RESULT);
    expect(encodeGetValuesResult(Object.entries(values))).toEqual(GET_VALUES_RESULT);
    expect(clientEvents(GET_VALUES_RESULT)).toEqual([['values', values]]);
  });

  it('UNKNOWN_TYPE', () => {
    // body: type reserved[7]
    const wire = hex('01 0b 00 00 00 08 00 00 | 0c 00 00 00 00 00 00 00');
    expect(encodeUnknownType(12)).toEqual(wire);
    expect(clientEvents(wire)).toEqual([['unknownType', 12]]);
  });

  it('an unknown management type reaches the application as onUnknownType (§4.2)', () => {
    expect(serverEvents(hex('01 0c 00 00 00 02 06 00 | ab cd | 00 00 00 00 00 00'))).toEqual([['unknownType', 12]]);
    expect(serverEvents(hex('01 ff 00 00 00 00 00 00'))).toEqual([['unknownType', 255]]);
  });
});

describe('name-value pairs (§3.4)', () => {
  // Lengths below 128 take one byte; others four, big-endian, with the top bit set.
  const lengths = [
    { length: 0, prefix: '00' },
    { length: 127, prefix: '7f' },
    { length: 128, prefix: '80 00 00 80' },
    { length: 300, prefix: '80 00 01 2c' },
    { length: 70000, prefix: '80 01 11 70' },
  ];
  const cases = lengths.flatMap((n) => lengths.map((v) => ({ nameLength: n.length, valueLength: v.length, n, v })));

  it.each(cases)('name of $nameLength bytes, value of $valueLength bytes', ({ n, v }) => {
    const name = 'N'.repeat(n.length);
    const value = 'v'.repeat(v.length);
    const block = Buffer.concat([hex(n.prefix), hex(v.prefix), Buffer.alloc(n.length, 'N'), Buffer.alloc(v.length, 'v')]);
    expectBytes(encodePairs([[name, value]]), block);
    expectBytes(encodePairs([[name, Buffer.from(value)]]), block);
    expect(decodePairs(block)).toEqual(new Map([[name, value]]));
  });

  it('decodes every length combination from one PARAMS stream through the server session', () => {
    const pairs = cases.map(({ n, v }, i) => [String.fromCharCode(0x41 + i) + 'N'.repeat(Math.max(0, n.length - 1)), 'v'.repeat(v.length)] as const);
    // Distinct names: the first character differs, so the name length stays as in the table
    // except for the zero-length ones, which become one byte long.
    const block = encodePairs(pairs);
    const expected = new Map(pairs.map(([name, value]) => [name, value]));
    expect(decodePairs(block)).toEqual(expected);
    const events = serverEvents(Buffer.concat([encodeBeginRequest(1), encodeParams(1, pairs)]));
    expect(events).toEqual([
      ['begin', 1, Role.RESPONDER, false],
      ['params', 1, Object.fromEntries(expected)],
    ]);
  });

  it('a 70000-byte value splits PARAMS into records of 65535 and 4473 bytes', () => {
    // Block: 03 | 80 01 11 70 | "BIG" | 70000 bytes = 70008 bytes.
    const value = Buffer.alloc(70000, 0x7a);
    const block = Buffer.concat([hex('03 80 01 11 70 42 49 47'), value]);
    const wire = Buffer.concat([
      hex('01 04 00 01 ff ff 01 00'),
      block.subarray(0, 65535),
      hex('00'),
      hex('01 04 00 01 11 79 07 00'),
      block.subarray(65535),
      hex('00 00 00 00 00 00 00'),
      hex('01 04 00 01 00 00 00 00'),
    ]);
    expectBytes(encodeParams(1, [['BIG', value]]), wire);
    expect(serverEvents(Buffer.concat([encodeBeginRequest(1), wire]))).toEqual([
      ['begin', 1, Role.RESPONDER, false],
      ['params', 1, { BIG: value.toString('latin1') }],
    ]);
  });

  it('accepts the four-byte form for short lengths', () => {
    expect(decodePairs(hex('80 00 00 01 80 00 00 02 41 62 63'))).toEqual(new Map([['A', 'bc']]));
  });

  it('names are UTF-8 on the way out; values decode as latin1 so every byte survives', () => {
    const block = hex('02 02 c3 a9 ff 00');
    expect(encodePairs([['é', Buffer.from([0xff, 0x00])]])).toEqual(block);
    expect(decodePairs(block)).toEqual(new Map([['\u00c3\u00a9', '\u00ff\u0000']]));
    expect(decodePairs(block, 'utf8').has('é')).toBe(true);
  });

  it('a later duplicate name replaces an earlier one', () => {
    expect(decodePairs(hex('01 01 41 31 01 01 41 32'))).toEqual(new Map([['A', '2']]));
  });
});

describe('stream content split into records of at most 65535 bytes (§3.3)', () => {
  function content(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = (i * 31 + 7) & 0xff;
    return out;
  }

  // Each record: header (contentLength, paddingLength written by hand), content slice, padding.
  const FULL = '01 06 00 01 ff ff 01 00'; // 65535 bytes + 1 of padding
  const rows = [
    { length: 65535, headers: [FULL], sizes: [65535], pads: [1] },
    { length: 65536, headers: [FULL, '01 06 00 01 00 01 07 00'], sizes: [65535, 1], pads: [1, 7] },
    {
      length: 200000,
      headers: [FULL, FULL, FULL, '01 06 00 01 0d 43 05 00'],
      sizes: [65535, 65535, 65535, 3395],
      pads: [1, 1, 1, 5],
    },
  ];

  it.each(rows)('$length bytes of STDOUT', ({ length, headers, sizes, pads }) => {
    const data = content(length);
    const parts: Buffer[] = [];
    let at = 0;
    headers.forEach((header, i) => {
      const size = sizes[i]!;
      parts.push(hex(header), data.subarray(at, at + size), Buffer.alloc(pads[i]!));
      at += size;
    });
    expect(at).toBe(length);
    const body = Buffer.concat(parts);
    const end = hex('01 06 00 01 00 00 00 00');

    expectBytes(encodeStream(RecordType.STDOUT, 1, data), body);
    expectBytes(encodeStream(RecordType.STDOUT, 1, data, true), Buffer.concat([body, end]));
    expect(streamSize(length)).toBe(body.length);
    const out = Buffer.alloc(streamSize(length) + 3);
    expect(writeStream(out, 3, RecordType.STDOUT, 1, data)).toBe(out.length);
    expectBytes(out.subarray(3), body);

    const events = clientEvents(Buffer.concat([body, end]), [1]);
    expect(events.map((e) => [e[0], e[1], (e[2] as Buffer).length])).toEqual([...sizes, 0].map((n) => ['stdout', 1, n]));
    expectBytes(Buffer.concat(events.map((e) => e[2] as Buffer)), data);
  });

  const streamRecordSizes = (length: number) => rows.find((r) => r.length === length)!.sizes.concat(0);

  it.each([65535, 65536, 200000])('%i bytes of STDIN reach the server session record by record', (length) => {
    const data = content(length);
    const events = serverEvents(
      Buffer.concat([encodeBeginRequest(1), encodeParams(1, []), encodeStream(RecordType.STDIN, 1, data, true)]),
    );
    const stdin = events.filter((e) => e[0] === 'stdin').map((e) => e[2] as Buffer);
    expect(stdin.map((chunk) => chunk.length)).toEqual(streamRecordSizes(length));
    expectBytes(Buffer.concat(stdin), data);
  });

  it('writeStream writes only the given range', () => {
    const data = Buffer.from('xxhelloyy');
    const out = Buffer.alloc(streamSize(5));
    expect(writeStream(out, 0, RecordType.STDERR, 2, data, 2, 7)).toBe(16);
    expect(out).toEqual(hex('01 07 00 02 00 05 03 00 | 68 65 6c 6c 6f | 00 00 00'));
  });

  it('encodeRecord refuses more than 65535 bytes of content', () => {
    expect(() => encodeRecord(RecordType.STDOUT, 1, Buffer.alloc(65536))).toThrow(RangeError);
  });
});
