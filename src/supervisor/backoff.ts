// Delay before restarting a worker that died early: capped exponential with
// jitter, so that a crashing pool neither spins nor restarts in lockstep.

export const BACKOFF_BASE_MS = 100;
export const BACKOFF_CAP_MS = 30_000;

/** `attempt` counts from 1. `random` in [0, 1) gives ±20% jitter. */
export function backoffDelay(attempt: number, random: number): number {
  const exp = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (0.8 + 0.4 * random));
}
