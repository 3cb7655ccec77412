// A worker's output, kept within a bound however much it writes: the start and
// the end (a traceback's last line is the one that matters), with how much was
// left out in between.

export const OUTPUT_BOUND = 64 * 1024;

export class Capture {
  private head = '';
  private tail = '';
  private droppedBytes = 0;
  private readonly headMax: number;
  private readonly tailMax: number;

  constructor(bound = OUTPUT_BOUND) {
    this.headMax = Math.floor(bound * 0.75);
    this.tailMax = bound - this.headMax;
  }

  push(text: string): void {
    if (this.droppedBytes === 0 && this.tail === '' && this.head.length + text.length <= this.headMax) {
      this.head += text;
      return;
    }
    if (this.head.length < this.headMax) {
      const room = this.headMax - this.head.length;
      this.head += text.slice(0, room);
      text = text.slice(room);
    }
    this.tail += text;
    if (this.tail.length > this.tailMax) {
      const cut = this.tail.length - this.tailMax;
      this.droppedBytes += Buffer.byteLength(this.tail.slice(0, cut));
      this.tail = this.tail.slice(cut);
    }
  }

  /** One line at a time, as realHost.spawn reports them. */
  line(text: string): void {
    this.push(`${text}\n`);
  }

  get dropped(): number {
    return this.droppedBytes;
  }

  text(): string {
    if (this.droppedBytes === 0) return this.head + this.tail;
    return `${this.head}\n… ${this.droppedBytes.toLocaleString('en-US')} bytes left out …\n${this.tail}`;
  }
}
