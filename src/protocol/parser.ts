// Incremental record parser: feed it chunks split anywhere, it calls back once per
// complete record. It keeps at most one record's content in memory (a copy is made
// only when a record straddles chunks; otherwise the content is a view of the
// chunk), so malformed or hostile input cannot make it buffer without bound.

import { HEADER_LENGTH, MAX_CONTENT_LENGTH, VERSION, recordTypeName } from './constants.js';
import { ProtocolError } from './errors.js';

export type RecordHandler = (type: number, requestId: number, content: Buffer) => void;

export interface ParserOptions {
  /** Largest contentLength accepted; the format's own maximum is 65535. */
  maxContentLength?: number;
}

const EMPTY = Buffer.alloc(0);

export class RecordParser {
  private readonly onRecord: RecordHandler;
  private readonly maxContentLength: number;

  private readonly header = Buffer.alloc(HEADER_LENGTH);
  private headerFilled = 0;
  private inBody = false;
  private type = 0;
  private requestId = 0;
  private contentLength = 0;
  /** Content of a record that straddles chunks, filled as chunks arrive. */
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private paddingLeft = 0;
  private failed: ProtocolError | null = null;

  constructor(onRecord: RecordHandler, options: ParserOptions = {}) {
    this.onRecord = onRecord;
    this.maxContentLength = Math.min(options.maxContentLength ?? MAX_CONTENT_LENGTH, MAX_CONTENT_LENGTH);
  }

  /** True when the input so far ends inside a record. */
  get midRecord(): boolean {
    return this.headerFilled > 0 || this.inBody || this.paddingLeft > 0;
  }

  /** Feed bytes. Throws ProtocolError on malformed input; after that every call throws it again. */
  push(chunk: Buffer): void {
    if (this.failed) throw this.failed;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.paddingLeft > 0) {
        const skip = Math.min(this.paddingLeft, n - i);
        this.paddingLeft -= skip;
        i += skip;
        continue;
      }
      if (!this.inBody) {
        if (this.headerFilled === 0 && n - i >= HEADER_LENGTH) {
          this.readHeader(chunk, i);
          i += HEADER_LENGTH;
        } else {
          const take = Math.min(HEADER_LENGTH - this.headerFilled, n - i);
          chunk.copy(this.header, this.headerFilled, i, i + take);
          this.headerFilled += take;
          i += take;
          if (this.headerFilled < HEADER_LENGTH) break;
          this.headerFilled = 0;
          this.readHeader(this.header, 0);
        }
        if (this.contentLength === 0) {
          this.emit(EMPTY);
        }
        continue;
      }
      // In a record body with contentLength > 0.
      if (this.body === null && n - i >= this.contentLength) {
        const content = chunk.subarray(i, i + this.contentLength);
        i += this.contentLength;
        this.emit(content);
        continue;
      }
      if (this.body === null) {
        this.body = Buffer.allocUnsafe(this.contentLength);
        this.bodyFilled = 0;
      }
      const take = Math.min(this.contentLength - this.bodyFilled, n - i);
      chunk.copy(this.body, this.bodyFilled, i, i + take);
      this.bodyFilled += take;
      i += take;
      if (this.bodyFilled === this.contentLength) {
        const content = this.body;
        this.body = null;
        this.emit(content);
      }
    }
  }

  /** Call when the input ends; throws if it ended inside a record. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.midRecord) {
      // Past a header, type and requestId are still those of the unfinished record.
      const inRecord = this.inBody || this.paddingLeft > 0;
      this.failed = new ProtocolError(
        'FCGI_TRUNCATED',
        inRecord
          ? `connection ended inside the ${this.inBody ? 'content' : 'padding'} of a ${recordTypeName(this.type)} record for request ${this.requestId}`
          : 'connection ended inside a record header',
        inRecord ? this.requestId : undefined,
      );
      throw this.failed;
    }
  }

  private readHeader(buf: Buffer, at: number): void {
    const version = buf[at]!;
    this.type = buf[at + 1]!;
    this.requestId = (buf[at + 2]! << 8) | buf[at + 3]!;
    this.contentLength = (buf[at + 4]! << 8) | buf[at + 5]!;
    const paddingLength = buf[at + 6]!;
    if (version !== VERSION) {
      this.fail(
        new ProtocolError(
          'FCGI_BAD_VERSION',
          `record header has version ${version}, expected ${VERSION} (FastCGI §3.3); is the peer speaking FastCGI?`,
        ),
      );
    }
    if (this.contentLength > this.maxContentLength) {
      this.fail(
        new ProtocolError(
          'FCGI_RECORD_TOO_LARGE',
          `${recordTypeName(this.type)} record of ${this.contentLength} bytes for request ${this.requestId} exceeds the limit of ${this.maxContentLength}`,
          this.requestId,
        ),
      );
    }
    this.inBody = this.contentLength > 0;
    this.pendingPadding = paddingLength;
  }

  /** Padding of the current record, skipped after its content. */
  private pendingPadding = 0;

  private emit(content: Buffer): void {
    this.inBody = false;
    this.paddingLeft = this.pendingPadding;
    this.pendingPadding = 0;
    try {
      this.onRecord(this.type, this.requestId, content);
    } catch (err) {
      if (err instanceof ProtocolError) this.failed = err;
      throw err;
    }
  }

  private fail(err: ProtocolError): never {
    this.failed = err;
    throw err;
  }
}
