// The worker slot state machine (DESIGN.md §3) driven by a fake host: a fake
// clock, fake pids, recorded signals. Every (state, event) pair of TABLE is
// checked for where it lands, and walked (exits as they are classified); then
// the paths operators rely on: start, backoff, fatal with the
// worker's last stderr lines, restart policies, graceful stop, rolling replacement.

import { describe, expect, it } from 'vitest';
import type { PoolConfig } from '../../src/config/types.js';
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffDelay } from '../../src/supervisor/backoff.js';
import { fmtMs } from '../../src/supervisor/format.js';
import { EVENTS, EXIT_KINDS, IGNORE, SLOT_EVENTS, SLOT_STATES, Slot, TABLE, classifyExit, type ExitKind, type SlotEvent, type SlotEventType, type SlotState, RECYCLE_FLOOR_MS, KILLED_PAUSE_MAX_MS } from '../../src/supervisor/slot.js';
import { FakeHost, RecordingObserver, poolConfig } from '../helpers/fake-host.js';

function setup(overrides: Partial<PoolConfig> = {}) {
  const host = new FakeHost();
  const obs = new RecordingObserver();
  const config = poolConfig(overrides);
  const slot = new Slot(0, config, host, obs, (s) => ({
    command: config.command,
    cwd: config.cwd,
    env: { FCGID_WORKER: String(s.index) },
    uid: null,
    gid: null,
    umask: null,
    socketFd: 7,
    targetFd: config.socket_fd,
  }));
  const up = (): void => {
    slot.want = 'up';
    slot.handle({ type: 'start' });
  };
  const down = (): void => {
    slot.want = 'down';
    slot.handle({ type: 'stop' });
  };
  /** The current worker dies `afterMs` after it started, with status `code`. */
  const dieEarly = (afterMs = 50, code = 1): void => {
    host.advance(afterMs);
    host.exit(slot.pid!, code);
  };
  return { host, obs, config, slot, up, down, dieEarly };
}

type Setup = ReturnType<typeof setup>;

/** Put a fresh slot into `state` the way a real run would get there. */
function drive(t: Setup, state: SlotState): void {
  const { host, slot, config, up, down, dieEarly } = t;
  switch (state) {
    case 'exited':
      break;
    case 'starting':
      up();
      break;
    case 'running':
      up();
      host.advance(config.start_secs);
      break;
    case 'backoff':
      up();
      dieEarly();
      break;
    case 'stopping':
      up();
      host.advance(config.start_secs);
      down();
      break;
    case 'fatal':
      up();
      for (let i = 0; i < config.start_retries; i++) {
        dieEarly();
        if (slot.state === 'backoff') host.runNext();
      }
      break;
  }
  expect(slot.state).toBe(state);
}

type Plain = Exclude<SlotEventType, ExitKind>;
const PLAIN = SLOT_EVENTS.filter((e): e is Plain => !(EXIT_KINDS as readonly string[]).includes(e));

const EVENT: Record<Plain, SlotEvent> = { ...EVENTS, hung: { type: 'hung', detail: 'stuck' } };

/** The handled pairs and the state each leads to; every other pair is a no-op. */
const HANDLED: Record<SlotState, Partial<Record<SlotEventType, SlotState>>> = {
  exited: { start: 'starting', reset: 'exited' },
  starting: {
    stop: 'stopping',
    hung: 'stopping',
    reset: 'starting',
    started: 'running',
    nosocket: 'backoff',
    'exit-down': 'exited',
    'exit-replace': 'starting',
    'exit-restart': 'starting',
    'exit-done': 'exited',
    'exit-early': 'backoff',
    'exit-fatal': 'fatal',
    'exit-killed': 'backoff',
  },
  running: { stop: 'stopping', hung: 'stopping', recycle: 'running', reset: 'running', 'exit-down': 'exited', 'exit-replace': 'starting', 'exit-restart': 'starting', 'exit-done': 'exited' },
  backoff: { stop: 'exited', retry: 'starting', reset: 'backoff' },
  stopping: { kill: 'stopping', drain: 'stopping', reset: 'stopping', 'exit-down': 'exited', 'exit-replace': 'starting' },
  fatal: { stop: 'fatal', reset: 'exited', retry: 'starting' },
};

/** Handled events that leave nothing to see but a flag (the next exit's reason, the restart policy's verdict). */
const QUIET = new Set(['exited.reset', 'starting.reset', 'running.reset', 'running.recycle', 'backoff.reset', 'stopping.reset']);

