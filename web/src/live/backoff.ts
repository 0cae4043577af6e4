// Exponential backoff with jitter for reconnecting: 1 s, 2 s, 4 s … up to 30 s,
// each scaled by a random factor in [0.5, 1) so that many dashboards that lost the
// same gateway do not all come back in the same instant.

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 1000;
  const max = options.maxMs ?? 30_000;
  const random = options.random ?? Math.random;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(ceiling * (0.5 + random() / 2));
}
