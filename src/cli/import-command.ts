// `fcgid import`: turns a peer's config (supervisord, php-fpm, spawn-fcgi,
// lighttpd, Apache) into fcgid YAML. Filled in by src/migrate/.
import type { Command } from 'commander';

export function addImportCommand(_program: Command): void {}