describe('TABLE', () => {
  it('has an entry for every state and every event', () => {
    expect(Object.keys(TABLE).sort()).toEqual([...SLOT_STATES].sort());
    for (const s of SLOT_STATES) expect(Object.keys(TABLE[s]).sort()).toEqual([...SLOT_EVENTS].sort());
  });

  it('each cell lands where HANDLED says, and every other pair is IGNORE', () => {
    for (const state of SLOT_STATES) {
      for (const event of SLOT_EVENTS) {
        const entry = TABLE[state][event];
        const cells = entry === IGNORE ? [] : Array.isArray(entry) ? entry : [entry];
        const expected = HANDLED[state][event];
        if (expected === undefined) expect(entry, `${state}.${event}`).toBe(IGNORE);
        // The last alternative is the general case; earlier ones are guarded exceptions.
        else expect(cells.at(-1)!.to, `${state}.${event}`).toBe(expected);
      }
    }
  });

  const pairs = SLOT_STATES.flatMap((s) => PLAIN.map((e) => [s, e] as const));

  it.each(pairs)('%s + %s', (state, event) => {
    const t = setup();
    drive(t, state);
    const { host, obs, slot } = t;
    if (event === 'start') slot.want = 'up';
    if (event === 'stop') slot.want = 'down';
    // Everything an event could change, to compare before and after.
    const snapshot = () => ({
      pid: slot.pid,
      spawns: host.spawnCount,
      kills: host.kills.length,
      timers: host.pendingTimers,
      changes: obs.changes.length,
      logs: obs.logs.length,
      restarts: slot.restarts,
      failures: slot.failures,
    });
    const before = snapshot();
    slot.handle(EVENT[event]);
    const expected = HANDLED[state][event];

    if (expected === undefined || QUIET.has(`${state}.${event}`)) {
      // An unhandled event changes nothing at all.
      expect(slot.state).toBe(expected ?? state);
      expect(snapshot()).toEqual(before);
      return;
    }

    expect(slot.state).toBe(expected);
    if (expected !== state) expect(obs.changes.at(-1)).toEqual({ slot: 0, from: state, to: expected });
    switch (`${state}.${event}`) {
      case 'exited.start':
      case 'backoff.retry':
        expect(host.spawnCount).toBe(before.spawns + 1);
        expect(slot.pid).toBe(host.children.at(-1)!.pid);
        expect(slot.pid).not.toBe(before.pid);
        break;
      case 'starting.stop':
      case 'running.stop':
        expect(host.kills.slice(before.kills)).toEqual([{ pid: before.pid, signal: 'SIGTERM' }]);
        break;
      case 'stopping.drain':
        // The fake /proc cannot tell what the worker holds: the drain falls back to stop_signal.
        expect(host.kills.slice(before.kills)).toEqual([{ pid: before.pid, signal: 'SIGTERM' }]);
        break;
      case 'starting.hung':
      case 'running.hung':
        expect(host.kills.slice(before.kills)).toEqual([{ pid: before.pid, signal: 'SIGTERM' }]);
        expect(obs.logs.at(-1)).toMatchObject({ level: 'warn', fields: { reason: 'hung', pid: before.pid } });
        expect(obs.logs.at(-1)!.message).toMatch(/is hung: stuck; stopping it with SIGTERM/);
        break;
      case 'starting.started':
        expect(slot.pid).toBe(before.pid);
        expect(slot.failures).toBe(0);
        expect(host.pendingTimers).toBe(before.timers - 1); // start_secs
        break;
      case 'starting.nosocket':
        expect(host.pendingTimers).toBe(before.timers + 1); // the look again in SOCKET_WAIT_MS
        expect(slot.failures).toBe(0);
        break;
      case 'backoff.stop':
        expect(host.pendingTimers).toBe(before.timers - 1); // the retry timer
        break;
      case 'stopping.kill':
        expect(host.kills.slice(before.kills)).toEqual([{ pid: before.pid, signal: 'SIGKILL' }]);
        expect(slot.pid).toBe(before.pid);
        break;
      case 'fatal.reset':
        expect(slot.failures).toBe(0);
        expect(host.pendingTimers).toBe(before.timers - 1); // the fatal_retry timer
        break;
      case 'fatal.stop':
        expect(host.pendingTimers).toBe(before.timers - 1); // no retry while wanted down
        expect(slot.retryAt).toBeNull();
        break;
      case 'fatal.retry':
        expect(host.spawnCount).toBe(before.spawns + 1);
        expect(slot.failures).toBe(0);
        break;
      default:
        throw new Error(`no assertions for ${state}.${event}`);
    }
  });

  /** Each exit cell, reached the way it is in a real run: the exit is classified, then looked up. */
  const exits: Array<[SlotState, ExitKind, (t: Setup) => void]> = [
    ['starting', 'exit-down', (t) => (t.slot.want = 'down')],
    ['starting', 'exit-restart', (t) => t.host.advance(RECYCLE_FLOOR_MS)], // a clean exit after the floor: a recycle
    ['starting', 'exit-done', (t) => t.host.advance(RECYCLE_FLOOR_MS)],
    ['starting', 'exit-early', () => {}],
    ['starting', 'exit-fatal', () => {}],
    ['starting', 'exit-killed', () => {}],
    ['running', 'exit-down', (t) => (t.slot.want = 'down')],
    ['running', 'exit-restart', () => {}],
    ['running', 'exit-done', () => {}],
    ['stopping', 'exit-down', () => {}],
    ['stopping', 'exit-replace', (t) => (t.slot.want = 'up')],
  ];

  it.each(exits)('%s + %s', (state, kind, arrange) => {
    const t = setup({ restart: kind === 'exit-done' ? 'never' : 'always', start_retries: kind === 'exit-fatal' ? 1 : 5 });
    drive(t, state);
    arrange(t);
    const code = kind === 'exit-early' || kind === 'exit-fatal' ? 1 : 0;
    if (kind === 'exit-killed') t.host.exit(t.slot.pid!, null, 'SIGKILL');
    else t.host.exit(t.slot.pid!, code);
    // A worker that recycled itself cleanly proves the program: its successor counts as started at once.
    const proven = code === 0 && kind === 'exit-restart';
    expect(t.slot.state).toBe(proven ? 'running' : HANDLED[state][kind]);
    expect(t.slot.pid === null).toBe(!['exit-restart', 'exit-replace'].includes(kind));
  });
});

