// Seeded fuzzing of both sessions. Valid record streams are generated, mutated
// (bytes flipped, cut short, random bytes inserted or removed, random headers with
// random lengths spliced in, records duplicated or swapped) and fed in random
// chunk splits. Every case must either parse or throw a ProtocolError with a known
// code: never another exception. The work is finite by construction (a fixed
// number of cases of bounded size), and the outcome must not depend on how the
// bytes were split. A failing case prints its seed and index so it can be replayed.

import { afterEach, describe, expect, it } from 'vitest';
import {
  MAX_CONTENT_LENGTH,
  ProtocolError,
  ProtocolStatus,
  RecordParser,
  RecordType,
  Role,
  ValueName,
  encodeAbortRequest,
  encodeBeginRequest,
  encodeEndRequest,
  encodeGetValues,
  encodeGetValuesResult,
  encodePairs,
  encodeRecord,
  encodeStream,
  encodeStreamEnd,
  encodeUnknownType,
  type ClientSessionOptions,
  type ProtocolErrorCode,
  type ServerSessionOptions,
} from '../../src/protocol/index.js';
import {
  ALL_ROLES,
  PROTOCOL_ERROR_CODES,
  bytewise,
  clientEvents,
  int,
  mulberry32,
  randomBytes,
  randomChunks,
  serverEvents,
  type Event,
  type Rng,
} from '../helpers/protocol.js';

const CASES_PER_SIDE = 5000;

// ---------------------------------------------------------------------------
// PRNG helpers beyond the shared ones.

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const chance = (rng: Rng, p: number): boolean => rng() < p;

/** Mostly small sizes, sometimes around the 127/128 and 8-byte boundaries, rarely past one record. */
function size(rng: Rng): number {
  const r = rng();
  if (r < 0.15) return 0;
  if (r < 0.85) return int(rng, 1, 64);
  if (r < 0.98) return int(rng, 120, 300);
  return int(rng, 65530, 70000);
}

function randomPairs(rng: Rng): [string, Buffer][] {
  return Array.from({ length: int(rng, 0, 8) }, () => {
    let name = '';
    const n = Math.min(size(rng), 200);
    for (let i = 0; i < n; i++) name += String.fromCharCode(int(rng, 0x21, 0x7e));
    return [name, randomBytes(rng, Math.min(size(rng), 300))];
  });
}

/** Content as stream records, sometimes cut into several records (the stream end is not included). */
function streamRecords(rng: Rng, type: number, id: number, data: Buffer): Buffer[] {
  if (data.length > MAX_CONTENT_LENGTH || chance(rng, 0.5)) return data.length ? [encodeStream(type, id, data)] : [];
  const out: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const n = int(rng, 1, data.length - at);
    out.push(encodeRecord(type, id, data.subarray(at, at + n)));
    at += n;
  }
  return out;
}

