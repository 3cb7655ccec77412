import { recordTypeName } from './constants.js';

// Typed errors for malformed FastCGI input. Every failure has a stable `code`
// (the undici pattern: callers branch on the code, people read the message),
// and each message names what was wrong and where.

export type ProtocolErrorCode =
  | 'FCGI_BAD_VERSION' // header version is not 1
  | 'FCGI_UNKNOWN_TYPE' // a record type that is not allowed in this direction or state
  | 'FCGI_BAD_RECORD_LENGTH' // a fixed-size body (BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE) has the wrong length
  | 'FCGI_RECORD_TOO_LARGE' // contentLength above the configured limit
  | 'FCGI_BAD_PAIR' // a name-value pair whose length runs past the end of its block
  | 'FCGI_PARAMS_TOO_LARGE' // the params block of one request passed the limit
  | 'FCGI_OUT_OF_ORDER' // a record that the request's state does not allow
  | 'FCGI_BAD_REQUEST_ID' // a management type with a non-zero id, or a request type with id 0
  | 'FCGI_TRUNCATED'; // the connection ended inside a record

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  /** The request the error concerns, when it concerns one. */
  readonly requestId: number | undefined;

  constructor(code: ProtocolErrorCode, message: string, requestId?: number) {
    super(message);
    this.code = code;
    this.requestId = requestId;
  }
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}

/** §3.3: id 0 is for management records only, and they need id 0. */
export function badRequestId(type: number, id: number): ProtocolError {
  return new ProtocolError(
    'FCGI_BAD_REQUEST_ID',
    id === 0
      ? `${recordTypeName(type)} record with request id 0, which is reserved for management records (FastCGI §3.3)`
      : `${recordTypeName(type)} is a management record and needs request id 0, got ${id} (FastCGI §3.3)`,
    id,
  );
}

/** §8: BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE bodies are exactly 8 bytes. */
export function badLength(type: number, id: number, length: number): ProtocolError {
  return new ProtocolError(
    'FCGI_BAD_RECORD_LENGTH',
    `${recordTypeName(type)} record of request ${id} has ${length} bytes of content, expected 8 (FastCGI §8)`,
    id,
  );
}

export function outOfOrder(type: number, id: number, why: string): ProtocolError {
  return new ProtocolError('FCGI_OUT_OF_ORDER', `${recordTypeName(type)} record for request ${id} out of order: ${why}`, id);
}
