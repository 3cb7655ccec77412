// FastCGI 1.0 wire constants. Section numbers refer to the FastCGI Specification
// (Open Market, 1996), reproduced at fastcgi-archives.github.io/FastCGI_Specification.html.

/** §8: FCGI_VERSION_1, the only version defined. */
export const VERSION = 1;

/** §8: every record starts with an 8-byte header. */
export const HEADER_LENGTH = 8;

/** §3.3: contentLength is 16 bits. */
export const MAX_CONTENT_LENGTH = 0xffff;

/** §3.3: paddingLength is 8 bits; senders should align records to 8 bytes. */
export const MAX_PADDING_LENGTH = 0xff;

/** §5.6 / FCGI_LISTENSOCK_FILENO: the listening socket a web server passes as fd 0. */
export const LISTENSOCK_FILENO = 0;

/** §3.3: requestId 0 is reserved for management records. */
export const NULL_REQUEST_ID = 0;

/** §8: record types. */
export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** §8: FCGI_MAXTYPE, the largest type this version defines. */
export const MAX_TYPE = RecordType.UNKNOWN_TYPE;

const typeNames: Record<number, string> = Object.fromEntries(
  Object.entries(RecordType).map(([name, value]) => [value, name]),
);

/** The spec name of a record type, or `type N` for one it does not define. */
export function recordTypeName(type: number): string {
  return typeNames[type] ?? `type ${type}`;
}

/** §8: roles carried by BEGIN_REQUEST. */
export const Role = {
  RESPONDER: 1,
  AUTHORIZER: 2,
  FILTER: 3,
} as const;
export type Role = (typeof Role)[keyof typeof Role];

const roleNames: Record<number, string> = Object.fromEntries(
  Object.entries(Role).map(([name, value]) => [value, name]),
);

export function roleName(role: number): string {
  return roleNames[role] ?? `role ${role}`;
}

/** §5.1: the only flag of BEGIN_REQUEST. Without it the application closes the
 * connection after answering; with it the web server owns the connection. */
export const FLAG_KEEP_CONN = 1;

/** §5.5: protocolStatus of END_REQUEST. */
export const ProtocolStatus = {
  REQUEST_COMPLETE: 0,
  CANT_MPX_CONN: 1,
  OVERLOADED: 2,
  UNKNOWN_ROLE: 3,
} as const;
export type ProtocolStatus = (typeof ProtocolStatus)[keyof typeof ProtocolStatus];

const statusNames: Record<number, string> = Object.fromEntries(
  Object.entries(ProtocolStatus).map(([name, value]) => [value, name]),
);

export function protocolStatusName(status: number): string {
  return statusNames[status] ?? `status ${status}`;
}

/** §4.1: the variables a GET_VALUES query may ask for. */
export const ValueName = {
  MAX_CONNS: 'FCGI_MAX_CONNS',
  MAX_REQS: 'FCGI_MAX_REQS',
  MPXS_CONNS: 'FCGI_MPXS_CONNS',
} as const;

/** Types that travel with requestId 0 (§3.3: management records). */
export function isManagementType(type: number): boolean {
  return type === RecordType.GET_VALUES || type === RecordType.GET_VALUES_RESULT || type === RecordType.UNKNOWN_TYPE;
}

/** §3.3 / §8: stream records; an empty one ends the stream. */
export function isStreamType(type: number): boolean {
  return (
    type === RecordType.PARAMS ||
    type === RecordType.STDIN ||
    type === RecordType.STDOUT ||
    type === RecordType.STDERR ||
    type === RecordType.DATA
  );
}