/** Merge per-request record lists at random, keeping each list's order. */
function interleave(rng: Rng, lists: Buffer[][]): Buffer[] {
  const queues = lists.map((l) => [...l]).filter((l) => l.length > 0);
  const out: Buffer[] = [];
  while (queues.length > 0) {
    const i = Math.floor(rng() * queues.length);
    const q = queues[i]!;
    out.push(q.shift()!);
    if (q.length === 0) queues.splice(i, 1);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Valid streams, as lists of records (so that mutations can work on record boundaries).

function validServerStream(rng: Rng): Buffer[] {
  const lists: Buffer[][] = [];
  if (chance(rng, 0.3)) lists.push([encodeGetValues([ValueName.MAX_CONNS, ValueName.MAX_REQS, ValueName.MPXS_CONNS])]);
  if (chance(rng, 0.1)) lists.push([encodeRecord(int(rng, 12, 255), 0, randomBytes(rng, int(rng, 0, 16)))]);
  const count = int(rng, 1, 3);
  for (let k = 0; k < count; k++) {
    const id = k + 1 + (chance(rng, 0.2) ? 0xff00 : 0);
    const role = pick(rng, [Role.RESPONDER, Role.RESPONDER, Role.AUTHORIZER, Role.FILTER]);
    const records: Buffer[] = [encodeBeginRequest(id, role, chance(rng, 0.5))];
    records.push(...streamRecords(rng, RecordType.PARAMS, id, encodePairs(randomPairs(rng))), encodeStreamEnd(RecordType.PARAMS, id));
    const stdinParts = int(rng, 0, 3);
    for (let i = 0; i < stdinParts; i++) records.push(...streamRecords(rng, RecordType.STDIN, id, randomBytes(rng, size(rng))));
    records.push(encodeStreamEnd(RecordType.STDIN, id));
    if (role === Role.FILTER) {
      records.push(...streamRecords(rng, RecordType.DATA, id, randomBytes(rng, size(rng))), encodeStreamEnd(RecordType.DATA, id));
    }
    if (chance(rng, 0.15)) records.splice(int(rng, 1, records.length), 0, encodeAbortRequest(id));
    lists.push(records);
  }
  return interleave(rng, lists);
}

function validClientStream(rng: Rng): { records: Buffer[]; ids: number[] } {
  const lists: Buffer[][] = [];
  if (chance(rng, 0.3)) {
    lists.push([encodeGetValuesResult({ [ValueName.MAX_CONNS]: String(int(rng, 1, 999)), [ValueName.MPXS_CONNS]: '0' })]);
  }
  if (chance(rng, 0.1)) lists.push([encodeUnknownType(int(rng, 12, 255))]);
  const ids: number[] = [];
  const count = int(rng, 1, 3);
  for (let k = 0; k < count; k++) {
    const id = k + 1 + (chance(rng, 0.2) ? 0x1200 : 0);
    ids.push(id);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    for (let i = int(rng, 0, 4); i > 0; i--) out.push(...streamRecords(rng, RecordType.STDOUT, id, randomBytes(rng, size(rng))));
    for (let i = int(rng, 0, 2); i > 0; i--) err.push(...streamRecords(rng, RecordType.STDERR, id, randomBytes(rng, size(rng))));
    out.push(encodeStreamEnd(RecordType.STDOUT, id));
    if (chance(rng, 0.7)) err.push(encodeStreamEnd(RecordType.STDERR, id));
    const status = pick(rng, [0, 0, 0, ProtocolStatus.CANT_MPX_CONN, ProtocolStatus.OVERLOADED, ProtocolStatus.UNKNOWN_ROLE]);
    lists.push([...interleave(rng, [out, err]), encodeEndRequest(id, int(rng, 0, 0xffffffff), status)]);
  }
  return { records: interleave(rng, lists), ids };
}

// ---------------------------------------------------------------------------
// Mutations.

function randomHeader(rng: Rng, ids: number[]): Buffer {
  const version = chance(rng, 0.9) ? 1 : int(rng, 0, 255);
  const type = chance(rng, 0.8) ? int(rng, 0, 12) : int(rng, 0, 255);
  const id = chance(rng, 0.3) ? 0 : chance(rng, 0.6) && ids.length > 0 ? pick(rng, ids) : int(rng, 0, 0xffff);
  const length = chance(rng, 0.7) ? int(rng, 0, 32) : chance(rng, 0.7) ? int(rng, 0, 1024) : int(rng, 0, 0xffff);
  const padding = chance(rng, 0.7) ? -length & 7 : int(rng, 0, 255);
  const header = Buffer.from([version, type, id >> 8, id & 0xff, length >> 8, length & 0xff, padding, 0]);
  // Sometimes the whole body, sometimes less than declared.
  const bodyLength = chance(rng, 0.7) ? length + padding : int(rng, 0, length + padding);
  return Buffer.concat([header, randomBytes(rng, Math.min(bodyLength, 4096))]);
}

function mutate(rng: Rng, records: Buffer[], ids: number[]): Buffer {
  const recs = [...records];
  // Record-level mutations first, while boundaries are known.
  for (let n = int(rng, 0, 2); n > 0; n--) {
    const at = int(rng, 0, recs.length);
    switch (int(rng, 0, 3)) {
      case 0:
        recs.splice(at, 0, randomHeader(rng, ids));
        break;
      case 1:
        if (recs.length > 0) recs.splice(at, 0, recs[int(rng, 0, recs.length - 1)]!);
        break;
      case 2:
        if (recs.length > 1) {
          const j = int(rng, 0, recs.length - 1);
          const i = Math.min(at, recs.length - 1);
          [recs[i], recs[j]] = [recs[j]!, recs[i]!];
        }
        break;
      default:
        if (recs.length > 0) recs.splice(Math.min(at, recs.length - 1), 1);
    }
  }
  let bytes = Buffer.concat(recs);
  // Byte-level mutations.
  for (let n = int(rng, 0, 3); n > 0; n--) {
    const at = int(rng, 0, bytes.length);
    switch (int(rng, 0, 4)) {
      case 0:
        if (bytes.length > 0) {
          bytes = Buffer.from(bytes);
          const i = Math.min(at, bytes.length - 1);
          bytes[i] = bytes[i]! ^ int(rng, 1, 255);
        }
        break;
      case 1:
        bytes = bytes.subarray(0, at);
        break;
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), randomBytes(rng, int(rng, 1, 16)), bytes.subarray(at)]);
        break;
      case 3:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + int(rng, 1, 16))]);
        break;
      default:
        // A header's length bytes, where a header happens to sit at a multiple of 8.
        if (bytes.length >= 8) {
          bytes = Buffer.from(bytes);
          const h = Math.floor(int(rng, 0, bytes.length - 8) / 8) * 8;
          bytes[h + 4] = int(rng, 0, 255);
          bytes[h + 5] = int(rng, 0, 255);
        }
    }
  }
  return bytes;
}

