// The supervisor's failures, each with a stable code (undici's pattern): the
// control API maps them to HTTP statuses, `fcgid start` to exit statuses.

import type { ConfigIssue } from '../config/errors.js';

export class StartError extends Error {
  override readonly name = 'StartError';
  /** 2 for a config the machine cannot honour, 1 for a runtime failure. */
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

export type CommandErrorCode = 'FCGID_UNKNOWN_POOL' | 'FCGID_BAD_REQUEST' | 'FCGID_STOPPING' | 'FCGID_BUSY' | 'FCGID_RELOAD_FAILED';

/** A command that names something that is not there, or cannot be done now. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly code: CommandErrorCode,
    message: string,
    readonly issues?: ConfigIssue[],
  ) {
    super(message);
  }
}
