import { describe, expect, it } from 'vitest';
import type { Reading } from '../api/types';
import { chartDomain, niceTicks, thin, timeTicks, zoneLines } from './chart';

const reading = (i: number, temperature_c: number): Reading => ({
  reading_id: `r${i}`,
  ts: new Date(Date.UTC(2026, 10, 21, 10, 0, i)).toISOString(),
  lat: 0,
  lon: 0,
  temperature_c,
  vibration_g: 0,
});

describe('chart arithmetic', () => {
  it('covers the band and every reading, with room around them', () => {
    const d = chartDomain([reading(0, 5), reading(60, 11.5)], { min_c: 2, max_c: 8 });
    expect(d.y0).toBeLessThanOrEqual(1);
    expect(d.y1).toBeGreaterThanOrEqual(12);
    expect(d.t1 - d.t0).toBe(60_000);
  });

  it('takes in an outer zone only when the readings come close to it', () => {
    const fridge = { min_c: 2, max_c: 8, hot_zone_c: 25, cold_zone_c: 0 };
    const calm = chartDomain([reading(0, 4), reading(60, 6)], fridge);
    expect(calm.y0).toBeGreaterThan(0);
    expect(calm.y1).toBeLessThan(25);
    expect(zoneLines(fridge, calm)).toEqual([]);
    const cold = chartDomain([reading(0, 4), reading(60, 1)], fridge);
    expect(cold.y0).toBeLessThan(0);
    expect(cold.y1).toBeLessThan(25);
    expect(zoneLines(fridge, cold)).toEqual([{ zone: 'cold', c: 0 }]);
    const hot = chartDomain([reading(0, 5), reading(60, 23)], fridge);
    expect(hot.y1).toBeGreaterThan(25);
    // the cold zone's 0 °C is drawn too once the padded range reaches it
    expect(zoneLines(fridge, hot)).toEqual([
      { zone: 'hot', c: 25 },
      { zone: 'cold', c: 0 },
    ]);
    const warm = chartDomain([reading(0, 5), reading(60, 12)], fridge);
    expect(warm.y1).toBeLessThan(25);
    expect(zoneLines(fridge, warm).map((z) => z.zone)).not.toContain('hot');
    // beyond a zone: both the zone and the reading are on the chart
    const frozen = chartDomain([reading(0, -12)], { min_c: -25, max_c: -15, hot_zone_c: -10 });
    expect(zoneLines({ min_c: -25, max_c: -15, hot_zone_c: -10 }, frozen)).toEqual([{ zone: 'hot', c: -10 }]);
    expect(zoneLines({ min_c: 2, max_c: 8 }, cold)).toEqual([]);
  });

  it('picks round ticks', () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(-26, -14, 6)).toEqual([-26, -24, -22, -20, -18, -16, -14]);
    const t0 = Date.UTC(2026, 10, 21, 10, 3);
    expect(timeTicks(t0, t0 + 3600_000, 6).map((t) => new Date(t).toISOString().slice(11, 16))).toEqual([
      '10:10',
      '10:20',
      '10:30',
      '10:40',
      '10:50',
      '11:00',
    ]);
  });

  it('thins a long series but keeps the spikes', () => {
    const readings = Array.from({ length: 10_000 }, (_, i) => reading(i, i === 4321 ? 15 : 5 + Math.sin(i / 50)));
    const out = thin(readings, 200);
    expect(out.length).toBeLessThanOrEqual(400);
    expect(out.some((r) => r.temperature_c === 15)).toBe(true);
    const times = out.map((r) => Date.parse(r.ts));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(thin(readings.slice(0, 50), 200)).toHaveLength(50);
  });
});
