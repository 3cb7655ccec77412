// The application side of one FastCGI connection, without I/O: records from the
// web server go in, per-request events come out. It tracks each request id's
// state (§3.3: an id is active from BEGIN_REQUEST until the application sends
// END_REQUEST) and rejects records that the state does not allow.

import { NULL_REQUEST_ID, ProtocolStatus, RecordType, Role, recordTypeName, roleName } from './constants.js';
import { ProtocolError, badLength, badRequestId, outOfOrder } from './errors.js';
import { decodePairs } from './pairs.js';
import { RecordParser } from './parser.js';

export interface ServerSessionHandler {
  /** A request began and was accepted; PARAMS follow. */
  onBegin(requestId: number, role: number, keepConn: boolean): void;
  /** The params stream is complete. */
  onParams(requestId: number, params: Map<string, string>): void;
  /** A STDIN chunk; an empty chunk ends the stream. */
  onStdin(requestId: number, chunk: Buffer): void;
  /** A DATA chunk (FILTER role only); an empty chunk ends the stream. */
  onData(requestId: number, chunk: Buffer): void;
  /** The web server aborted the request (§5.4); END_REQUEST must still be sent. */
  onAbort(requestId: number): void;
  /** The session refused a request: answer END_REQUEST with this protocolStatus (§5.5). */
  onReject(requestId: number, protocolStatus: number): void;
  /** GET_VALUES query (§4.1). */
  onGetValues(names: string[]): void;
  /** A management record of a type this library does not know: answer UNKNOWN_TYPE (§4.2). */
  onUnknownType(type: number): void;
}

export interface ServerSessionOptions {
  /** Largest total size of one request's params block. Default 1 MiB. */
  maxParamsLength?: number;
  /** Requests active at once on the connection; more are answered OVERLOADED. Default 100. */
  maxConcurrentRequests?: number;
  /** Accept several requests at once on one connection (§3.3). Default true. */
  multiplex?: boolean;
  /** Roles served; others are answered UNKNOWN_ROLE. Default RESPONDER only. */
  roles?: Iterable<number>;
  /** Largest record content accepted. Default 65535. */
  maxContentLength?: number;
}

const enum Phase {
  Params,
  Input,
}

interface RequestState {
  phase: Phase;
  role: number;
  params: Buffer[];
  paramsLength: number;
  stdinDone: boolean;
  dataDone: boolean;
  aborted: boolean;
}

export const DEFAULT_MAX_PARAMS_LENGTH = 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 100;

export class ServerSession {
  private readonly handler: ServerSessionHandler;
  private readonly parser: RecordParser;
  private readonly requests = new Map<number, RequestState>();
  private readonly maxParamsLength: number;
  readonly maxConcurrentRequests: number;
  readonly multiplex: boolean;
  private readonly roles: Set<number>;
  /** Bytes of params blocks begun and not yet complete, held until they are. */
  private buffered = 0;

  constructor(handler: ServerSessionHandler, options: ServerSessionOptions = {}) {
    this.handler = handler;
    this.maxParamsLength = options.maxParamsLength ?? DEFAULT_MAX_PARAMS_LENGTH;
    this.maxConcurrentRequests = options.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS;
    this.multiplex = options.multiplex ?? true;
    this.roles = new Set(options.roles ?? [Role.RESPONDER]);
    this.parser = new RecordParser((type, id, content) => this.onRecord(type, id, content), {
      maxContentLength: options.maxContentLength,
    });
  }

  /** Number of requests begun and not yet finished. */
  get activeCount(): number {
    return this.requests.size;
  }

  /** Bytes of params this session holds for requests whose params have not ended (a responder's memory budget counts them). */
  get bufferedParams(): number {
    return this.buffered;
  }

  isActive(requestId: number): boolean {
    return this.requests.has(requestId);
  }

  push(chunk: Buffer): void {
    this.parser.push(chunk);
  }

  /** The web server closed its side; throws if that happened inside a record. */
  end(): void {
    this.parser.end();
  }

  /** The application sent END_REQUEST: the id becomes inactive (§3.3). */
  finish(requestId: number): void {
    const req = this.requests.get(requestId);
    if (req?.phase === Phase.Params) this.buffered -= req.paramsLength;
    this.requests.delete(requestId);
  }

