// Name-value pairs (§3.4): each length is one byte when below 128, otherwise four
// bytes big-endian with the top bit set. Used by PARAMS, GET_VALUES and
// GET_VALUES_RESULT. Pure functions over Buffers.

import { recordTypeName } from './constants.js';
import { ProtocolError } from './errors.js';

/** §3.4: a four-byte length has 31 bits. */
export const MAX_PAIR_LENGTH = 0x7fffffff;

export type PairInput = Iterable<readonly [string, string | Buffer]> | Record<string, string | Buffer>;

function entriesOf(pairs: PairInput): Iterable<readonly [string, string | Buffer]> {
  return Symbol.iterator in pairs
    ? (pairs as Iterable<readonly [string, string | Buffer]>)
    : Object.entries(pairs as Record<string, string | Buffer>);
}

function lengthSize(n: number): number {
  return n < 0x80 ? 1 : 4;
}

function writeLength(buf: Buffer, offset: number, n: number): number {
  if (n < 0x80) {
    buf[offset] = n;
    return offset + 1;
  }
  buf.writeUInt32BE((n | 0x80000000) >>> 0, offset);
  return offset + 4;
}

/**
 * Encode pairs into one Buffer. Names and string values are written as UTF-8;
 * pass a Buffer to send exact bytes.
 */
export function encodePairs(pairs: PairInput): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (const [name, value] of entriesOf(pairs)) {
    const n = Buffer.from(name, 'utf8');
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (n.length > MAX_PAIR_LENGTH || v.length > MAX_PAIR_LENGTH) {
      throw new RangeError(`name-value pair ${name} is longer than ${MAX_PAIR_LENGTH} bytes (FastCGI §3.4)`);
    }
    parts.push(n, v);
    total += lengthSize(n.length) + lengthSize(v.length) + n.length + v.length;
  }
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < parts.length; i += 2) {
    const n = parts[i]!;
    const v = parts[i + 1]!;
    offset = writeLength(out, offset, n.length);
    offset = writeLength(out, offset, v.length);
    offset += n.copy(out, offset);
    offset += v.copy(out, offset);
  }
  return out;
}

/**
 * Decode a complete block of pairs. Strings are decoded as latin1 by default, so
 * every byte survives (Node's http module does the same for the URL and headers).
 * A later duplicate name replaces an earlier one. `requestId` and `type` only
 * serve to name the block in error messages.
 */
export function decodePairs(
  block: Buffer,
  encoding: BufferEncoding = 'latin1',
  requestId?: number,
  type?: number,
): Map<string, string> {
  const out = new Map<string, string>();
  const end = block.length;
  let offset = 0;
  while (offset < end) {
    let nameLength = block[offset]!;
    if (nameLength & 0x80) {
      if (offset + 4 > end) throw truncated('name length', offset, requestId, type);
      nameLength = block.readUInt32BE(offset) & MAX_PAIR_LENGTH;
      offset += 4;
    } else {
      offset += 1;
    }
    if (offset >= end) throw truncated('value length', offset, requestId, type);
    let valueLength = block[offset]!;
    if (valueLength & 0x80) {
      if (offset + 4 > end) throw truncated('value length', offset, requestId, type);
      valueLength = block.readUInt32BE(offset) & MAX_PAIR_LENGTH;
      offset += 4;
    } else {
      offset += 1;
    }
    if (offset + nameLength + valueLength > end) {
      throw new ProtocolError(
        'FCGI_BAD_PAIR',
        `name-value pair at byte ${offset} of the ${blockName(requestId, type)} declares ${nameLength}+${valueLength} bytes but the block has ${end - offset} left (FastCGI §3.4)`,
        requestId,
      );
    }
    const name = block.toString(encoding, offset, offset + nameLength);
    offset += nameLength;
    out.set(name, block.toString(encoding, offset, offset + valueLength));
    offset += valueLength;
  }
  return out;
}

function truncated(what: string, offset: number, requestId?: number, type?: number): ProtocolError {
  return new ProtocolError(
    'FCGI_BAD_PAIR',
    `name-value pair truncated: the ${blockName(requestId, type)} ends inside the ${what} at byte ${offset} (FastCGI §3.4)`,
    requestId,
  );
}

/** "PARAMS block of request 1", "GET_VALUES block", or just "block". */
function blockName(requestId?: number, type?: number): string {
  const kind = type === undefined ? 'block' : `${recordTypeName(type)} block`;
  return requestId === undefined ? kind : `${kind} of request ${requestId}`;
}
