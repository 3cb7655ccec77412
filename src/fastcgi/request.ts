// The request a responder handler receives: a Readable of the STDIN body, with the
// CGI params exposed the way Node's http.IncomingMessage exposes a request
// (method, url, headers), so existing (req, res) handlers run with little change.

import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';

/** What a request needs from its connection: flow control of the STDIN stream. */
export interface RequestSource {
  resumeFor(requestId: number): void;
}

export class FastCGIRequest extends Readable {
  readonly requestId: number;
  readonly role: number;
  readonly keepConn: boolean;
  /** The CGI/1.1 variables as sent by the web server (RFC 3875 §4.1). */
  readonly params: Map<string, string>;
  readonly method: string;
  readonly url: string;
  /** True once the web server aborted the request or closed the connection. */
  aborted = false;

  private readonly source: RequestSource;
  private headersCache: IncomingHttpHeaders | undefined;
  private controller: AbortController | undefined;

  constructor(source: RequestSource, requestId: number, role: number, keepConn: boolean, params: Map<string, string>) {
    super();
    this.source = source;
    this.requestId = requestId;
    this.role = role;
    this.keepConn = keepConn;
    this.params = params;
    this.method = params.get('REQUEST_METHOD') ?? 'GET';
    this.url = requestUrl(params);
  }

  /** HTTP headers rebuilt from HTTP_* params, lower-case as in Node's http. */
  get headers(): IncomingHttpHeaders {
    if (!this.headersCache) this.headersCache = headersFromParams(this.params);
    return this.headersCache;
  }

  get httpVersion(): string {
    const proto = this.params.get('SERVER_PROTOCOL') ?? 'HTTP/1.1';
    return proto.startsWith('HTTP/') ? proto.slice(5) : '1.1';
  }

  get remoteAddress(): string | undefined {
    return this.params.get('REMOTE_ADDR');
  }

  /** Aborted when the web server aborts the request or drops the connection. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  override _read(): void {
    this.source.resumeFor(this.requestId);
  }

  /** Called by the connection; emits 'aborted' and ends the body stream. */
  markAborted(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.controller?.abort();
    this.emit('aborted');
    if (!this.readableEnded) this.destroy();
  }
}

/** REQUEST_URI when the server sends it (nginx, Apache, lighttpd do); else rebuilt from RFC 3875 variables. */
function requestUrl(params: Map<string, string>): string {
  const uri = params.get('REQUEST_URI');
  if (uri) return uri;
  const path = (params.get('SCRIPT_NAME') ?? '') + (params.get('PATH_INFO') ?? '');
  const query = params.get('QUERY_STRING');
  return (path || '/') + (query ? `?${query}` : '');
}

export function headersFromParams(params: Map<string, string>): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of params) {
    if (name.startsWith('HTTP_')) {
      headers[name.slice(5).toLowerCase().replace(/_/g, '-')] = value;
    } else if (name === 'CONTENT_TYPE' || name === 'CONTENT_LENGTH') {
      // RFC 3875 §4.1.2/§4.1.3: these two headers travel without the HTTP_ prefix.
      if (value !== '') headers[name.toLowerCase().replace('_', '-')] = value;
    }
  }
  return headers;
}
