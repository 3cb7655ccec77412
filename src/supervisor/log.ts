// The logger the supervisor writes to: pino's Logger fits, and so does the
// DeferredLog that stands in for it during start-up (src/cli/deferred-log.ts).

export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

export interface Log {
  level: string;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Log;
}
