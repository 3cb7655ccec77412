// The web-server side of one FastCGI connection, without I/O: records from the
// application go in, per-request events come out. Mirrors ServerSession.

import { NULL_REQUEST_ID, RecordType, recordTypeName } from './constants.js';
import { ProtocolError, badLength, badRequestId, outOfOrder } from './errors.js';
import { decodePairs } from './pairs.js';
import { RecordParser } from './parser.js';

export interface ClientSessionHandler {
  /** A STDOUT chunk; an empty chunk ends the stream. */
  onStdout(requestId: number, chunk: Buffer): void;
  /** A STDERR chunk; an empty chunk ends the stream. */
  onStderr(requestId: number, chunk: Buffer): void;
  /** END_REQUEST (§5.5): the id is inactive from here on. */
  onEnd(requestId: number, appStatus: number, protocolStatus: number): void;
  /** GET_VALUES_RESULT (§4.1). */
  onValues(values: Map<string, string>): void;
  /** The application did not understand a management record we sent (§4.2). */
  onUnknownType(type: number): void;
}

export interface ClientSessionOptions {
  maxContentLength?: number;
}

interface RequestState {
  stdoutDone: boolean;
  stderrDone: boolean;
}

export class ClientSession {
  private readonly handler: ClientSessionHandler;
  private readonly parser: RecordParser;
  private readonly requests = new Map<number, RequestState>();

  constructor(handler: ClientSessionHandler, options: ClientSessionOptions = {}) {
    this.handler = handler;
    this.parser = new RecordParser((type, id, content) => this.onRecord(type, id, content), options);
  }

  /** Mark a request id active before sending its BEGIN_REQUEST. */
  begin(requestId: number): void {
    this.requests.set(requestId, { stdoutDone: false, stderrDone: false });
  }

  /** Forget a request (after END_REQUEST, or when giving up on it). */
  forget(requestId: number): void {
    this.requests.delete(requestId);
  }

  isActive(requestId: number): boolean {
    return this.requests.has(requestId);
  }

  get activeCount(): number {
    return this.requests.size;
  }

  push(chunk: Buffer): void {
    this.parser.push(chunk);
  }

  end(): void {
    this.parser.end();
  }

  private onRecord(type: number, id: number, content: Buffer): void {
    switch (type) {
      case RecordType.STDOUT:
      case RecordType.STDERR: {
        const req = this.active(type, id);
        if (!req) return;
        const out = type === RecordType.STDOUT;
        if (out ? req.stdoutDone : req.stderrDone) {
          throw outOfOrder(type, id, 'its stream has already ended');
        }
        if (content.length === 0) {
          if (out) req.stdoutDone = true;
          else req.stderrDone = true;
        }
        if (out) this.handler.onStdout(id, content);
        else this.handler.onStderr(id, content);
        return;
      }
      case RecordType.END_REQUEST: {
        const req = this.active(type, id);
        if (content.length !== 8) throw badLength(type, id, content.length);
        if (!req) return;
        this.requests.delete(id);
        this.handler.onEnd(id, content.readUInt32BE(0), content[4]!);
        return;
      }
      case RecordType.GET_VALUES_RESULT:
        if (id !== NULL_REQUEST_ID) throw badRequestId(type, id);
        this.handler.onValues(decodePairs(content, 'latin1', undefined, type));
        return;
      case RecordType.UNKNOWN_TYPE:
        if (id !== NULL_REQUEST_ID) throw badRequestId(type, id);
        if (content.length !== 8) throw badLength(type, id, content.length);
        this.handler.onUnknownType(content[0]!);
        return;
      default:
        throw new ProtocolError(
          'FCGI_UNKNOWN_TYPE',
          `${recordTypeName(type)} record for request ${id} is not one an application may send (FastCGI §8)`,
          id,
        );
    }
  }

  /** Records for a request we are not waiting on are ignored, as the spec does for applications (§3.3). */
  private active(type: number, id: number): RequestState | undefined {
    if (id === NULL_REQUEST_ID) {
      throw badRequestId(type, id);
    }
    return this.requests.get(id);
  }
}
