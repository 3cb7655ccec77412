// An input `fcgid import` cannot read: one line naming the file, the line and
// the fix, e.g. `app.conf:12: unterminated quote in environment; close it`.
// Settings it understands but cannot carry over are never errors: they become
// comments in the output (draft.ts).

export class MigrateError extends Error {
  override readonly name = 'MigrateError';
  readonly code = 'FCGID_BAD_IMPORT';
  readonly file: string;
  readonly line: number | null;

  constructor(file: string, line: number | null, message: string) {
    super(`${displayName(file)}${line === null ? '' : `:${line}`}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

/** The file as messages name it: its base name (stdin is "<stdin>"). */
export function displayName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1) || file;
}
