// CGI/1.1 params (RFC 3875 §4.1) for a request, built the way nginx's
// fastcgi_params does, so that a request from fcgictl or a test looks to the
// application like one from a web server.

export interface HttpLikeRequest {
  method?: string;
  /** Path and query, e.g. `/index.php?x=1`. */
  url: string;
  /** Request headers; become HTTP_* params (Content-Type and -Length without the prefix). */
  headers?: Record<string, string>;
  /** Body length, for CONTENT_LENGTH. */
  contentLength?: number;
  /** SCRIPT_FILENAME, which php-cgi and fcgiwrap need to find the script. */
  scriptFilename?: string;
  documentRoot?: string;
  /** Extra or overriding params. */
  params?: Record<string, string>;
}

export function cgiParams(req: HttpLikeRequest): Record<string, string> {
  const q = req.url.indexOf('?');
  const path = q === -1 ? req.url : req.url.slice(0, q);
  const query = q === -1 ? '' : req.url.slice(q + 1);
  const params: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'fcgid',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_NAME: 'localhost',
    SERVER_ADDR: '127.0.0.1',
    SERVER_PORT: '80',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '0',
    REQUEST_METHOD: (req.method ?? 'GET').toUpperCase(),
    REQUEST_URI: req.url,
    DOCUMENT_URI: path,
    SCRIPT_NAME: path,
    QUERY_STRING: query,
    CONTENT_TYPE: '',
    CONTENT_LENGTH: req.contentLength === undefined ? '' : String(req.contentLength),
  };
  if (req.documentRoot !== undefined) params.DOCUMENT_ROOT = req.documentRoot;
  if (req.scriptFilename !== undefined) params.SCRIPT_FILENAME = req.scriptFilename;
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    const key = name.toUpperCase().replace(/-/g, '_');
    if (key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH') params[key] = value;
    else params[`HTTP_${key}`] = value;
  }
  return Object.assign(params, req.params);
}