/** Cut into 1..32 pieces at random offsets; sometimes one byte at a time. */
function chunksOf(rng: Rng, bytes: Buffer): Buffer[] {
  if (bytes.length < 400 && chance(rng, 0.05)) return bytewise(bytes);
  return randomChunks(rng, bytes, 32);
}

// ---------------------------------------------------------------------------
// Running a case.

interface Outcome {
  /** 'ok', a ProtocolError code, or a description of anything else that was thrown. */
  result: string;
  message: string;
  events: Event[];
}

// Pairs as the list of entries, in the order the session gave them.
const ENTRIES = { pairs: (pairs: Map<string, string>) => [...pairs] };

function run(feed: (events: Event[]) => void): Outcome {
  const events: Event[] = [];
  try {
    feed(events);
    return { result: 'ok', message: '', events };
  } catch (err) {
    if (err instanceof ProtocolError && Object.hasOwn(PROTOCOL_ERROR_CODES, err.code) && err.message.length > 0) {
      return { result: err.code, message: err.message, events };
    }
    return { result: `unexpected error: ${String(err)} ${(err as Error)?.stack ?? ''}`, message: '', events };
  }
}

function runServer(chunks: Buffer[], options: ServerSessionOptions): Outcome {
  return run((events) => serverEvents(chunks, options, ENTRIES, events));
}

function runClient(chunks: Buffer[], ids: number[], options: ClientSessionOptions): Outcome {
  return run((events) => clientEvents(chunks, ids, options, ENTRIES, events));
}

/**
 * Track the largest Buffer.allocUnsafe made while `fn` runs (the parser's body
 * buffer, Buffer.concat of params). A plain wrapper, not a spy: spies keep every call.
 */
function withAllocTracking<T>(fn: () => T): { value: T; largest: number; count: number } {
  const original = Buffer.allocUnsafe;
  let largest = 0;
  let count = 0;
  Buffer.allocUnsafe = (n: number) => {
    largest = Math.max(largest, n);
    count++;
    return original(n);
  };
  try {
    return { value: fn(), largest, count };
  } finally {
    Buffer.allocUnsafe = original;
  }
}

interface Campaign {
  failures: string[];
  codes: Map<string, number>;
  largestAlloc: number;
  largestAllowed: number;
}

