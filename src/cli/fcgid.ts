// `fcgid`: the daemon's command line. Subcommands arrive with the daemon
// (start, check); this file only wires commander to them.
import { Command } from 'commander';
import { VERSION } from './version.js';

export function fcgidProgram(): Command {
  return new Command('fcgid')
    .description('Process manager for FastCGI applications: pools of pre-forked workers on a shared socket')
    .version(VERSION, '-V, --version')
    .showHelpAfterError();
}

await fcgidProgram().parseAsync(process.argv);
