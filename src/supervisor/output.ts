// Splits a worker's output into lines for the log, with bounded memory: a line
// longer than MAX_LINE is cut into pieces, and the last lines of each slot are
// kept in a small ring for status and error reports (the traceback users
// otherwise hunt for).

export const MAX_LINE = 8 * 1024;

export class LineSplitter {
  private partial = '';
  constructor(private readonly emit: (line: string) => void) {}

  push(chunk: string): void {
    let text = this.partial + chunk;
    let nl: number;
    while ((nl = text.indexOf('\n')) !== -1) {
      this.emitLong(text.slice(0, nl).replace(/\r$/, ''));
      text = text.slice(nl + 1);
    }
    // A flood without newlines: cut it, never buffer it whole.
    while (text.length > MAX_LINE) {
      this.emit(text.slice(0, MAX_LINE));
      text = text.slice(MAX_LINE);
    }
    this.partial = text;
  }

  end(): void {
    if (this.partial) this.emitLong(this.partial);
    this.partial = '';
  }

  private emitLong(line: string): void {
    for (let i = 0; i < line.length; i += MAX_LINE) this.emit(line.slice(i, i + MAX_LINE));
    if (line.length === 0) this.emit('');
  }
}

export class Ring<T> {
  private readonly items: T[] = [];
  constructor(private readonly size: number) {}
  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.size) this.items.shift();
  }
  toArray(): T[] {
    return [...this.items];
  }
}
