// A config that cannot be used: every problem with file, line, key path and
// what to do. Apart from load.ts (and its node:fs) so that the supervisor core
// can tell a refused reload from any other failure.

export interface ConfigIssue {
  file: string;
  line: number | null;
  path: string;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'FCGID_BAD_CONFIG';
  readonly issues: ConfigIssue[];
  /** `issues` in the order to report them (the config reader sorts them by line). */
  constructor(issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

export function formatIssue(i: ConfigIssue): string {
  const basename = (file: string): string => file.slice(file.lastIndexOf('/') + 1);
  const where = i.line === null ? basename(i.file) : `${basename(i.file)}:${i.line}`;
  return i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

