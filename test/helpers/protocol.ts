// What the codec tests (test/unit/protocol-*.test.ts) share: a seeded PRNG and
// the chunk splits made with it, records built field by field (so malformed
// ones can be made too), handlers that record every ServerSession and
// ClientSession event as a comparable list, and the table of ProtocolError codes.

import {
  ClientSession,
  RecordParser,
  Role,
  ServerSession,
  type ClientSessionHandler,
  type ClientSessionOptions,
  type ProtocolErrorCode,
  type ServerSessionHandler,
  type ServerSessionOptions,
} from '../../src/protocol/index.js';

// ---------------------------------------------------------------------------
// Seeded PRNG (mulberry32), so every failure can be replayed.

export type Rng = () => number;

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A whole number in [lo, hi]. */
export const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

export function randomBytes(rng: Rng, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (rng() * 256) | 0;
  return out;
}

/** Cut `bytes` into 1..maxChunks pieces at random offsets (empty pieces allowed). */
export function randomChunks(rng: Rng, bytes: Buffer, maxChunks = 16): Buffer[] {
  const cuts = Array.from({ length: int(rng, 0, maxChunks - 1) }, () => int(rng, 0, bytes.length)).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** One byte a chunk. */
export const bytewise = (bytes: Buffer): Buffer[] => Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));

// ---------------------------------------------------------------------------
// Records by hand.

/**
 * One record built field by field (§3.3): any padding length and padding bytes
 * (encodeRecord always pads to 8 with zeros), and content that need not fit the type.
 */
export function rawRecord(type: number, id: number, content: Buffer | number[] | string = [], padding = 0, fill = 0): Buffer {
  const body = Buffer.isBuffer(content) ? content : typeof content === 'string' ? Buffer.from(content, 'latin1') : Buffer.from(content);
  const header = Buffer.from([1, type, id >> 8, id & 0xff, body.length >> 8, body.length & 0xff, padding, 0]);
  return Buffer.concat([header, body, Buffer.alloc(padding, fill)]);
}

// ---------------------------------------------------------------------------
// Session events as comparable lists: ['begin', id, role, keepConn], ['stdout', id, bytes] ...

export type Event = unknown[];

/** A server session that takes every role (the default is RESPONDER only). */
export const ALL_ROLES: ServerSessionOptions = { roles: [Role.RESPONDER, Role.AUTHORIZER, Role.FILTER] };

/** How recorded events keep the values a session hands over. */
export interface EventFormat {
  /** Stream content (a view the session may reuse): hex by default. */
  bytes?: (chunk: Buffer) => unknown;
  /** PARAMS and GET_VALUES_RESULT pairs: a plain object by default. */
  pairs?: (pairs: Map<string, string>) => unknown;
}

const hexOf = (chunk: Buffer): string => chunk.toString('hex');

/** A ServerSessionHandler that appends every event to `events`. */
export function serverRecorder(events: Event[], { bytes = hexOf, pairs = Object.fromEntries }: EventFormat = {}): ServerSessionHandler {
  return {
    onBegin: (id, role, keepConn) => events.push(['begin', id, role, keepConn]),
    onParams: (id, params) => events.push(['params', id, pairs(params)]),
    onStdin: (id, chunk) => events.push(['stdin', id, bytes(chunk)]),
    onData: (id, chunk) => events.push(['data', id, bytes(chunk)]),
    onAbort: (id) => events.push(['abort', id]),
    onReject: (id, status) => events.push(['reject', id, status]),
    onGetValues: (names) => events.push(['getValues', names]),
    onUnknownType: (type) => events.push(['unknownType', type]),
  };
}

/** A ClientSessionHandler that appends every event to `events`. */
export function clientRecorder(events: Event[], { bytes = hexOf, pairs = Object.fromEntries }: EventFormat = {}): ClientSessionHandler {
  return {
    onStdout: (id, chunk) => events.push(['stdout', id, bytes(chunk)]),
    onStderr: (id, chunk) => events.push(['stderr', id, bytes(chunk)]),
    onEnd: (id, appStatus, protocolStatus) => events.push(['end', id, appStatus, protocolStatus]),
    onValues: (values) => events.push(['values', pairs(values)]),
    onUnknownType: (type) => events.push(['unknownType', type]),
  };
}

/**
 * Feed `chunks` to a ServerSession, then end() it; the events land in `events`
 * (returned), so that what came before a throw can still be seen.
 */
export function serverEvents(chunks: Buffer[], options?: ServerSessionOptions, format?: EventFormat, events: Event[] = []): Event[] {
  const session = new ServerSession(serverRecorder(events, format), options);
  for (const chunk of chunks) session.push(chunk);
  session.end();
  return events;
}

/** The same for a ClientSession that has sent BEGIN_REQUEST for `activeIds`. */
export function clientEvents(
  chunks: Buffer[],
  activeIds: number[] = [],
  options?: ClientSessionOptions,
  format?: EventFormat,
  events: Event[] = [],
): Event[] {
  const session = new ClientSession(clientRecorder(events, format), options);
  for (const id of activeIds) session.begin(id);
  for (const chunk of chunks) session.push(chunk);
  session.end();
  return events;
}

/** What the bare parser sees: [type, requestId, content] per record, the content through `bytes` (hex by default). */
export function parserEvents(chunks: Buffer[], bytes: (content: Buffer) => unknown = hexOf): Event[] {
  const events: Event[] = [];
  const parser = new RecordParser((type, id, content) => events.push([type, id, bytes(content)]));
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return events;
}

// ---------------------------------------------------------------------------

/**
 * Every ProtocolErrorCode. Compile-time exhaustive: adding a code to
 * ProtocolErrorCode fails type-checking here until it is listed, and then the
 * error table (protocol-errors) wants a row for it and the fuzzer accepts it.
 */
export const PROTOCOL_ERROR_CODES: Record<ProtocolErrorCode, true> = {
  FCGI_BAD_VERSION: true,
  FCGI_UNKNOWN_TYPE: true,
  FCGI_BAD_RECORD_LENGTH: true,
  FCGI_RECORD_TOO_LARGE: true,
  FCGI_BAD_PAIR: true,
  FCGI_PARAMS_TOO_LARGE: true,
  FCGI_OUT_OF_ORDER: true,
  FCGI_BAD_REQUEST_ID: true,
  FCGI_TRUNCATED: true,
};