describe('classifyExit', () => {
  const facts = { want: 'up', byFcgid: false, killedEarly: false, failed: false, failures: 0, retries: 5, restart: 'always', clean: true } as const;
  it.each([
    [{ want: 'down' }, 'exit-down'],
    [{ want: 'down', byFcgid: true, failed: true }, 'exit-down'],
    [{ byFcgid: true }, 'exit-replace'],
    [{ killedEarly: true, failed: false }, 'exit-killed'],
    [{ want: 'down', killedEarly: true }, 'exit-down'],
    [{ failed: true, failures: 4 }, 'exit-early'],
    [{ failed: true, failures: 5 }, 'exit-fatal'],
    [{ restart: 'never' }, 'exit-done'],
    [{ restart: 'on-failure', clean: true }, 'exit-done'],
    [{ restart: 'on-failure', clean: false }, 'exit-restart'],
    [{}, 'exit-restart'],
  ] as const)('%o is %s', (over, kind) => {
    expect(classifyExit({ ...facts, ...over })).toBe(kind);
  });
});

describe('Slot', () => {
  it('start: starting, then running after start_secs', () => {
    const { host, obs, slot, up } = setup({ start_secs: 2000 });
    up();
    expect(slot.state).toBe('starting');
    expect(slot.pid).toBe(100);
    expect(host.children[0]!.spec).toMatchObject({ command: ['/usr/bin/php-cgi'], cwd: '/var/www/app', env: { FCGID_WORKER: '0' }, socketFd: 7, targetFd: 0 });
    expect(obs.spawns).toEqual([{ slot: 0, pid: 100 }]);
    host.advance(1999);
    expect(slot.state).toBe('starting');
    host.advance(1);
    expect(slot.state).toBe('running');
    expect(slot.pid).toBe(100);
    expect(slot.since).toBe(host.now());
    expect(obs.changes).toEqual([
      { slot: 0, from: 'exited', to: 'starting' },
      { slot: 0, from: 'starting', to: 'running' },
    ]);
    expect(host.spawnCount).toBe(1);
  });

  it('an early exit backs off for backoffDelay, then retries', () => {
    const { host, obs, slot, up, dieEarly } = setup();
    host.randoms = [0.1, 0.9];
    up();
    dieEarly(50, 3);
    expect(slot.state).toBe('backoff');
    expect(slot.pid).toBeNull();
    expect(slot.failures).toBe(1);
    expect(slot.lastExit).toMatchObject({ pid: 100, code: 3, signal: null, uptimeMs: 50, reason: 'exited early' });
    const first = backoffDelay(1, 0.1);
    expect(first).toBe(84);
    expect(obs.logs.at(-1)).toMatchObject({
      level: 'warn',
      message: 'worker app/0 pid 100 exited with status 3 after 50ms (exited early); restarting in 84ms (attempt 2 of 5)',
      fields: { delay_ms: 84, reason: 'exited early', code: 3 },
    });
    host.advance(first - 1);
    expect(slot.state).toBe('backoff');
    expect(host.spawnCount).toBe(1);
    host.advance(1);
    expect(slot.state).toBe('starting');
    expect(slot.pid).toBe(101);

    // The second early death waits longer (attempt 2, the next random value).
    dieEarly(10);
    const second = backoffDelay(2, 0.9);
    expect(second).toBe(232);
    expect(slot.failures).toBe(2);
    host.advance(second - 1);
    expect(host.spawnCount).toBe(2);
    host.advance(1);
    expect(host.spawnCount).toBe(3);
    expect(slot.restarts).toBe(0);
  });

  it('start_retries early deaths in a row make the slot fatal, with the last stderr lines in the log', () => {
    const { host, obs, slot, up, dieEarly } = setup({ start_retries: 3, fatal_retry: 0 });
    up();
    for (let attempt = 1; attempt <= 3; attempt++) {
      host.line(slot.pid!, 'stdout', `starting attempt ${attempt}`);
      host.line(slot.pid!, 'stderr', 'Traceback (most recent call last):');
      host.line(slot.pid!, 'stderr', `ModuleNotFoundError: No module named 'flask' (${attempt})`);
      dieEarly(200, 1);
      if (attempt < 3) {
        expect(slot.state).toBe('backoff');
        host.runNext(); // exactly the backoff delay: the retry must not live to start_secs
      }
    }
    expect(slot.state).toBe('fatal');
    expect(slot.failures).toBe(3);
    const fatal = obs.logs.at(-1)!;
    expect(fatal.level).toBe('error');
    expect(fatal.message).toBe(
      'worker app/0 pid 102 exited with status 1 after 200ms (exited early); giving up after 3 early deaths in a row: slot is fatal. Last stderr lines:\n' +
        '  Traceback (most recent call last):\n' +
        "  ModuleNotFoundError: No module named 'flask' (1)\n" +
        '  Traceback (most recent call last):\n' +
        "  ModuleNotFoundError: No module named 'flask' (2)\n" +
        '  Traceback (most recent call last):\n' +
        "  ModuleNotFoundError: No module named 'flask' (3)",
    );
    expect(fatal.fields.stderr_tail).toHaveLength(6);
    expect(obs.lines.filter((l) => l.stream === 'stdout').map((l) => l.line)).toEqual(['starting attempt 1', 'starting attempt 2', 'starting attempt 3']);
    // With fatal_retry 0, fatal is final: no timer left, nothing respawns, start is ignored.
    expect(host.pendingTimers).toBe(0);
    host.advance(3_600_000);
    slot.handle({ type: 'start' });
    expect(slot.state).toBe('fatal');
    expect(host.spawnCount).toBe(3);
  });

  it('a fatal slot that wrote nothing on stderr says so', () => {
    const { obs, slot, up, dieEarly } = setup({ start_retries: 1, fatal_retry: 0 });
    up();
    dieEarly(5, 127);
    expect(slot.state).toBe('fatal');
    expect(obs.logs.at(-1)!.message).toBe(
      'worker app/0 pid 100 exited with status 127 after 5ms (exited early); giving up after 1 early death in a row: slot is fatal (it wrote nothing on stderr)',
    );
  });

  it('a fatal slot is tried again after 30 s, then 60 s, ... up to fatal_retry; a worker that starts resets the rounds', () => {
    const { host, obs, slot, up, dieEarly, config } = setup({ start_retries: 1, fatal_retry: 100_000 });
    up();
    dieEarly(5, 1);
    expect(slot.state).toBe('fatal');
    expect(slot.retryAt).toBe(host.now() + 30_000);
    expect(obs.logs.at(-1)!.message).toMatch(/: slot is fatal; trying again in 30\.0s \(fatal_retry 1m40s\) \(it wrote nothing on stderr\)$/);
    host.advance(29_999);
    expect(host.spawnCount).toBe(1);
    host.advance(1);
    expect(slot.state).toBe('starting');
    expect(slot.failures).toBe(0);
    dieEarly(5, 1);
    expect(slot.retryAt).toBe(host.now() + 60_000);
    host.advance(60_000);
    dieEarly(5, 1);
    // 120 s is past fatal_retry: capped.
    expect(slot.retryAt).toBe(host.now() + 100_000);
    host.advance(100_000);
    host.advance(config.start_secs);
    expect(slot.state).toBe('running');
    host.exit(slot.pid!, 1);
    dieEarly(5, 1);
    expect(slot.retryAt).toBe(host.now() + 30_000);
  });

  it('regression: under a kill storm, workers SIGKILLed from outside before start_secs went fatal (3 of 8 slots); now they are not failed starts', () => {
    const { host, obs, slot, up } = setup({ start_retries: 2, start_secs: 1000 });
    up();
    for (let i = 0; i < 20; i++) {
      host.advance(100);
      host.exit(slot.pid!, null, 'SIGKILL');
      expect(slot.state).toBe('backoff');
      expect(slot.failures).toBe(0);
      host.runNext();
      expect(slot.state).toBe('starting');
    }
    expect(obs.logs.at(-1)!.message).toMatch(/was killed by SIGKILL after 100ms \(crashed\), from outside fcgid: not a failed start; restarting in \d\.\ds$/);
    // The pause grew with the kills in a row (an OOM kill at every start must not spin), up to its cap.
    expect(obs.logs.at(-1)!.fields.delay_ms).toBe(KILLED_PAUSE_MAX_MS);
    // A crash of its own (SIGSEGV) still counts.
    host.advance(100);
    host.exit(slot.pid!, null, 'SIGSEGV');
    expect(slot.failures).toBe(1);
  });

  it('the stderr tail keeps only the last TAIL_LINES lines', () => {
    const { host, slot, up } = setup();
    up();
    for (let i = 0; i < 50; i++) host.line(slot.pid!, 'stderr', `line ${i}`);
    const tail = slot.tail.toArray();
    expect(tail).toHaveLength(20);
    expect(tail[0]).toBe('line 30');
    expect(tail.at(-1)).toBe('line 49');
  });

  it('reaching running clears the early-death count', () => {
    const { host, slot, up, dieEarly, config } = setup({ start_retries: 5 });
    up();
    for (let i = 0; i < 4; i++) {
      dieEarly();
      host.runNext();
    }
    expect(slot.failures).toBe(4);
    host.advance(config.start_secs);
    expect(slot.state).toBe('running');
    expect(slot.failures).toBe(0);
    host.exit(slot.pid!, 1); // a late crash: respawned at once
    for (let i = 0; i < 4; i++) {
      dieEarly();
      expect(slot.state).toBe('backoff');
      host.runNext();
    }
    expect(slot.state).toBe('starting');
    expect(slot.failures).toBe(4);
  });

  it('a late exit with restart always respawns at once, without a timer', () => {
    const { host, obs, slot, up } = setup({ start_secs: 1000 });
    up();
    host.advance(6000);
    expect(slot.state).toBe('running');
    expect(host.pendingTimers).toBe(0);
    host.exit(100, 0);
    // A clean exit of its own accord proves the program: the next worker counts as started at once.
    expect(slot.state).toBe('running');
    expect(slot.pid).toBe(101);
    expect(slot.restarts).toBe(1);
    expect(slot.failures).toBe(0);
    expect(host.pendingTimers).toBe(0);
    expect(slot.lastExit).toMatchObject({ pid: 100, code: 0, uptimeMs: 6000, reason: 'exited' });
    expect(obs.logs.at(-1)).toMatchObject({
      level: 'info',
      message: 'worker app/0 pid 100 exited with status 0 after 6.0s (exited); restarting now',
    });

    host.advance(1000);
    host.exit(101, null, 'SIGSEGV');
    expect(slot.pid).toBe(102);
    expect(slot.restarts).toBe(2);
    expect(obs.logs.at(-1)).toMatchObject({
      level: 'warn',
      message: 'worker app/0 pid 101 was killed by SIGSEGV after 1.0s (crashed); restarting now',
    });
  });

  it('restart never: a late exit, clean or not, stays exited', () => {
    for (const [code, signal] of [
      [0, null],
      [1, null],
      [null, 'SIGSEGV'],
    ] as const) {
      const { host, obs, slot, up } = setup({ restart: 'never' });
      up();
      host.advance(5000);
      host.exit(100, code, signal);
      expect(slot.state).toBe('exited');
      expect(slot.pid).toBeNull();
      expect(host.spawnCount).toBe(1);
      expect(host.pendingTimers).toBe(0);
      expect(obs.logs.at(-1)!.message).toMatch(/; not restarting \(restart: never\)$/);
    }
  });

  it('restart never: a later start (a reconcile) does not revive the worker; reset does', () => {
    const { host, slot, up } = setup({ restart: 'never' });
    up();
    host.advance(5000);
    host.exit(100, 0);
    slot.handle({ type: 'start' });
    expect(slot.state).toBe('exited');
    expect(host.spawnCount).toBe(1);
    slot.handle({ type: 'reset' });
    slot.handle({ type: 'start' });
    expect(slot.state).toBe('starting');
    expect(host.spawnCount).toBe(2);
  });

  it('restart on-failure: exit 0 stays exited, a crash respawns', () => {
    const clean = setup({ restart: 'on-failure' });
    clean.up();
    clean.host.advance(5000);
    clean.host.exit(100, 0);
    expect(clean.slot.state).toBe('exited');
    expect(clean.host.spawnCount).toBe(1);
    expect(clean.obs.logs.at(-1)!.message).toBe('worker app/0 pid 100 exited with status 0 after 5.0s (exited); not restarting (restart: on-failure)');

    for (const [code, signal] of [
      [2, null],
      [null, 'SIGKILL'],
    ] as const) {
      const t = setup({ restart: 'on-failure' });
      t.up();
      t.host.advance(5000);
      t.host.exit(100, code, signal);
      expect(t.slot.state).toBe('starting');
      expect(t.slot.pid).toBe(101);
      expect(t.slot.restarts).toBe(1);
      expect(t.slot.lastExit!.reason).toBe('crashed');
    }
  });

  it('stop: stop_signal to the group, SIGKILL after stop_timeout, exited once it dies', () => {
    const { host, obs, slot, up, down } = setup({ stop_signal: 'SIGQUIT', stop_timeout: 3000 });
    up();
    host.advance(1000);
    down();
    expect(slot.state).toBe('stopping');
    expect(host.kills).toEqual([{ pid: 100, signal: 'SIGQUIT' }]);
    host.advance(2999);
    expect(host.kills).toHaveLength(1);
    host.advance(1);
    expect(host.kills).toEqual([
      { pid: 100, signal: 'SIGQUIT' },
      { pid: 100, signal: 'SIGKILL' },
    ]);
    expect(slot.state).toBe('stopping');
    expect(obs.logs.at(-1)).toMatchObject({
      level: 'warn',
      message: 'worker app/0 pid 100 still alive 3.0s after SIGQUIT; sending SIGKILL to it and every process it forked',
    });
    host.exit(100, null, 'SIGKILL');
    expect(slot.state).toBe('exited');
    expect(slot.pid).toBeNull();
    expect(slot.lastExit).toMatchObject({ reason: 'stopped by fcgid', signal: 'SIGKILL', uptimeMs: 4000 });
    expect(obs.logs.at(-1)!.message).toBe('worker app/0 pid 100 was killed by SIGKILL after 4.0s (stopped by fcgid); not restarting: it is wanted down');
    expect(host.spawnCount).toBe(1);
    expect(slot.restarts).toBe(0);
  });

  it('a worker that exits before stop_timeout is never sent SIGKILL', () => {
    const { host, slot, up, down } = setup({ stop_timeout: 10_000 });
    up();
    host.advance(1000);
    down();
    host.advance(20);
    host.exit(100, 0);
    expect(slot.state).toBe('exited');
    host.advance(60_000);
    expect(host.kills).toEqual([{ pid: 100, signal: 'SIGTERM' }]);
    expect(host.pendingTimers).toBe(0);
  });

  it('stop while starting cancels start_secs: the worker never counts as running', () => {
    const { host, slot, up, down } = setup();
    up();
    down();
    expect(slot.state).toBe('stopping');
    host.advance(5000);
    expect(slot.state).toBe('stopping');
    host.exit(100, 0);
    expect(slot.state).toBe('exited');
    expect(slot.failures).toBe(0);
  });

  it('stop during backoff goes straight to exited and cancels the retry', () => {
    const { host, slot, up, down, dieEarly } = setup();
    up();
    dieEarly();
    expect(slot.state).toBe('backoff');
    down();
    expect(slot.state).toBe('exited');
    host.advance(BACKOFF_CAP_MS * 2);
    expect(slot.state).toBe('exited');
    expect(host.spawnCount).toBe(1);
    expect(host.kills).toEqual([]);
  });

  it('exit while stopping with want up (rolling replacement) respawns at once', () => {
    const { host, obs, slot, up } = setup();
    up();
    host.advance(5000);
    slot.handle({ type: 'stop' }); // a restart: the slot stays wanted up
    expect(slot.want).toBe('up');
    expect(slot.state).toBe('stopping');
    expect(host.kills).toEqual([{ pid: 100, signal: 'SIGTERM' }]);
    host.advance(100);
    host.exit(100, 0);
    expect(slot.state).toBe('starting');
    expect(slot.pid).toBe(101);
    expect(slot.restarts).toBe(1);
    expect(slot.failures).toBe(0);
    expect(slot.lastExit!.reason).toBe('stopped by fcgid');
    expect(obs.logs.at(-1)!.message).toBe('worker app/0 pid 100 exited with status 0 after 5.1s (stopped by fcgid); starting a replacement now');
    // The old stop_timeout is gone with the old worker.
    host.advance(60_000);
    expect(host.kills).toHaveLength(1);
    expect(slot.state).toBe('running');
  });

  it('a spawn failure counts as an early death', () => {
    const { host, obs, slot, up } = setup({ start_retries: 2 });
    host.failSpawns.push(new Error('spawn /usr/bin/php-cgi ENOENT'), new Error('spawn /usr/bin/php-cgi ENOENT'));
    up();
    expect(slot.state).toBe('starting');
    expect(slot.pid).toBeNull();
    expect(obs.spawns).toEqual([]);
    host.advance(0); // the failure is reported on the next tick
    expect(slot.state).toBe('backoff');
    expect(slot.failures).toBe(1);
    expect(slot.lastExit).toMatchObject({ pid: null, reason: 'spawn failed', uptimeMs: 0 });
    expect(obs.logs.at(-1)!.message).toBe(
      'worker app/0 could not start (spawn /usr/bin/php-cgi ENOENT) after 0ms (spawn failed); restarting in 100ms (attempt 2 of 2)',
    );
    host.advance(100);
    expect(host.spawnCount).toBe(2);
    host.advance(0);
    expect(slot.state).toBe('fatal');
    expect(host.kills).toEqual([]);
  });

  it('stop right after a failed spawn goes to exited without signalling anyone', () => {
    const { host, slot, up, down } = setup();
    host.failSpawns.push(new Error('spawn EACCES'));
    up();
    down();
    expect(slot.state).toBe('exited');
    host.advance(0);
    expect(slot.state).toBe('exited');
    expect(host.kills).toEqual([]);
    expect(slot.failures).toBe(0);
  });

  it('regression: the late error of a failed spawn does not kill the next worker', () => {
    // stop and start in one tick (a restart) while the failure is still on its way.
    const { host, slot, up, down } = setup();
    host.failSpawns.push(new Error('spawn EACCES'));
    up();
    down();
    up();
    expect(slot.pid).toBe(100);
    host.advance(0); // the stale error of the first spawn arrives
    expect(slot.state).toBe('starting');
    expect(slot.pid).toBe(100);
    expect(slot.failures).toBe(0);
    host.advance(1000);
    expect(slot.state).toBe('running');
  });

  it('regression: with start_secs 0 a started worker clears the early-death count', () => {
    const { host, slot, up } = setup({ start_secs: 0, start_retries: 2 });
    host.failSpawns.push(new Error('spawn EAGAIN'));
    up();
    host.advance(0);
    expect(slot.failures).toBe(1);
    host.advance(BACKOFF_CAP_MS * 2);
    expect(slot.state).toBe('running');
    expect(slot.failures).toBe(0);
    // A day later one more spawn failure is the first in a row, not the second.
    host.advance(86_400_000);
    host.failSpawns.push(new Error('spawn EAGAIN'));
    host.exit(slot.pid!, 0);
    host.advance(0);
    expect(slot.state).toBe('backoff');
  });

  it('reset clears fatal, and only fatal', () => {
    const t = setup({ start_retries: 1 });
    drive(t, 'fatal');
    t.slot.handle({ type: 'reset' });
    expect(t.slot.state).toBe('exited');
    expect(t.slot.failures).toBe(0);
    t.up();
    expect(t.slot.state).toBe('starting');
    expect(t.host.spawnCount).toBe(2);

    const r = setup();
    drive(r, 'running');
    r.slot.handle({ type: 'reset' });
    expect(r.slot.state).toBe('running');
    const b = setup();
    drive(b, 'backoff');
    b.slot.handle({ type: 'reset' });
    expect(b.slot.state).toBe('backoff');
    expect(b.slot.failures).toBe(1);
  });
});