function campaign(seed: number, side: 'server' | 'client'): Campaign {
  const rng = mulberry32(seed);
  const failures: string[] = [];
  const codes = new Map<string, number>();
  let largestAlloc = 0;
  let largestAllowed = 0;
  for (let i = 0; i < CASES_PER_SIDE; i++) {
    const where = `${side} seed ${seed} case ${i}`;
    // Random limits, so that RECORD_TOO_LARGE and PARAMS_TOO_LARGE are reachable.
    const maxContentLength = chance(rng, 0.8) ? undefined : int(rng, 16, 4096);
    let bytes: Buffer;
    let mutated: boolean;
    let one: () => Outcome;
    let split: (chunks: Buffer[]) => Outcome;
    let allowed = MAX_CONTENT_LENGTH;
    if (side === 'server') {
      const records = validServerStream(rng);
      mutated = chance(rng, 0.9);
      bytes = mutated ? mutate(rng, records, [1, 2, 3]) : Buffer.concat(records);
      const options: ServerSessionOptions = {
        ...ALL_ROLES,
        maxContentLength,
        maxParamsLength: chance(rng, 0.8) ? undefined : int(rng, 16, 2048),
        multiplex: chance(rng, 0.9),
        maxConcurrentRequests: int(rng, 1, 4),
      };
      // Valid streams must parse whatever the limits, so only mutated cases get low ones.
      if (!mutated) Object.assign(options, { maxContentLength: undefined, maxParamsLength: undefined });
      allowed = Math.max(MAX_CONTENT_LENGTH, options.maxParamsLength ?? 1024 * 1024);
      one = () => runServer([bytes], options);
      split = (chunks) => runServer(chunks, options);
    } else {
      const { records, ids } = validClientStream(rng);
      mutated = chance(rng, 0.9);
      bytes = mutated ? mutate(rng, records, ids) : Buffer.concat(records);
      const options: ClientSessionOptions = { maxContentLength: mutated ? maxContentLength : undefined };
      one = () => runClient([bytes], ids, options);
      split = (chunks) => runClient(chunks, ids, options);
    }
    const chunks = chunksOf(rng, bytes);
    const tracked = withAllocTracking(() => [one(), split(chunks)] as const);
    const [whole, pieces] = tracked.value;
    largestAlloc = Math.max(largestAlloc, tracked.largest);
    largestAllowed = Math.max(largestAllowed, allowed);
    if (tracked.largest > allowed) failures.push(`${where}: allocated ${tracked.largest} bytes, limit ${allowed}`);

    codes.set(whole.result, (codes.get(whole.result) ?? 0) + 1);
    if (!PROTOCOL_ERROR_CODES[whole.result as ProtocolErrorCode] && whole.result !== 'ok') failures.push(`${where}: ${whole.result}`);
    if (!mutated && whole.result !== 'ok') failures.push(`${where}: a valid stream failed with ${whole.result}: ${whole.message}`);
    if (JSON.stringify(whole) !== JSON.stringify(pieces)) {
      failures.push(`${where}: one chunk gave ${whole.result} after ${whole.events.length} events, ${chunks.length} chunks gave ${pieces.result} after ${pieces.events.length}`);
    }
    // Each event stands for one record of at least 8 bytes.
    if (whole.events.length > bytes.length / 8) failures.push(`${where}: ${whole.events.length} events from ${bytes.length} bytes`);
    if (failures.length > 20) break;
  }
  return { failures, codes, largestAlloc, largestAllowed };
}

describe('fuzzing the sessions with mutated streams', () => {
  it.each([
    ['server', 0xc0ffee],
    ['client', 0xfeed],
  ] as const)('%s side: every case parses or throws a ProtocolError with a known code', (side, seed) => {
    const { failures, codes, largestAlloc, largestAllowed } = campaign(seed, side);
    expect(failures).toEqual([]);
    // The mutations reach deep enough to provoke most codes, and leave some streams valid.
    const expected: ProtocolErrorCode[] = [
      'FCGI_BAD_VERSION',
      'FCGI_UNKNOWN_TYPE',
      'FCGI_BAD_RECORD_LENGTH',
      'FCGI_RECORD_TOO_LARGE',
      'FCGI_BAD_PAIR',
      'FCGI_OUT_OF_ORDER',
      'FCGI_BAD_REQUEST_ID',
      'FCGI_TRUNCATED',
      ...(side === 'server' ? (['FCGI_PARAMS_TOO_LARGE'] as const) : []),
    ];
    for (const code of expected) expect(codes.get(code) ?? 0, `${code} in ${JSON.stringify([...codes])}`).toBeGreaterThan(0);
    expect(codes.get('ok') ?? 0).toBeGreaterThan(CASES_PER_SIDE / 20);
    expect(largestAlloc).toBeLessThanOrEqual(largestAllowed);
  });
});

