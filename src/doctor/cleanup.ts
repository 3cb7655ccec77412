// Everything the doctor starts is undone on every way out: a normal end, an
// error, and SIGINT, SIGTERM or SIGHUP of the doctor itself (then it exits
// 128 + the signal's number, as a shell reports it). Steps are synchronous,
// so that they can run from a signal handler and from 'exit'.

import { constants } from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class Cleanup {
  private readonly steps: Array<() => void> = [];
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.run();
    process.exit(128 + (constants.signals[signal] ?? 0));
  };
  private readonly onExit = (): void => this.run();

  /** Handlers stay until disarm(): a signal or an early exit then undoes what was added so far. */
  arm(): void {
    for (const s of SIGNALS) process.on(s, this.onSignal);
    process.on('exit', this.onExit);
  }

  disarm(): void {
    for (const s of SIGNALS) process.off(s, this.onSignal);
    process.off('exit', this.onExit);
  }

  /** A step, run last-added-first. */
  add(step: () => void): void {
    this.steps.push(step);
  }

  /** Run every step once; one that throws does not keep the others from running. */
  run(): void {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        step();
      } catch {
        // Best effort: what is gone already needs no undoing.
      }
    }
  }
}