describe('backoffDelay', () => {
  it('doubles from BACKOFF_BASE_MS with each attempt, without jitter at random 0.5', () => {
    const delays = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 0.5));
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200]);
    expect(BACKOFF_BASE_MS).toBe(100);
  });

  it('is capped at BACKOFF_CAP_MS (before jitter)', () => {
    expect(backoffDelay(9, 0.5)).toBe(25_600);
    expect(backoffDelay(10, 0.5)).toBe(BACKOFF_CAP_MS);
    expect(backoffDelay(1000, 0.5)).toBe(BACKOFF_CAP_MS);
    expect(backoffDelay(1000, 0.999999)).toBeLessThanOrEqual(BACKOFF_CAP_MS * 1.2);
  });

  it('jitters within ±20%, and the jitter depends on random', () => {
    for (let attempt = 1; attempt <= 15; attempt++) {
      const mid = backoffDelay(attempt, 0.5);
      for (const r of [0, 0.1, 0.37, 0.5, 0.8, 0.999]) {
        const d = backoffDelay(attempt, r);
        expect(d).toBeGreaterThanOrEqual(Math.floor(mid * 0.8));
        expect(d).toBeLessThanOrEqual(Math.ceil(mid * 1.2));
      }
      expect(backoffDelay(attempt, 0)).toBe(Math.round(mid * 0.8));
      expect(backoffDelay(attempt, 0)).toBeLessThan(backoffDelay(attempt, 0.999));
    }
  });
});

