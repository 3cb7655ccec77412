// One error class per way a FastCGI exchange can fail, each with a stable `code`
// (the undici pattern). Messages name the address and what to check.

export class FastCGIError extends Error {
  override name = 'FastCGIError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The socket could not be reached: ECONNREFUSED, ENOENT, EACCES... in `cause`. */
export class ConnectError extends FastCGIError {
  override name = 'ConnectError';
  constructor(address: string, cause: NodeJS.ErrnoException) {
    super('FCGI_CONNECT_FAILED', `cannot connect to ${address}: ${cause.code ?? cause.message}${hint(cause.code)}`, { cause });
  }
}

function hint(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return ' (no socket file there: is the application running, and is the path right?)';
    case 'ECONNREFUSED':
      return ' (nothing is listening there: is the application running?)';
    case 'EACCES':
      return ' (permission denied: check the socket file mode and owner)';
    default:
      return '';
  }
}

export class ConnectTimeoutError extends FastCGIError {
  override name = 'ConnectTimeoutError';
  constructor(address: string, ms: number) {
    super('FCGI_CONNECT_TIMEOUT', `connecting to ${address} took longer than ${ms} ms`);
  }
}

/** No byte arrived from the application for the inactivity timeout. */
export class InactivityTimeoutError extends FastCGIError {
  override name = 'InactivityTimeoutError';
  constructor(address: string, ms: number) {
    super('FCGI_TIMEOUT', `${address} sent nothing for ${ms} ms; the request was aborted`);
  }
}

/** The application closed the connection before END_REQUEST. */
export class ConnectionClosedError extends FastCGIError {
  override name = 'ConnectionClosedError';
  constructor(address: string, detail = '') {
    super('FCGI_CONNECTION_CLOSED', `${address} closed the connection before ending the request${detail}`);
  }
}

export class RequestAbortedError extends FastCGIError {
  override name = 'AbortError';
  constructor() {
    super('FCGI_ABORTED', 'the request was aborted');
  }
}

/** END_REQUEST came with a protocolStatus other than REQUEST_COMPLETE (§5.5). */
export class RequestRejectedError extends FastCGIError {
  override name = 'RequestRejectedError';
  readonly protocolStatus: number;
  constructor(address: string, protocolStatus: number, statusName: string) {
    super('FCGI_REJECTED', `${address} refused the request: ${statusName}`);
    this.protocolStatus = protocolStatus;
  }
}

/** The application's output does not start with a CGI header section (RFC 3875 §6.2). */
export class ResponseHeadError extends FastCGIError {
  override name = 'ResponseHeadError';
  constructor(message: string) {
    super('FCGI_BAD_RESPONSE_HEAD', message);
  }
}