  private onRecord(type: number, id: number, content: Buffer): void {
    switch (type) {
      case RecordType.BEGIN_REQUEST:
        return this.begin(id, content);
      case RecordType.PARAMS:
        return this.params(id, content);
      case RecordType.STDIN:
        return this.stdin(id, content);
      case RecordType.DATA:
        return this.data(id, content);
      case RecordType.ABORT_REQUEST: {
        const req = this.active(id, type);
        if (req && !req.aborted) {
          req.aborted = true;
          this.handler.onAbort(id);
        }
        return;
      }
      case RecordType.GET_VALUES:
        if (id !== NULL_REQUEST_ID) throw badRequestId(type, id);
        this.handler.onGetValues([...decodePairs(content, 'latin1', undefined, type).keys()]);
        return;
      default:
        // §4.2: a management record we do not understand is answered, not fatal.
        if (id === NULL_REQUEST_ID) return this.handler.onUnknownType(type);
        throw new ProtocolError(
          'FCGI_UNKNOWN_TYPE',
          `${recordTypeName(type)} record for request ${id} is not one a web server may send (FastCGI §8)`,
          id,
        );
    }
  }

  private begin(id: number, content: Buffer): void {
    if (id === NULL_REQUEST_ID) throw badRequestId(RecordType.BEGIN_REQUEST, id);
    if (content.length !== 8) throw badLength(RecordType.BEGIN_REQUEST, id, content.length);
    if (this.requests.has(id)) {
      throw new ProtocolError('FCGI_OUT_OF_ORDER', `BEGIN_REQUEST for request ${id}, which is already active (FastCGI §3.3)`, id);
    }
    const role = content.readUInt16BE(0);
    const keepConn = (content[2]! & 1) === 1;
    if (!this.roles.has(role)) return this.handler.onReject(id, ProtocolStatus.UNKNOWN_ROLE);
    if (!this.multiplex && this.requests.size > 0) return this.handler.onReject(id, ProtocolStatus.CANT_MPX_CONN);
    if (this.requests.size >= this.maxConcurrentRequests) return this.handler.onReject(id, ProtocolStatus.OVERLOADED);
    this.requests.set(id, {
      phase: Phase.Params,
      role,
      params: [],
      paramsLength: 0,
      stdinDone: false,
      dataDone: false,
      aborted: false,
    });
    this.handler.onBegin(id, role, keepConn);
  }

  private params(id: number, content: Buffer): void {
    const req = this.active(id, RecordType.PARAMS);
    if (!req) return;
    if (req.phase !== Phase.Params) throw outOfOrder(RecordType.PARAMS, id, 'its params stream has already ended');
    if (content.length > 0) {
      req.paramsLength += content.length;
      this.buffered += content.length;
      if (req.paramsLength > this.maxParamsLength) {
        throw new ProtocolError(
          'FCGI_PARAMS_TOO_LARGE',
          `params of request ${id} exceed the limit of ${this.maxParamsLength} bytes (raise maxParamsLength if this is legitimate)`,
          id,
        );
      }
      // A view of the socket's chunk (chunks are never reused) unless it is a small
      // part of it: a few bytes must not keep a whole 64 KiB chunk alive.
      req.params.push(content.length * 4 >= content.buffer.byteLength ? content : Buffer.from(content));
      return;
    }
    this.buffered -= req.paramsLength;
    req.phase = Phase.Input;
    const block = req.params.length === 1 ? req.params[0]! : Buffer.concat(req.params, req.paramsLength);
    req.params = [];
    const params = decodePairs(block, 'latin1', id, RecordType.PARAMS);
    if (!req.aborted) this.handler.onParams(id, params);
  }

  private stdin(id: number, content: Buffer): void {
    const req = this.active(id, RecordType.STDIN);
    if (!req) return;
    if (req.phase !== Phase.Input) throw outOfOrder(RecordType.STDIN, id, 'its params stream has not ended');
    if (req.stdinDone) throw outOfOrder(RecordType.STDIN, id, 'its stdin stream has already ended');
    if (content.length === 0) req.stdinDone = true;
    if (!req.aborted) this.handler.onStdin(id, content);
  }

  private data(id: number, content: Buffer): void {
    const req = this.active(id, RecordType.DATA);
    if (!req) return;
    if (req.role !== Role.FILTER) throw outOfOrder(RecordType.DATA, id, `DATA belongs to the FILTER role, not ${roleName(req.role)}`);
    if (req.phase !== Phase.Input) throw outOfOrder(RecordType.DATA, id, 'its params stream has not ended');
    if (req.dataDone) throw outOfOrder(RecordType.DATA, id, 'its data stream has already ended');
    if (content.length === 0) req.dataDone = true;
    if (!req.aborted) this.handler.onData(id, content);
  }

  /** §3.3: records for an inactive id are ignored. */
  private active(id: number, type: number): RequestState | undefined {
    if (id === NULL_REQUEST_ID) throw badRequestId(type, id);
    return this.requests.get(id);
  }
}