describe('fmtMs', () => {
  it.each([
    [0, '0ms'],
    [84, '84ms'],
    [999, '999ms'],
    [999.7, '1.0s'],
    [1000, '1.0s'],
    [5100, '5.1s'],
    [59_940, '59.9s'],
    [59_960, '1m0s'],
    [90_000, '1m30s'],
    [119_700, '2m0s'],
    [3_599_700, '1h0m'],
    [3_600_000, '1h0m'],
    [5_400_000, '1h30m'],
    [7_199_999, '2h0m'],
  ] as const)('%d ms reads %s', (ms, text) => {
    expect(fmtMs(ms)).toBe(text);
  });
});

describe('clean exits before start_secs (php-cgi recycling under load)', () => {
  it('a clean exit after RECYCLE_FLOOR_MS is a recycle: respawn at once, no failure counted, and the next worker counts as started', () => {
    const { host, slot, up } = setup({ start_secs: 1000, start_retries: 2 });
    up();
    for (let i = 0; i < 5; i++) {
      host.advance(RECYCLE_FLOOR_MS + 150);
      host.exit(slot.pid!, 0);
      expect(slot.failures).toBe(0);
      expect(slot.lastExit!.reason).toBe('exited');
    }
    expect(slot.state).toBe('running');
    expect(host.spawnCount).toBe(6);
    expect(host.pendingTimers).toBe(0);
  });

  it('exit(0) sooner than RECYCLE_FLOOR_MS (libfcgi on a non-blocking fd 0) backs off, then goes fatal', () => {
    const { host, slot, up } = setup({ start_secs: 1000, start_retries: 2 });
    up();
    host.advance(5);
    host.exit(slot.pid!, 0);
    expect(slot.state).toBe('backoff');
    expect(slot.lastExit!.reason).toBe('exited early');
    host.runNext();
    host.advance(5);
    host.exit(slot.pid!, 0);
    expect(slot.state).toBe('fatal');
  });

  it('a crash after a recycle sends the next worker through start_secs again', () => {
    const { host, slot, up } = setup({ start_secs: 1000, start_retries: 3 });
    up();
    host.advance(200);
    host.exit(slot.pid!, 0);
    expect(slot.state).toBe('running');
    host.advance(200);
    host.exit(slot.pid!, 139);
    expect(slot.lastExit!.reason).toBe('crashed');
    expect(slot.state).toBe('starting');
    host.advance(100);
    host.exit(slot.pid!, 1);
    expect(slot.state).toBe('backoff');
  });
});

