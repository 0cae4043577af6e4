import { useEffect, useState } from 'react';

/** Re-renders every `ms` (for "5 s ago" texts); returns the current time. */
export function useTick(ms = 5000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}
