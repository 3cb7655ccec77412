// The CGI response head (RFC 3875 §6): header lines up to a blank line, where
// `Status:` carries the HTTP status and a `Location:` alone means a redirect.

import { ResponseHeadError } from './errors.js';

export interface ResponseHead {
  status: number;
  statusText: string;
  /** Lower-case names; a repeated header becomes an array. */
  headers: Record<string, string | string[]>;
  /** Names as sent, in order, `Status:` excluded. */
  rawHeaders: Array<[string, string]>;
}

/** Where the head ends in `buf`: the index after the blank line, or -1. Accepts \r\n and bare \n. */
export function findHeadEnd(buf: Buffer): number {
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) {
    // An empty head: the output starts with the blank line.
    if (i === 0) return 1;
    if (i === 1 && buf[0] === 0x0d) return 2;
    if (buf[i + 1] === 0x0a) return i + 2;
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

export function parseHead(text: string): ResponseHead {
  const headers: Record<string, string | string[]> = {};
  const rawHeaders: Array<[string, string]> = [];
  let status: number | undefined;
  let statusText = '';
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ResponseHeadError(`malformed CGI header line ${JSON.stringify(line.slice(0, 80))}: expected "Name: value"`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const key = name.toLowerCase();
    if (key === 'status') {
      const m = /^(\d{3})(?:\s+(.*))?$/.exec(value);
      if (!m) throw new ResponseHeadError(`malformed CGI Status header ${JSON.stringify(value)}: expected "Status: 404 Not Found"`);
      status = Number(m[1]);
      statusText = m[2] ?? '';
      continue;
    }
    rawHeaders.push([name, value]);
    const prev = headers[key];
    if (prev === undefined) headers[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[key] = [prev, value];
  }
  // RFC 3875 §6.2.3/§6.2.4: a Location without Status is a redirect.
  if (status === undefined) status = headers.location !== undefined ? 302 : 200;
  return { status, statusText, headers, rawHeaders };
}
