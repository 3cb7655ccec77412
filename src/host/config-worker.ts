// Reads and checks a config file on a worker thread, for a reload: parsing a
// large config (up to 1 MiB) takes tens to hundreds of milliseconds, and the
// daemon's event loop (respawns, the control socket) must not wait for it.
// Answers { config } or { issues } (a refused config), or { error }.

import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, loadConfig } from '../config/load.js';

const { file } = workerData as { file: string };
try {
  parentPort!.postMessage({ config: loadConfig(file) });
} catch (err) {
  if (err instanceof ConfigError) parentPort!.postMessage({ issues: err.issues });
  else parentPort!.postMessage({ error: (err as Error).message });
}