describe('a stop that loses no request (stop_mode: freeze)', () => {
  /** A running worker that /proc shows holding `held` connections; then wanted down. */
  function stopping(held: number, overrides: Partial<PoolConfig> = {}) {
    const t = setup({ stop_timeout: 3000, ...overrides });
    drive(t, 'running');
    const pid = t.slot.pid!;
    t.host.held.set(pid, held);
    t.down();
    return { ...t, pid };
  }
  const signals = (t: { host: FakeHost }): string[] => t.host.kills.map((k) => k.signal);

  it('an idle worker is frozen, seen to hold nothing, and killed: no stop_signal, no wait', () => {
    const t = stopping(0);
    expect(signals(t)).toEqual(['SIGSTOP']);
    t.host.advance(1);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGKILL']);
    t.host.exit(t.pid, null, 'SIGKILL');
    expect(t.slot.state).toBe('exited');
    expect(t.slot.lastExit).toMatchObject({ reason: 'stopped by fcgid', signal: 'SIGKILL' });
    expect(t.obs.logs.at(-1)!.message).toBe('worker app/0 pid 100 was stopped holding no request (frozen, then SIGKILL) after 1.0s (stopped by fcgid); not restarting: it is wanted down');
  });

  it('a worker serving a request is resumed to finish it, then frozen again and killed', () => {
    const t = stopping(1);
    expect(signals(t)).toEqual(['SIGSTOP']); // frozen first: most workers are idle when stopped
    t.host.advance(1);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGCONT']);
    t.host.advance(50);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGCONT']); // still serving, looked at without freezing it
    t.host.held.set(t.pid, 0);
    t.host.advance(20);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGCONT', 'SIGSTOP']);
    t.host.advance(1);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGCONT', 'SIGSTOP', 'SIGKILL']);
  });

  it('one that accepted a connection just before it froze is resumed, and stopped once it holds none', () => {
    const t = stopping(0);
    t.host.held.set(t.pid, 1); // accepted between the look and SIGSTOP
    t.host.advance(1);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGCONT']);
    t.host.held.set(t.pid, 0);
    t.host.advance(20);
    t.host.advance(1);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGCONT', 'SIGSTOP', 'SIGKILL']);
  });

  it('is killed only once SIGSTOP has taken effect on it and every process it forked', () => {
    const t = stopping(0);
    t.host.stopsAtOnce = false;
    t.host.stopped.clear();
    t.host.advance(5);
    expect(signals(t).filter((s) => s === 'SIGKILL')).toEqual([]);
    expect(signals(t).every((s) => s === 'SIGSTOP')).toBe(true); // sent again while not stopped
    t.host.stopped.add(t.pid);
    t.host.advance(1);
    expect(signals(t).at(-1)).toBe('SIGKILL');
  });

  it('one that never stops holding a connection gets stop_signal after stop_timeout (resumed to handle it), then SIGKILL', () => {
    const t = stopping(1, { stop_signal: 'SIGQUIT' });
    t.host.advance(2999);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGCONT']);
    t.host.advance(20);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGCONT', 'SIGQUIT']);
    expect(t.obs.logs.at(-1)!.message).toBe('worker app/0 pid 100 still holds a connection 3.0s into its stop; sending SIGQUIT (SIGKILL after 3.0s)');
    t.host.advance(3000);
    expect(signals(t)).toEqual(['SIGSTOP', 'SIGCONT', 'SIGQUIT', 'SIGKILL']);
  });

  it('where /proc cannot tell what it holds, and with stop_mode: signal, the stop is stop_signal at once', () => {
    for (const t of [stopping(0, { stop_mode: 'signal' }), (() => { const t = setup(); drive(t, 'running'); t.down(); return t; })()]) {
      expect(signals(t)).toEqual(['SIGTERM']);
    }
  });

  it('a hung worker holds its request for good: stop_signal at once', () => {
    const t = setup();
    drive(t, 'running');
    t.host.held.set(t.slot.pid!, 1);
    t.slot.handle({ type: 'hung', detail: 'no progress' });
    expect(signals(t)).toEqual(['SIGTERM']);
  });
});
