// Serializers for every FastCGI 1.0 record. Pure: they return Buffers and never
// touch a socket. Each record is padded to a multiple of 8 bytes, as §3.3
// recommends, and stream content is cut into records of at most 65535 bytes.

import {
  FLAG_KEEP_CONN,
  HEADER_LENGTH,
  MAX_CONTENT_LENGTH,
  NULL_REQUEST_ID,
  ProtocolStatus,
  RecordType,
  Role,
  VERSION,
} from './constants.js';
import { encodePairs, type PairInput } from './pairs.js';

/** Bytes of padding that bring `contentLength` to a multiple of 8. */
export function paddingFor(contentLength: number): number {
  return -contentLength & 7;
}

/** Write an 8-byte header at `offset` (§3.3, FCGI_Header). */
export function writeHeader(
  buf: Buffer,
  offset: number,
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): void {
  buf[offset] = VERSION;
  buf[offset + 1] = type;
  buf[offset + 2] = requestId >>> 8;
  buf[offset + 3] = requestId & 0xff;
  buf[offset + 4] = contentLength >>> 8;
  buf[offset + 5] = contentLength & 0xff;
  buf[offset + 6] = paddingLength;
  buf[offset + 7] = 0;
}

/** One record with `content` (at most 65535 bytes). */
export function encodeRecord(type: number, requestId: number, content: Buffer = EMPTY): Buffer {
  if (content.length > MAX_CONTENT_LENGTH) {
    throw new RangeError(`record content of ${content.length} bytes exceeds ${MAX_CONTENT_LENGTH}; use encodeStream`);
  }
  const padding = paddingFor(content.length);
  const out = Buffer.allocUnsafe(HEADER_LENGTH + content.length + padding);
  writeHeader(out, 0, type, requestId, content.length, padding);
  content.copy(out, HEADER_LENGTH);
  out.fill(0, HEADER_LENGTH + content.length);
  return out;
}

const EMPTY = Buffer.alloc(0);

/** Size on the wire of `length` bytes of stream content, without the closing empty record. */
export function streamSize(length: number): number {
  const full = Math.floor(length / MAX_CONTENT_LENGTH);
  const rest = length - full * MAX_CONTENT_LENGTH;
  return (
    full * (HEADER_LENGTH + MAX_CONTENT_LENGTH + paddingFor(MAX_CONTENT_LENGTH)) +
    (rest > 0 ? HEADER_LENGTH + rest + paddingFor(rest) : 0)
  );
}

/**
 * Write `data` as stream records of `type` into `out` at `offset`; returns the
 * offset after the last byte written. `out` must have `streamSize(data.length)`
 * bytes free. Writes nothing for empty data (an empty record would end the stream).
 */
export function writeStream(
  out: Buffer,
  offset: number,
  type: number,
  requestId: number,
  data: Buffer,
  start = 0,
  end = data.length,
): number {
  while (start < end) {
    const n = Math.min(end - start, MAX_CONTENT_LENGTH);
    const padding = paddingFor(n);
    writeHeader(out, offset, type, requestId, n, padding);
    offset += HEADER_LENGTH;
    offset += data.copy(out, offset, start, start + n);
    out.fill(0, offset, offset + padding);
    offset += padding;
    start += n;
  }
  return offset;
}

/** Stream content as records; `end: true` appends the empty record that closes the stream. */
export function encodeStream(type: number, requestId: number, data: Buffer, end = false): Buffer {
  const out = Buffer.allocUnsafe(streamSize(data.length) + (end ? HEADER_LENGTH : 0));
  const offset = writeStream(out, 0, type, requestId, data);
  if (end) writeHeader(out, offset, type, requestId, 0, 0);
  return out;
}

/** The empty record that ends a stream (§3.3). */
export function encodeStreamEnd(type: number, requestId: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH);
  writeHeader(out, 0, type, requestId, 0, 0);
  return out;
}

/** §5.1 FCGI_BeginRequestBody: role, flags, five reserved bytes. */
export function encodeBeginRequest(requestId: number, role: number = Role.RESPONDER, keepConn = false): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt16BE(role, 0);
  body[2] = keepConn ? FLAG_KEEP_CONN : 0;
  return encodeRecord(RecordType.BEGIN_REQUEST, requestId, body);
}

/** §5.4: ABORT_REQUEST has no content. */
export function encodeAbortRequest(requestId: number): Buffer {
  return encodeRecord(RecordType.ABORT_REQUEST, requestId);
}

/** Size on the wire of an END_REQUEST record. */
export const END_REQUEST_SIZE = HEADER_LENGTH + 8;

/** §5.5 FCGI_EndRequestBody: appStatus (32 bits), protocolStatus, three reserved bytes. */
export function writeEndRequest(
  out: Buffer,
  offset: number,
  requestId: number,
  appStatus: number,
  protocolStatus: number,
): number {
  writeHeader(out, offset, RecordType.END_REQUEST, requestId, 8, 0);
  out.writeUInt32BE(appStatus >>> 0, offset + HEADER_LENGTH);
  out[offset + 12] = protocolStatus;
  out[offset + 13] = 0;
  out[offset + 14] = 0;
  out[offset + 15] = 0;
  return offset + END_REQUEST_SIZE;
}

export function encodeEndRequest(
  requestId: number,
  appStatus = 0,
  protocolStatus: number = ProtocolStatus.REQUEST_COMPLETE,
): Buffer {
  const out = Buffer.allocUnsafe(END_REQUEST_SIZE);
  writeEndRequest(out, 0, requestId, appStatus, protocolStatus);
  return out;
}

/** PARAMS stream for one request, closed by the empty PARAMS record (§5.2). */
export function encodeParams(requestId: number, params: PairInput): Buffer {
  return encodeStream(RecordType.PARAMS, requestId, encodePairs(params), true);
}

/** §4.1: a GET_VALUES query names variables with empty values. */
export function encodeGetValues(names: Iterable<string>): Buffer {
  return encodeRecord(RecordType.GET_VALUES, NULL_REQUEST_ID, encodePairs([...names].map((n) => [n, ''] as const)));
}

/** §4.1: the answer to GET_VALUES. */
export function encodeGetValuesResult(values: PairInput): Buffer {
  return encodeRecord(RecordType.GET_VALUES_RESULT, NULL_REQUEST_ID, encodePairs(values));
}

/** §4.2 FCGI_UnknownTypeBody: the type that was not understood, seven reserved bytes. */
export function encodeUnknownType(type: number): Buffer {
  const body = Buffer.alloc(8);
  body[0] = type;
  return encodeRecord(RecordType.UNKNOWN_TYPE, NULL_REQUEST_ID, body);
}
