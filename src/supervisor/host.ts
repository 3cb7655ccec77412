// What the supervisor needs from the operating system, as a small interface, so
// that pools and slots can be driven in unit tests by a fake clock and fake
// processes. The real implementation lives in real-host.ts.

export interface SpawnSpec {
  command: string[];
  cwd: string | null;
  env: Record<string, string>;
  uid: number | null;
  gid: number | null;
  umask: number | null;
  /** The listening socket, and the descriptor it goes to in the worker. */
  socketFd: number;
  targetFd: number;
}

export interface ChildEvents {
  /** The process ended (or could not start: `error` set, code and signal null). */
  onExit(code: number | null, signal: NodeJS.Signals | null, error?: Error): void;
  /** One line (without the newline) from the worker's stdout or stderr. */
  onLine(stream: 'stdout' | 'stderr', line: string): void;
}

export interface Timer {
  cancel(): void;
}

export interface Host {
  now(): number;
  random(): number;
  setTimer(ms: number, fn: () => void): Timer;
  /** Start a process in a new process group. Returns its pid, or null when it could not start (onExit follows). */
  spawn(spec: SpawnSpec, events: ChildEvents): number | null;
  /** Signal a whole process group (the worker leads its own). */
  killGroup(pid: number, signal: NodeJS.Signals): void;
  /** Signal what is left of a process group whose leader is gone; false when nothing is left. */
  signalGroup(pgid: number, signal: NodeJS.Signals): boolean;
  /** Signal one process (a child of a forking worker); a process already gone is no error. */
  kill(pid: number, signal: NodeJS.Signals): void;
  /** The process's start time, which with its pid names it for good; null once it is gone. */
  processStart(pid: number): string | null;
}
