// systemd's notify protocol (sd_notify(3)): READY=1, RELOADING=1, STOPPING=1,
// STATUS=..., WATCHDOG=1. Node cannot send AF_UNIX datagrams, so each message
// goes through systemd-notify(1), with --pid naming this process: as root it
// then sends with our credentials, so systemd attributes the message to the
// main process even though systemd-notify has exited (the unit also sets
// NotifyAccess=all for the unprivileged case). Messages go out in order.

import { spawn } from 'node:child_process';

export interface NotifierLog {
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export class Notifier {
  readonly enabled: boolean;
  private chain: Promise<void> = Promise.resolve();
  private warned = false;
  private watchdog: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private pendingStatus: string | null = null;
  private lastStatus = '';

  constructor(
    private readonly log: NotifierLog,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly program = 'systemd-notify',
  ) {
    this.enabled = Boolean(env.NOTIFY_SOCKET);
  }

  /** Send fields in one message; resolves when systemd-notify is done. */
  send(fields: Record<string, string>): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const args = [`--pid=${process.pid}`, ...Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)];
    this.chain = this.chain.then(
      () =>
        new Promise<void>((resolve) => {
          const child = spawn(this.program, args, { stdio: ['ignore', 'ignore', 'pipe'], env: this.env });
          let stderr = '';
          child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('error', (err) => {
            this.warnOnce(`cannot run ${this.program} (${(err as NodeJS.ErrnoException).code}); systemd will not hear READY=1: install systemd or use Type=simple`);
            resolve();
          });
          child.on('close', (code) => {
            if (code !== 0) this.warnOnce(`${this.program} ${args.join(' ')} failed with status ${code}: ${stderr.trim()}`);
            else this.log.debug({ fields }, 'sd_notify sent');
            resolve();
          });
        }),
    );
    return this.chain;
  }

  /** STATUS= at most once a second, always ending on the latest text. */
  status(text: string): void {
    if (!this.enabled || text === this.lastStatus) return;
    this.pendingStatus = text;
    if (this.statusTimer) return;
    const flush = (): void => {
      this.statusTimer = null;
      if (this.pendingStatus === null || this.pendingStatus === this.lastStatus) return;
      this.lastStatus = this.pendingStatus;
      this.pendingStatus = null;
      void this.send({ STATUS: this.lastStatus });
      this.statusTimer = setTimeout(flush, 1000);
      this.statusTimer.unref();
    };
    flush();
  }

  /** WATCHDOG=1 at half of WATCHDOG_USEC, when systemd asks for it (sd_watchdog_enabled(3)). */
  startWatchdog(): number | null {
    const usec = Number(this.env.WATCHDOG_USEC ?? 0);
    if (!this.enabled || !(usec > 0)) return null;
    if (this.env.WATCHDOG_PID && Number(this.env.WATCHDOG_PID) !== process.pid) return null;
    const every = Math.max(50, Math.floor(usec / 2000));
    this.watchdog = setInterval(() => void this.send({ WATCHDOG: '1' }), every);
    this.watchdog.unref();
    return every;
  }

  stop(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.statusTimer) clearTimeout(this.statusTimer);
  }

  /**
   * Resolves once every message sent so far is out. Await it before exiting:
   * a message queued behind one in flight (STOPPING=1 behind a STATUS=) is not
   * even spawned yet, and would be lost.
   */
  flushed(): Promise<void> {
    return this.chain;
  }

  private warnOnce(message: string): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn({}, message);
  }
}
