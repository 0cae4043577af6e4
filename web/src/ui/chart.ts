// The arithmetic of the temperature chart, apart from drawing so it can be tested:
// scales, "nice" ticks and thinning a long series to what fits on screen.

import type { Reading } from '../api/types';

export interface Domain {
  t0: number;
  t1: number;
  y0: number;
  y1: number;
}

/** The band as the chart draws it: the allowed range and the outer zones, if any. */
export interface ChartBand {
  min_c: number;
  max_c: number;
  hot_zone_c?: number;
  cold_zone_c?: number;
}

export interface ZoneLine {
  zone: 'hot' | 'cold';
  c: number;
}

/**
 * Time and temperature ranges covering the readings and the band, with some room. An outer
 * zone's limit is taken in only when it is close to that (within a quarter of the span, at
 * least 1 °C), so a far-off zone does not squash the readings into a thin strip.
 */
export function chartDomain(readings: Reading[], band: ChartBand, now = Date.now()): Domain {
  let y0 = band.min_c;
  let y1 = band.max_c;
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const r of readings) {
    if (r.temperature_c < y0) y0 = r.temperature_c;
    if (r.temperature_c > y1) y1 = r.temperature_c;
    const t = Date.parse(r.ts);
    if (t < t0) t0 = t;
    if (t > t1) t1 = t;
  }
  const near = Math.max(1, (y1 - y0) * 0.25);
  if (typeof band.hot_zone_c === 'number' && band.hot_zone_c > y1 && band.hot_zone_c - y1 <= near) y1 = band.hot_zone_c;
  if (typeof band.cold_zone_c === 'number' && band.cold_zone_c < y0 && y0 - band.cold_zone_c <= near) y0 = band.cold_zone_c;
  const pad = Math.max(1, (y1 - y0) * 0.1);
  if (!Number.isFinite(t0)) {
    t1 = now;
    t0 = now - 3600_000;
  }
  if (t1 - t0 < 60_000) t0 = t1 - 60_000;
  return { t0, t1, y0: Math.floor(y0 - pad), y1: Math.ceil(y1 + pad) };
}

/** The outer zones' limits that fall within the plotted temperature range. */
export function zoneLines(band: ChartBand, d: Domain): ZoneLine[] {
  const lines: ZoneLine[] = [];
  const inView = (c: number | undefined): c is number => typeof c === 'number' && c >= d.y0 && c <= d.y1;
  if (inView(band.hot_zone_c)) lines.push({ zone: 'hot', c: band.hot_zone_c });
  if (inView(band.cold_zone_c)) lines.push({ zone: 'cold', c: band.cold_zone_c });
  return lines;
}

/** Round tick values between lo and hi, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

/** Time ticks at round minutes/hours. */
export function timeTicks(t0: number, t1: number, count = 6): number[] {
  const span = t1 - t0;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * 60_000);
  const step = steps.find((s) => span / s <= count) ?? steps[steps.length - 1];
  const out: number[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
  return out;
}

/**
 * At most about `buckets` × 2 points: each time bucket keeps its lowest and highest
 * reading (in time order), so excursions and spikes survive the thinning.
 */
export function thin(readings: Reading[], buckets: number): Reading[] {
  if (readings.length <= buckets * 2) return readings;
  const t0 = Date.parse(readings[0].ts);
  const t1 = Date.parse(readings[readings.length - 1].ts);
  const width = Math.max(1, (t1 - t0) / buckets);
  const out: Reading[] = [];
  let bucket = -1;
  let lo: Reading | null = null;
  let hi: Reading | null = null;
  const flush = () => {
    if (!lo || !hi) return;
    if (lo === hi) out.push(lo);
    else if (Date.parse(lo.ts) <= Date.parse(hi.ts)) out.push(lo, hi);
    else out.push(hi, lo);
  };
  for (const r of readings) {
    const b = Math.min(buckets - 1, Math.floor((Date.parse(r.ts) - t0) / width));
    if (b !== bucket) {
      flush();
      bucket = b;
      lo = hi = r;
    } else {
      if (r.temperature_c < lo!.temperature_c) lo = r;
      if (r.temperature_c > hi!.temperature_c) hi = r;
    }
  }
  flush();
  return out;
}
