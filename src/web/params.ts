// The CGI params a web server sends for a URL under a pool's mount
// (docs/web-servers.md, "What the app sees"), as the configs `fcgid web-config`
// prints make nginx, Apache and lighttpd send them: `fcgictl request` and
// `fcgid doctor` use this, so that what they get is what a browser gets.

import { cgiParams, type HttpLikeRequest } from '../fastcgi/params.js';
import { APP_KINDS, LIMITS, URL_PATH, type AppKind, type WebConfig } from '../config/types.js';

/** The URL's path relative to the mount ("" for the mount itself), or null when it is not under it. */
export function underMount(mount: string, path: string): string | null {
  if (mount === '/') return path;
  if (path === mount) return '';
  return path.startsWith(`${mount}/`) ? path.slice(mount.length) : null;
}

/** A php URL's script and the PATH_INFO after it: `/a/x.php/more` → [`/a/x.php`, `/more`]; a directory's index is index.php. */
export function splitPhp(rel: string): [string, string] {
  const m = /^(.*?\.php)(\/.*)?$/.exec(rel);
  if (m) return [m[1]!, m[2] ?? ''];
  return [rel.endsWith('/') || rel === '' ? `${rel === '' ? '/' : rel}index.php` : rel, ''];
}

/**
 * Params for `req` as the web server in front would send them: SCRIPT_NAME and
 * PATH_INFO split at the mount for an app (WSGI's convention: SCRIPT_NAME is the
 * mount, "" at /), SCRIPT_FILENAME under web.root for php and cgi. A path
 * outside the mount is sent as an app at / would get it.
 */
export function webParams(web: WebConfig, req: HttpLikeRequest): Record<string, string> {
  const q = req.url.indexOf('?');
  const path = decodePath(q === -1 ? req.url : req.url.slice(0, q));
  const rel = underMount(web.mount, path) ?? path;
  const mount = web.mount === '/' || underMount(web.mount, path) === null ? '' : web.mount;
  const root = web.root.replace(/\/+$/, '');
  const derived: Record<string, string> = { DOCUMENT_ROOT: root, DOCUMENT_URI: path, REDIRECT_STATUS: '200', REQUEST_SCHEME: 'http', HTTP_HOST: 'localhost' };
  if (web.kind === 'app') {
    Object.assign(derived, { SCRIPT_NAME: mount, PATH_INFO: rel });
  } else {
    // fcgiwrap finds the script in SCRIPT_FILENAME and works out PATH_INFO itself.
    const [script, info] = web.kind === 'php' ? splitPhp(rel) : [rel, ''];
    Object.assign(derived, { SCRIPT_NAME: mount + script, SCRIPT_FILENAME: root + script, PATH_INFO: info });
  }
  const params = cgiParams({ ...req, params: undefined });
  // Headers the caller gives (Host) win over the defaults, and -p params over everything.
  return { ...params, ...derived, ...pick(params, /^HTTP_/), ...req.params };
}

function pick(params: Record<string, string>, re: RegExp): Record<string, string> {
  return Object.fromEntries(Object.entries(params).filter(([k]) => re.test(k)));
}

/** Percent-decoded, as web servers pass SCRIPT_NAME and PATH_INFO (RFC 3875 §4.1.5); a malformed escape is left as it is. */
function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** `web` with the mount, kind and root a request gives instead (`fcgictl request --mount …`); an Error naming a bad one. */
export function overrideWeb(web: WebConfig, given: { mount?: unknown; kind?: unknown; root?: unknown }): WebConfig {
  const { mount, kind, root } = given;
  if (mount !== undefined && (typeof mount !== 'string' || !URL_PATH.test(mount))) throw new Error(`mount must be a URL path like / or /app, got ${JSON.stringify(mount)}`);
  if (kind !== undefined && !APP_KINDS.includes(kind as AppKind)) throw new Error(`kind must be one of ${APP_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  if (root !== undefined && (typeof root !== 'string' || !root.startsWith('/') || Buffer.byteLength(root) > LIMITS.stringBytes)) {
    throw new Error(`root must be an absolute path, got ${JSON.stringify(root)}`);
  }
  return { ...web, mount: (mount as string | undefined) ?? web.mount, kind: (kind as AppKind | undefined) ?? web.kind, root: (root as string | undefined) ?? web.root };
}
