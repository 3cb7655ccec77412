// The response a responder handler writes: the API of Node's http.ServerResponse
// (statusCode, setHeader, writeHead, write, end, 'drain', 'finish', 'close'),
// rendered as a CGI response (RFC 3875 §6: `Status:` line, headers, blank line)
// inside FCGI_STDOUT records, closed by an empty STDOUT and END_REQUEST (§5.5).

import { STATUS_CODES, validateHeaderName, validateHeaderValue, type OutgoingHttpHeaders } from 'node:http';
import { Stream } from 'node:stream';
import {
  END_REQUEST_SIZE,
  HEADER_LENGTH,
  MAX_CONTENT_LENGTH,
  ProtocolStatus,
  RecordType,
  paddingFor,
  streamSize,
  writeEndRequest,
  writeHeader,
  writeStream,
  encodeStream,
} from '../protocol/index.js';

/** What a response needs from its connection. */
export interface ResponseSink {
  /** Write bytes to the socket; false means the socket's buffer is full (wait for 'drain'). */
  send(data: Buffer, callback?: (err?: Error | null) => void): boolean;
  /** Call `listener` once when the socket's buffer has drained. */
  onceDrain(listener: () => void): void;
  /** END_REQUEST was sent: the request id becomes inactive. */
  done(requestId: number): void;
}

type HeaderValue = string | number | readonly string[];
type Callback = (err?: Error | null) => void;

export class FastCGIResponse extends Stream {
  readonly requestId: number;
  statusCode = 200;
  statusMessage: string | undefined;
  /** END_REQUEST's appStatus (§5.5), like a CGI program's exit status. */
  appStatus = 0;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  /** The request was aborted or its connection closed: writes are dropped. */
  destroyed = false;

  private readonly sink: ResponseSink;
  private readonly headerMap = new Map<string, { name: string; value: HeaderValue }>();
  private waitingDrain = false;

  constructor(sink: ResponseSink, requestId: number) {
    super();
    this.sink = sink;
    this.requestId = requestId;
  }

  setHeader(name: string, value: HeaderValue): this {
    if (this.headersSent) throw new Error(`cannot set header ${name}: the response head was already sent`);
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    this.headerMap.set(name.toLowerCase(), { name, value });
    return this;
  }

  getHeader(name: string): HeaderValue | undefined {
    return this.headerMap.get(name.toLowerCase())?.value;
  }