describe('memory stays bounded', () => {
  const original = Buffer.allocUnsafe;
  afterEach(() => {
    Buffer.allocUnsafe = original;
  });

  it('a header declaring 65535 bytes followed by 10 holds one record buffer, and emits nothing', () => {
    const records: number[] = [];
    const parser = new RecordParser((_type, _id, content) => records.push(content.length));
    const first = Buffer.concat([Buffer.from([1, RecordType.STDOUT, 0, 1, 0xff, 0xff, 1, 0]), Buffer.alloc(10, 0x61)]);
    const more = Buffer.alloc(1000, 0x62);
    const { count, largest } = withAllocTracking(() => {
      parser.push(first);
      // More partial chunks of the same record fill that one buffer.
      for (let i = 0; i < 10; i++) parser.push(more);
    });
    expect(parser.midRecord).toBe(true);
    expect(records).toEqual([]);
    expect(count).toBe(1);
    expect(largest).toBe(65535);
    // The rest of the record (and its padding byte) completes it.
    parser.push(Buffer.alloc(65535 - 10 - 10000 + 1));
    expect(records).toEqual([65535]);
    expect(parser.midRecord).toBe(false);
    expect(() => parser.end()).not.toThrow();
  });

  it('a header declaring more than maxContentLength is refused before any body is buffered', () => {
    const records: number[] = [];
    const parser = new RecordParser((_type, _id, content) => records.push(content.length), { maxContentLength: 1024 });
    // A 1025-byte STDIN record: its header and the first 10 bytes.
    const input = Buffer.concat([Buffer.from([1, RecordType.STDIN, 0, 1, 0x04, 0x01, 7, 0]), Buffer.alloc(10)]);
    const { count, value } = withAllocTracking(() => {
      try {
        parser.push(input);
        return undefined;
      } catch (err) {
        return err;
      }
    });
    expect((value as ProtocolError).code).toBe('FCGI_RECORD_TOO_LARGE');
    expect(count).toBe(0);
    expect(records).toEqual([]);
    // A record of exactly the limit is fine.
    const ok = new RecordParser((_type, _id, content) => records.push(content.length), { maxContentLength: 1024 });
    ok.push(Buffer.concat([Buffer.from([1, RecordType.STDIN, 0, 1, 0x04, 0x00, 0, 0]), Buffer.alloc(1024)]));
    expect(records).toEqual([1024]);
  });

  it('records wholly inside a chunk are delivered without copying', () => {
    const stream = encodeStream(RecordType.STDOUT, 1, Buffer.alloc(200000, 0x63), true);
    const seen: Buffer[] = [];
    const parser = new RecordParser((_type, _id, content) => seen.push(content));
    const { count } = withAllocTracking(() => parser.push(stream));
    expect(count).toBe(0);
    // Four records of content (the fifth, empty, ends the stream), each a view of the chunk.
    expect(seen.filter((c) => c.length > 0).map((c) => c.buffer === stream.buffer)).toEqual([true, true, true, true]);
  });

  it('a stream of many records fed in small chunks never holds more than one record', () => {
    const stream = encodeStream(RecordType.STDOUT, 1, randomBytes(mulberry32(3), 300000), true);
    let delivered = 0;
    const parser = new RecordParser((_type, _id, content) => (delivered += content.length));
    const { largest } = withAllocTracking(() => {
      for (let at = 0; at < stream.length; at += 4096) parser.push(stream.subarray(at, at + 4096));
    });
    expect(largest).toBeLessThanOrEqual(MAX_CONTENT_LENGTH);
    expect(delivered).toBe(300000);
    expect(parser.midRecord).toBe(false);
  });
});