  getHeaders(): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    for (const [key, { value }] of this.headerMap) out[key] = value as string | number | string[];
    return out;
  }

  getHeaderNames(): string[] {
    return [...this.headerMap.keys()];
  }

  hasHeader(name: string): boolean {
    return this.headerMap.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    if (this.headersSent) throw new Error(`cannot remove header ${name}: the response head was already sent`);
    this.headerMap.delete(name.toLowerCase());
  }

  writeHead(
    statusCode: number,
    messageOrHeaders?: string | OutgoingHttpHeaders | readonly string[],
    headers?: OutgoingHttpHeaders | readonly string[],
  ): this {
    if (this.headersSent) throw new Error('writeHead: the response head was already sent');
    if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 999) {
      throw new RangeError(`invalid status code ${statusCode}`);
    }
    this.statusCode = statusCode;
    if (typeof messageOrHeaders === 'string') this.statusMessage = messageOrHeaders;
    else headers = messageOrHeaders;
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) this.setHeader(headers[i]!, headers[i + 1]!);
    } else if (headers) {
      for (const [k, v] of Object.entries(headers as OutgoingHttpHeaders)) if (v !== undefined) this.setHeader(k, v);
    }
    return this;
  }

  /** Send the head now, before any body. */
  flushHeaders(): void {
    if (this.headersSent || this.destroyed) return;
    this.sink.send(this.frame(null, false));
  }

  write(chunk: string | Uint8Array, encoding?: BufferEncoding | Callback, callback?: Callback): boolean {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (this.writableEnded || this.destroyed) return this.refuse(callback);
    const data = toBuffer(chunk, encoding);
    if (data.length === 0 && this.headersSent) {
      if (callback) process.nextTick(callback);
      return true;
    }
    const ok = this.sink.send(this.frame(data, false), callback);
    if (!ok) this.awaitDrain();
    return ok;
  }

  end(chunk?: string | Uint8Array | Callback, encoding?: BufferEncoding | Callback, callback?: Callback): this {
    if (typeof chunk === 'function') {
      callback = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (this.writableEnded || this.destroyed) {
      if (callback) process.nextTick(callback);
      return this;
    }
    const data = chunk === undefined ? null : toBuffer(chunk, encoding as BufferEncoding | undefined);
    if (!this.headersSent && !this.headerMap.has('content-length') && !this.headerMap.has('transfer-encoding')) {
      // Like Node's http: a body given whole to end() gets its length, so the web
      // server can keep its client connection alive without chunking.
      this.headerMap.set('content-length', { name: 'Content-Length', value: String(data?.length ?? 0) });
    }
    this.writableEnded = true;
    this.sink.send(this.frame(data, true), (err) => {
      this.writableFinished = !err;
      if (!err) this.emit('finish');
      this.emit('close');
      callback?.(err);
    });
    this.sink.done(this.requestId);
    return this;
  }

  /** Send text on the request's FCGI_STDERR stream; web servers log it. */
  writeStderr(chunk: string | Uint8Array): boolean {
    if (this.writableEnded || this.destroyed) return false;
    const data = toBuffer(chunk, 'utf8');
    if (data.length === 0) return true;
    return this.sink.send(encodeStream(RecordType.STDERR, this.requestId, data));
  }

  /** The request was aborted: drop further output (called by the connection). */
  markDestroyed(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (!this.writableEnded) this.emit('close');
  }

  private refuse(callback?: Callback): boolean {
    if (callback) {
      const err = new Error(this.destroyed ? 'the request was aborted' : 'write after end');
      process.nextTick(callback, err);
    }
    return false;
  }

  private awaitDrain(): void {
    if (this.waitingDrain) return;
    this.waitingDrain = true;
    this.sink.onceDrain(() => {
      this.waitingDrain = false;
      if (!this.destroyed) this.emit('drain');
    });
  }

  private renderHead(): string {
    let head = `Status: ${this.statusCode} ${this.statusMessage ?? STATUS_CODES[this.statusCode] ?? 'Unknown'}\r\n`;
    for (const { name, value } of this.headerMap.values()) {
      if (typeof value === 'object') for (const v of value) head += `${name}: ${v}\r\n`;
      else head += `${name}: ${value}\r\n`;
    }
    return head + '\r\n';
  }

  /** The bytes for the head (if not sent yet), `data`, and when `end`, the stream end and END_REQUEST, in one Buffer. */
  private frame(data: Buffer | null, end: boolean): Buffer {
    const head = this.headersSent ? null : this.renderHead();
    this.headersSent = true;
    const headLength = head === null ? 0 : Buffer.byteLength(head, 'latin1');
    const dataLength = data?.length ?? 0;
    const total = headLength + dataLength;
    const tail = end ? HEADER_LENGTH + END_REQUEST_SIZE : 0;
    const out = Buffer.allocUnsafe(streamSize(total) + tail);
    let offset = 0;
    if (total <= MAX_CONTENT_LENGTH) {
      if (total > 0) {
        const padding = paddingFor(total);
        writeHeader(out, 0, RecordType.STDOUT, this.requestId, total, padding);
        offset = HEADER_LENGTH;
        if (head !== null) offset += out.write(head, offset, 'latin1');
        if (data) offset += data.copy(out, offset);
        out.fill(0, offset, offset + padding);
        offset += padding;
      }
    } else {
      const content = head === null ? data! : Buffer.concat([Buffer.from(head, 'latin1'), data ?? Buffer.alloc(0)]);
      offset = writeStream(out, 0, RecordType.STDOUT, this.requestId, content);
    }
    if (end) {
      writeHeader(out, offset, RecordType.STDOUT, this.requestId, 0, 0);
      writeEndRequest(out, offset + HEADER_LENGTH, this.requestId, this.appStatus, ProtocolStatus.REQUEST_COMPLETE);
    }
    return out;
  }
}

function toBuffer(chunk: string | Uint8Array, encoding?: BufferEncoding): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
